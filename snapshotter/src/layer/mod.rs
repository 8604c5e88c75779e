//! Tar layers: applying them safely and producing them from diffs.
