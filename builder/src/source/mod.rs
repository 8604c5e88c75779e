//! Inputs of a build: base images ([`image`]), the local build context
//! ([`local`]) and files downloaded from URLs ([`http`]).

pub mod http;
pub mod image;
pub mod local;
