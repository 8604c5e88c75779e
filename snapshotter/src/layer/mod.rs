//! Tar layers: applying them safely ([`apply`], [`compression`]) and producing
//! them from diffs ([`diff`], [`compress`]).

pub mod apply;
pub mod compress;
pub mod compression;
pub mod diff;
