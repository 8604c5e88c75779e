//! hoist's storage.
//!
//! - [`content`]: blobs addressed by digest, written atomically and verified.
//! - [`snapshot`]: layers unpacked as directories, chains mounted as overlayfs
//!   (or copied where overlayfs cannot be used); a step's upper dir is its diff.
//! - [`layer`]: applying tar layers safely and turning diffs into deterministic,
//!   compressed tar layers.

pub mod content;
pub mod layer;
pub mod snapshot;
