//! Tar layers: applying them safely and producing them from diffs.

pub mod apply;
pub mod compress;
pub mod compression;
pub mod diff;
