//! hoist's storage.
//!
//! - [`digest`]: the `sha256:<hex>` digest type and a streaming digester.
//! - [`content`]: blobs addressed by digest, written atomically and verified.
//! - [`snapshot`]: layers unpacked as directories, chains mounted as overlayfs
//!   (or copied where overlayfs cannot be used); a step's upper dir is its diff.
//! - [`layer`]: applying tar layers safely and turning diffs into deterministic,
//!   compressed tar layers.

pub mod content;
pub mod digest;
pub mod layer;
pub mod snapshot;
