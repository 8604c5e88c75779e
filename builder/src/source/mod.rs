//! Inputs of a build: base images ([`image`]) and the local build context ([`local`]).

pub mod image;
pub mod local;
