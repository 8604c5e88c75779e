//! Applying a tar layer onto a directory, safely.
//!
//! [`apply_layer`] reads an uncompressed tar stream (decompress first with
//! [`crate::layer::compression`]) and writes its members into `target`, which
//! may be empty (one dir per layer, the overlay snapshotter) or already hold
//! the lower layers (the copying snapshotter, which applies layers in order).
//!
//! Semantics (OCI image-spec `layer.md`, containerd's `archive` package):
//! - **Names** are cleaned lexically: leading `/` dropped, `..` clamped at the
//!   root (`../../x` is `x`). A member naming the root itself (`.`, `./`, `/`)
//!   is ignored, as containerd does; the root's own metadata never changes.
//! - **Parents** are resolved inside `target` with `openat2(RESOLVE_IN_ROOT)`:
//!   a symlinked parent is *followed within the root* (`a -> /etc` then
//!   `a/passwd` writes `target/etc/passwd`). Missing parents are created 0755.
//!   The last component is never followed. See `apply/root.rs`.
//! - **Replacing**: an existing entry is removed first (a directory with its
//!   whole tree), except that a directory over a directory merges and takes
//!   the new owner/mode/xattrs.
//! - **Hardlinks** name their target relative to the layer root; it may be an
//!   earlier member or lower-layer content in `target`. The target's parent is
//!   confined like any parent, its last component is not followed (a link to
//!   a symlink links the symlink). Hardlinks get no metadata of their own (the
//!   inode keeps its own), like GNU tar.
//! - **Whiteouts**, per [`WhiteoutMode`]: `.wh.NAME` and `DIR/.wh..wh..opq`
//!   affect only lower content, never members of the same layer, whatever
//!   their order. Other `.wh..wh.*` names (AUFS metadata) are skipped. A
//!   whiteout naming `.`/`..`/nothing is an error.
//! - **Metadata**: numeric uid/gid (when [`ApplyOptions::preserve_owner`]),
//!   mode with setuid/setgid/sticky after chown, `SCHILY.xattr.*` (policy in
//!   `apply/meta.rs`), mtime (PAX fractions kept; atime set to mtime); directory
//!   times are set at the end, after everything below them is written.
//! - **Devices and fifos** are created with `mknodat`; a device we are not
//!   allowed to create (`EPERM`, e.g. in a user namespace) is skipped and
//!   counted in [`ApplyStats::devices_skipped`].
//! - **Overlay stacks**: with [`ApplyOptions::lowers`], parents created
//!   implicitly copy the lower layers' metadata and hardlinks to lower files
//!   copy the file up first (see `apply/lower.rs`).
//! - **Bounds**: the metadata read before each member (PAX records, GNU long
//!   names, sparse maps) is capped by [`ApplyOptions::max_metadata_bytes`];
//!   names are capped at 4096 bytes and components at 255.
//!
//! Hand-written over `tar::Archive::entries()` because `Archive::unpack` has
//! no whiteouts, resolves hardlinks only inside its own output, and
//! canonicalizes twice per entry (see `shared/DEPENDENCIES.md`).

mod budget;
mod lower;
mod meta;
mod name;
mod root;
mod whiteout;
mod write;

#[cfg(test)]
mod tests;

use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use budget::{Budget, BudgetReader};

/// How OCI whiteout entries are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// Delete the named lower content from `target` (layers applied in
    /// sequence into one directory). Nothing whiteout-like is left behind.
    #[default]
    Remove,
    /// `target` is this layer's own (empty) directory, to be used as an
    /// overlayfs layer: `.wh.NAME` becomes a 0/0 character device `NAME`
    /// (owned like the whiteout entry), `DIR/.wh..wh..opq` sets the xattr
    /// `trusted.overlay.opaque=y` on `DIR` (creating `DIR` if needed).
    Overlay,
    /// As [`WhiteoutMode::Overlay`], but the opaque xattr is
    /// `user.overlay.opaque=y`, for overlayfs mounted with `userxattr`
    /// (rootless, inside a user namespace).
    OverlayUserXattr,
}

/// Options of [`apply_layer`].
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub whiteouts: WhiteoutMode,
    /// Set owners from the numeric uid/gid of each member (requires root or
    /// CAP_CHOWN). When false, files belong to the applying user.
    pub preserve_owner: bool,
    /// Most bytes of tar metadata (headers, PAX records, long names) allowed
    /// before one member. Default 1 MiB.
    pub max_metadata_bytes: u64,
    /// The lower layers' directories, topmost first, when `target` is one
    /// layer dir of an overlay stack (with [`WhiteoutMode::Overlay`]). Used
    /// to give parent dirs the layer does not list their lower metadata, and
    /// to copy up hardlink targets that live in a lower layer. Empty when
    /// `target` already holds the lower content (the default).
    pub lowers: Vec<PathBuf>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            whiteouts: WhiteoutMode::Remove,
            preserve_owner: true,
            max_metadata_bytes: 1024 * 1024,
            lowers: Vec::new(),
        }
    }
}

/// What [`apply_layer`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Members read (whiteouts and ignored members included).
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Character and block devices created.
    pub devices: u64,
    pub fifos: u64,
    /// `.wh.NAME` entries applied (removed lower content or made a 0/0 device).
    pub whiteouts: u64,
    /// `.wh..wh..opq` entries applied.
    pub opaque_dirs: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
    /// Devices not created because we lack the privilege.
    pub devices_skipped: u64,
    /// Xattrs not set (forbidden overlay xattrs, or refused by the filesystem).
    pub xattrs_skipped: u64,
    /// Members ignored: the root itself, AUFS metadata, PAX global headers.
    pub ignored: u64,
}

/// Why a layer could not be applied. Each names the member and the operation.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot open layer target {path}: {source}")]
    Target { path: PathBuf, source: io::Error },
    #[error("reading the layer tar stream (after {after:?}): {source}")]
    Read { after: String, source: io::Error },
    #[error("tar metadata before the member after {after:?} exceeds {limit} bytes")]
    MetadataTooLarge { after: String, limit: u64 },
    #[error("layer member {path:?}: {op} failed: {source}")]
    Entry {
        path: String,
        op: &'static str,
        source: io::Error,
    },
    #[error("layer member {path:?} is invalid: {reason}")]
    Invalid { path: String, reason: String },
}

/// Applies the uncompressed tar stream `reader` onto the directory `target`.
/// See the module doc for the exact semantics. The stream is read to its
/// end, past the end-of-archive blocks, so a digesting or verifying reader
/// sees all of it. On error, `target` holds a partial result and should be
/// discarded.
pub fn apply_layer(
    reader: impl Read,
    target: &Path,
    opts: &ApplyOptions,
) -> Result<ApplyStats, ApplyError> {
    let mut applier = write::Applier::new(target, opts)?;
    let budget = Budget::new(opts.max_metadata_bytes.saturating_add(8 * 1024));
    let stream = BudgetReader::new(BufReader::with_capacity(256 * 1024, reader), budget.clone());
    let mut archive = tar::Archive::new(stream);
    let mut last = String::from("the start");
    let mut entries = archive.entries().map_err(|source| ApplyError::Read {
        after: last.clone(),
        source,
    })?;
    loop {
        budget.arm();
        let next = entries.next();
        budget.disarm();
        let mut entry = match next {
            None => break,
            Some(Ok(entry)) => entry,
            Some(Err(_)) if budget.exceeded() => {
                return Err(ApplyError::MetadataTooLarge {
                    after: last,
                    limit: opts.max_metadata_bytes,
                });
            }
            Some(Err(source)) => {
                return Err(ApplyError::Read {
                    after: last,
                    source,
                });
            }
        };
        last = name::display(&entry.path_bytes());
        applier.apply_entry(&mut entry, &last)?;
        // Read what the handler left (data of non-file members), so the next
        // header read is metadata only.
        io::copy(&mut entry, &mut io::sink()).map_err(|source| ApplyError::Read {
            after: last.clone(),
            source,
        })?;
    }
    // Read the stream to its end: the padding after the end-of-archive
    // blocks is part of the layer, so a digest computed while reading
    // (diffID), a verifying content-store reader and a decompressor's
    // trailer check all see every byte.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|source| ApplyError::Read {
        after: format!("{last} (after the end of the archive)"),
        source,
    })?;
    applier.finish()
}
