//! `hoist du`: how much disk the data root uses, by kind.

use std::path::Path;

use crate::root::DataRoot;

/// Bytes used by each part of a data root.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiskUsage {
    /// Blobs (layers, configs, manifests).
    pub content: u64,
    /// Unpacked layers and active snapshots.
    pub snapshots: u64,
    /// `RUN --mount=type=cache` directories.
    pub cache_mounts: u64,
    /// Cache records, step history and layer memo records.
    pub cache_records: u64,
}

impl DiskUsage {
    pub fn total(&self) -> u64 {
        self.content + self.snapshots + self.cache_mounts + self.cache_records
    }
}

/// Sum of the sizes of the regular files below `dir` (hard links counted once
/// per directory walk; unreadable entries skipped).
pub fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file() && (m.nlink() == 1 || seen.insert((m.dev(), m.ino()))))
        .map(|m| m.len())
        .sum()
}

/// Measures `root`.
pub fn disk_usage(root: &DataRoot) -> DiskUsage {
    DiskUsage {
        content: dir_size(&root.content()),
        snapshots: dir_size(&root.snapshots()),
        cache_mounts: dir_size(&root.cache_mounts()),
        cache_records: dir_size(&root.cache_records())
            + dir_size(&root.step_history())
            + dir_size(&root.layer_records()),
    }
}
