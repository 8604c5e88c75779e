//! Tar layers: applying them safely and producing them from diffs.

pub mod compress;
pub mod diff;
