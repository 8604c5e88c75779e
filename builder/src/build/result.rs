//! What a solved vertex produces, and what the cache stores for it.
//!
//! A filesystem result is a chain of layers, bottom first. A layer is an
//! unpacked directory in overlay form under the snapshot store's `layers/`,
//! named by an id: the diff_id for layers of base images, the cache key of
//! the step for layers a build made. Base-image layers are unpacked only when
//! a step needs to mount them, so a fully cached build never unpacks (or,
//! with a resolved tag, downloads) anything.

use hoist_snapshotter::digest::Digest;
use serde::{Deserialize, Serialize};

use crate::solver::cache::CacheKey;

/// A compressed layer blob in the content store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// One layer of a filesystem result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    /// Name of its directory under the snapshot store's `layers/`.
    pub id: Digest,
    /// The uncompressed tar digest, once known (always for image layers).
    pub diff_id: Option<Digest>,
    /// Where the layer's blob is, if it came from an image (to unpack it, and
    /// to export it again without recompressing).
    pub blob: Option<BlobRef>,
}

/// The result of one vertex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VertexResult {
    pub cache_key: CacheKey,
    pub kind: ResultKind,
}

/// What kind of thing a vertex produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultKind {
    /// A filesystem: layers bottom first (empty for scratch).
    Fs(Vec<LayerRef>),
    /// A local context directory (`context` or a named one).
    Context { name: String },
}

impl VertexResult {
    /// The layers of a filesystem result (a context has none).
    pub fn layers(&self) -> &[LayerRef] {
        match &self.kind {
            ResultKind::Fs(l) => l,
            ResultKind::Context { .. } => &[],
        }
    }
}

/// The cache record of a filesystem-producing step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    pub layers: Vec<LayerRef>,
}
