//! Metadata of a tar member (owner, mode, mtime, xattrs) and applying it.
//!
//! Order matters and follows GNU tar / containerd: owner first (chown clears
//! setuid/setgid bits and file capabilities), then xattrs (so
//! `security.capability` survives the chown), then the mode (so setuid,
//! setgid and sticky survive), then the times. Directory times are set by the
//! caller at the very end, after their contents are written.
//!
//! Xattrs come from PAX `SCHILY.xattr.<name>` records (what GNU tar, Docker
//! and BuildKit write). Policy:
//! - `trusted.overlay.*` and `user.overlay.*` are **dropped**: in a layer they
//!   would be read by overlayfs as its own opaque/redirect/metacopy markers
//!   once the layer dir is an overlay lower. Overlay whiteouts come only from
//!   OCI whiteout entries.
//! - A value the filesystem or our privileges refuse (`EPERM`, `ENOTSUP`,
//!   e.g. `security.selinux` without SELinux, `user.*` on a symlink) is
//!   skipped and counted in `ApplyStats::xattrs_skipped`, as containerd does.
//!   Any other failure is an error.
//! - `LIBARCHIVE.xattr.*` (base64 values) is not read.

use std::io::{self, Read};
use std::os::fd::BorrowedFd;

use rustix::fs::{AtFlags, Mode, Timespec, Timestamps, XattrFlags};
use rustix::process::{Gid, Uid};

use super::root::proc_path;

const XATTR_PAX_PREFIX: &[u8] = b"SCHILY.xattr.";

/// What a member says about itself besides its name and content.
pub struct Meta {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits including setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    pub mtime: Timespec,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Meta {
    /// Reads the header and PAX records of `entry` (PAX `uid`/`gid` are
    /// already folded into the header by the tar crate; PAX `mtime` with its
    /// fraction is read here).
    pub fn read<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Meta, String> {
        let header = entry.header();
        let raw = header.as_old();
        let uid = blank_is_zero(&raw.uid, header.uid()).map_err(|e| format!("bad uid: {e}"))?;
        let gid = blank_is_zero(&raw.gid, header.gid()).map_err(|e| format!("bad gid: {e}"))?;
        let mode = blank_is_zero(&raw.mode, header.mode().map(u64::from))
            .map_err(|e| format!("bad mode: {e}"))? as u32
            & 0o7777;
        let mtime =
            blank_is_zero(&raw.mtime, header.mtime()).map_err(|e| format!("bad mtime: {e}"))?;
        let mut meta = Meta {
            uid: u32::try_from(uid).map_err(|_| format!("uid {uid} does not fit 32 bits"))?,
            gid: u32::try_from(gid).map_err(|_| format!("gid {gid} does not fit 32 bits"))?,
            mode,
            mtime: Timespec {
                tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
        };
        if let Some(records) = entry
            .pax_extensions()
            .map_err(|e| format!("bad PAX header: {e}"))?
        {
            for record in records {
                let record = record.map_err(|e| format!("bad PAX record: {e}"))?;
                let key = record.key_bytes();
                if key == b"mtime" {
                    meta.mtime = parse_pax_time(record.value_bytes())
                        .ok_or_else(|| "bad PAX mtime".to_string())?;
                } else if let Some(name) = key.strip_prefix(XATTR_PAX_PREFIX) {
                    if name.is_empty() || name.contains(&0) {
                        return Err("bad xattr name in PAX header".into());
                    }
                    meta.xattrs
                        .push((name.to_vec(), record.value_bytes().to_vec()));
                }
            }
        }
        Ok(meta)
    }

    fn owner(&self) -> (Option<Uid>, Option<Gid>) {
        (Some(Uid::from_raw(self.uid)), Some(Gid::from_raw(self.gid)))
    }
}

/// A numeric header field left blank (NULs or spaces) reads as 0, as Go's
/// `archive/tar` (Docker, containerd) reads it; PAX overrides, applied by
/// the tar crate to the parsed value, still win.
fn blank_is_zero(field: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    match parsed {
        Err(_) if field.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        other => other,
    }
}

/// Parses a PAX time `[-]SECONDS[.FRACTION]`.
pub fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nsec: i64 = 0;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nsec += i64::from(d - b'0') * 10_i64.pow(8 - i as u32);
    }
    Some(if !neg {
        Timespec {
            tv_sec: secs,
            tv_nsec: nsec,
        }
    } else if nsec == 0 {
        Timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        }
    } else {
        Timespec {
            tv_sec: -secs - 1,
            tv_nsec: 1_000_000_000 - nsec,
        }
    })
}

/// Whether an xattr from a layer must never be written (see the module doc).
fn is_forbidden_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// Whether a failure to set an xattr means "not supported here", not "broken".
fn is_unsupported(e: &rustix::io::Errno) -> bool {
    matches!(
        *e,
        rustix::io::Errno::PERM | rustix::io::Errno::NOTSUP | rustix::io::Errno::ACCESS
    )
}

/// Where metadata is applied: an open file or directory, or a name in a directory.
#[derive(Clone, Copy)]
pub enum Node<'a> {
    /// An open regular file or directory.
    Fd(BorrowedFd<'a>),
    /// A symlink, device or fifo: `name` inside the open directory `dir`.
    At {
        dir: BorrowedFd<'a>,
        name: &'a [u8],
        symlink: bool,
    },
}

/// The steps of applying metadata, each named for error messages.
pub struct MetaError {
    pub op: &'static str,
    pub source: io::Error,
}

fn err(op: &'static str) -> impl FnOnce(rustix::io::Errno) -> MetaError {
    move |e| MetaError {
        op,
        source: e.into(),
    }
}

/// Applies owner (when `chown`), xattrs, mode (not for symlinks) and times.
/// Returns how many xattrs were skipped.
pub fn apply(node: Node<'_>, meta: &Meta, chown: bool, set_times: bool) -> Result<u64, MetaError> {
    let (uid, gid) = meta.owner();
    if chown {
        match node {
            Node::Fd(fd) => rustix::fs::fchown(fd, uid, gid).map_err(err("chown"))?,
            Node::At { dir, name, .. } => {
                rustix::fs::chownat(dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(err("chown"))?
            }
        }
    }
    let mut skipped = 0;
    for (xname, value) in &meta.xattrs {
        if is_forbidden_xattr(xname) {
            skipped += 1;
            continue;
        }
        let res = match node {
            Node::Fd(fd) => rustix::fs::fsetxattr(fd, xname.as_slice(), value, XattrFlags::empty()),
            Node::At { dir, name, .. } => rustix::fs::lsetxattr(
                proc_path(dir, name),
                xname.as_slice(),
                value,
                XattrFlags::empty(),
            ),
        };
        match res {
            Ok(()) => {}
            Err(e) if is_unsupported(&e) => skipped += 1,
            Err(e) => return Err(err("setxattr")(e)),
        }
    }
    let mode = Mode::from_raw_mode(meta.mode);
    match node {
        Node::Fd(fd) => rustix::fs::fchmod(fd, mode).map_err(err("chmod"))?,
        Node::At { symlink: true, .. } => {}
        Node::At { dir, name, .. } => {
            rustix::fs::chmodat(dir, name, mode, AtFlags::empty()).map_err(err("chmod"))?
        }
    }
    if set_times {
        set_times_of(node, meta.mtime)?;
    }
    Ok(skipped)
}

/// Sets atime and mtime to `mtime` without following a final symlink.
pub fn set_times_of(node: Node<'_>, mtime: Timespec) -> Result<(), MetaError> {
    let times = Timestamps {
        last_access: mtime,
        last_modification: mtime,
    };
    match node {
        Node::Fd(fd) => rustix::fs::futimens(fd, &times).map_err(err("set times")),
        Node::At { dir, name, .. } => {
            rustix::fs::utimensat(dir, name, &times, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(err("set times"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_time_parses_fractions_and_negative_values() {
        let t = parse_pax_time(b"1700000000.123456789").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 123_456_789));
        let t = parse_pax_time(b"12.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (12, 500_000_000));
        let t = parse_pax_time(b"-1.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 500_000_000));
        let t = parse_pax_time(b"42").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (42, 0));
        assert!(parse_pax_time(b"x1").is_none());
        assert!(parse_pax_time(b"").is_none());
    }

    #[test]
    fn overlay_xattrs_from_layers_are_forbidden() {
        assert!(is_forbidden_xattr(b"trusted.overlay.opaque"));
        assert!(is_forbidden_xattr(b"user.overlay.redirect"));
        assert!(!is_forbidden_xattr(b"security.capability"));
        assert!(!is_forbidden_xattr(b"user.comment"));
    }
}
