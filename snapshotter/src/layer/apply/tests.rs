//! Unit tests of layer application, one behaviour each, on real tar streams
//! and a real filesystem (run as root, like the builder).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use tar::{EntryType, Header};

use super::*;

mod whiteouts;

/// Builds small layer tars member by member.
pub(super) struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    pub(super) fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }

    pub(super) fn header(kind: EntryType, mode: u32) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        h
    }

    pub(super) fn file(mut self, path: &str, content: &[u8]) -> Layer {
        let mut h = Self::header(EntryType::Regular, 0o644);
        h.set_size(content.len() as u64);
        self.0.append_data(&mut h, path, content).unwrap();
        self
    }

    pub(super) fn with_header(mut self, mut h: Header, path: &str, content: &[u8]) -> Layer {
        h.set_size(content.len() as u64);
        self.0.append_data(&mut h, path, content).unwrap();
        self
    }

    pub(super) fn dir(mut self, path: &str, mode: u32, mtime: u64) -> Layer {
        let mut h = Self::header(EntryType::Directory, mode);
        h.set_mtime(mtime);
        self.0.append_data(&mut h, path, &[][..]).unwrap();
        self
    }

    pub(super) fn link(mut self, kind: EntryType, path: &str, target: &str) -> Layer {
        let mut h = Self::header(kind, 0o777);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    pub(super) fn whiteout(self, path: &str) -> Layer {
        self.file(path, b"")
    }

    pub(super) fn pax(mut self, records: &[(&str, &[u8])]) -> Layer {
        self.0
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }

    pub(super) fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

pub(super) fn apply(target: &Path, layer: Layer) -> ApplyStats {
    apply_with(target, layer, &ApplyOptions::default()).unwrap()
}

pub(super) fn apply_with(
    target: &Path,
    layer: Layer,
    opts: &ApplyOptions,
) -> Result<ApplyStats, ApplyError> {
    apply_layer(&layer.bytes()[..], target, opts)
}

#[test]
fn regular_file_gets_content_owner_mode_and_mtime() {
    let t = tempfile::tempdir().unwrap();
    let mut h = Layer::header(EntryType::Regular, 0o640);
    h.set_uid(1234);
    h.set_gid(5678);
    h.set_mtime(1_234_567_890);
    let stats = apply(
        t.path(),
        Layer::new().with_header(h, "etc/app.conf", b"key=value\n"),
    );
    let p = t.path().join("etc/app.conf");
    let md = fs::symlink_metadata(&p).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"key=value\n");
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777),
        (1234, 5678, 0o640)
    );
    assert_eq!(md.mtime(), 1_234_567_890);
    assert_eq!((stats.files, stats.bytes), (1, 10));
    // The implicit parent is a 0755 directory.
    assert_eq!(
        fs::metadata(t.path().join("etc")).unwrap().mode() & 0o7777,
        0o755
    );
}

#[test]
fn hardlink_to_lower_layer_file_shares_its_inode() {
    let t = tempfile::tempdir().unwrap();
    apply(t.path(), Layer::new().file("usr/bin/python3.11", b"elf"));
    let stats = apply(
        t.path(),
        Layer::new().link(EntryType::Link, "usr/bin/python3", "usr/bin/python3.11"),
    );
    let a = fs::metadata(t.path().join("usr/bin/python3")).unwrap();
    let b = fs::metadata(t.path().join("usr/bin/python3.11")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_eq!(stats.hardlinks, 1);
}

#[test]
fn hardlink_to_earlier_member_of_the_same_layer() {
    let t = tempfile::tempdir().unwrap();
    apply(
        t.path(),
        Layer::new()
            .file("a", b"x")
            .link(EntryType::Link, "b", "./a"),
    );
    assert_eq!(fs::metadata(t.path().join("a")).unwrap().nlink(), 2);
}

#[test]
fn symlink_target_is_kept_verbatim() {
    let t = tempfile::tempdir().unwrap();
    let mut h = Layer::header(EntryType::Symlink, 0o777);
    h.set_mtime(1_500_000_000);
    let mut l = Layer::new();
    l.0.append_link(&mut h, "lib", "/usr/lib/../lib64").unwrap();
    let stats = apply(t.path(), l.link(EntryType::Symlink, "rel", "../x/y"));
    assert_eq!(
        fs::read_link(t.path().join("lib")).unwrap(),
        Path::new("/usr/lib/../lib64")
    );
    assert_eq!(
        fs::read_link(t.path().join("rel")).unwrap(),
        Path::new("../x/y")
    );
    assert_eq!(
        fs::symlink_metadata(t.path().join("lib")).unwrap().mtime(),
        1_500_000_000
    );
    assert_eq!(stats.symlinks, 2);
}

#[test]
fn file_replaces_dir_tree() {
    let t = tempfile::tempdir().unwrap();
    apply(t.path(), Layer::new().file("x/deep/file", b"1"));
    apply(t.path(), Layer::new().file("x", b"now a file"));
    assert_eq!(fs::read(t.path().join("x")).unwrap(), b"now a file");
}

#[test]
fn dir_replaces_file_and_symlink() {
    let t = tempfile::tempdir().unwrap();
    apply(
        t.path(),
        Layer::new()
            .file("a", b"1")
            .link(EntryType::Symlink, "b", "/tmp"),
    );
    apply(t.path(), Layer::new().dir("a", 0o755, 1).dir("b", 0o755, 1));
    assert!(fs::symlink_metadata(t.path().join("a")).unwrap().is_dir());
    assert!(fs::symlink_metadata(t.path().join("b")).unwrap().is_dir());
}

#[test]
fn dir_over_dir_merges_and_takes_the_later_mode() {
    let t = tempfile::tempdir().unwrap();
    apply(
        t.path(),
        Layer::new().dir("d", 0o755, 1).file("d/lower", b"1"),
    );
    apply(
        t.path(),
        Layer::new().dir("d", 0o1777, 1).file("d/upper", b"2"),
    );
    assert!(t.path().join("d/lower").exists() && t.path().join("d/upper").exists());
    assert_eq!(
        fs::metadata(t.path().join("d")).unwrap().mode() & 0o7777,
        0o1777
    );
}

#[test]
fn dir_mtime_is_restored_after_its_children_are_written() {
    let t = tempfile::tempdir().unwrap();
    apply(
        t.path(),
        Layer::new()
            .dir("d", 0o755, 1_000_000_000)
            .dir("d/e", 0o755, 1_100_000_000)
            .file("d/e/f", b"1")
            .file("d/g", b"2"),
    );
    assert_eq!(
        fs::metadata(t.path().join("d")).unwrap().mtime(),
        1_000_000_000
    );
    assert_eq!(
        fs::metadata(t.path().join("d/e")).unwrap().mtime(),
        1_100_000_000
    );
}

#[test]
fn setuid_and_setgid_bits_survive_the_chown() {
    let t = tempfile::tempdir().unwrap();
    let mut h = Layer::header(EntryType::Regular, 0o6755);
    h.set_uid(1000);
    h.set_gid(1000);
    apply(t.path(), Layer::new().with_header(h, "bin/su", b"elf"));
    let md = fs::metadata(t.path().join("bin/su")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o6755);
    assert_eq!(md.uid(), 1000);
}

#[test]
fn pax_xattrs_are_set_and_overlay_xattrs_dropped() {
    let t = tempfile::tempdir().unwrap();
    let layer = Layer::new()
        .pax(&[
            ("SCHILY.xattr.user.comment", b"hello"),
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ])
        .file("f", b"1");
    let stats = apply(t.path(), layer);
    let fd = rustix::fs::open(
        t.path().join("f"),
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let n = rustix::fs::fgetxattr(&fd, "user.comment", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert!(rustix::fs::fgetxattr(&fd, "trusted.overlay.opaque", &mut buf).is_err());
    assert_eq!(stats.xattrs_skipped, 1);
}

#[test]
fn pax_mtime_keeps_nanoseconds() {
    let t = tempfile::tempdir().unwrap();
    apply(
        t.path(),
        Layer::new()
            .pax(&[("mtime", b"1700000000.25")])
            .file("f", b"1"),
    );
    let md = fs::metadata(t.path().join("f")).unwrap();
    assert_eq!((md.mtime(), md.mtime_nsec()), (1_700_000_000, 250_000_000));
}

#[test]
fn devices_and_fifos_are_created() {
    let t = tempfile::tempdir().unwrap();
    let mut h = Layer::header(EntryType::Char, 0o666);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    let stats = apply(
        t.path(),
        Layer::new().with_header(h, "dev/null", b"").with_header(
            Layer::header(EntryType::Fifo, 0o600),
            "run/fifo",
            b"",
        ),
    );
    let md = fs::symlink_metadata(t.path().join("dev/null")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), rustix::fs::makedev(1, 3));
    assert!(
        fs::symlink_metadata(t.path().join("run/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        (stats.devices, stats.fifos, stats.devices_skipped),
        (1, 1, 0)
    );
}

#[test]
fn root_entry_is_ignored_and_root_metadata_kept() {
    let t = tempfile::tempdir().unwrap();
    fs::set_permissions(t.path(), fs::Permissions::from_mode(0o711)).unwrap();
    let stats = apply(t.path(), Layer::new().dir("./", 0o777, 5).file("a", b"1"));
    assert_eq!(fs::metadata(t.path()).unwrap().mode() & 0o7777, 0o711);
    assert_eq!(stats.ignored, 1);
}

#[test]
fn missing_hardlink_target_error_names_the_member() {
    let t = tempfile::tempdir().unwrap();
    let err = apply_with(
        t.path(),
        Layer::new().link(EntryType::Link, "a/b", "nowhere"),
        &ApplyOptions::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("\"a/b\"") && msg.contains("nowhere"), "{msg}");
}

#[test]
fn truncated_stream_is_a_read_error() {
    let t = tempfile::tempdir().unwrap();
    let bytes = Layer::new().file("a", &[7u8; 4000]).bytes();
    let err = apply_layer(&bytes[..1500], t.path(), &ApplyOptions::default()).unwrap_err();
    assert!(matches!(err, ApplyError::Read { .. }), "{err}");
}

#[test]
fn member_below_a_file_is_an_error_naming_path_and_operation() {
    let t = tempfile::tempdir().unwrap();
    let err = apply_with(
        t.path(),
        Layer::new().file("a", b"1").file("a/b", b"2"),
        &ApplyOptions::default(),
    )
    .unwrap_err();
    match &err {
        ApplyError::Entry { path, op, .. } => {
            assert_eq!((path.as_str(), *op), ("a/b", "resolve parent directory"))
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn many_members_reuse_cached_parents_and_all_land() {
    let t = tempfile::tempdir().unwrap();
    let mut layer = Layer::new();
    for i in 0..2000 {
        layer = layer.file(&format!("d{}/e{}/f{i}", i % 10, i % 3), b"x");
    }
    let stats = apply(t.path(), layer);
    assert_eq!(stats.files, 2000);
    assert!(t.path().join("d9/e1/f1999").exists());
    assert!(t.path().join("d0/e0/f0").exists());
}

#[test]
fn file_capability_xattr_survives_the_chown() {
    // VFS_CAP_REVISION_2 with the effective flag; permitted = CAP_NET_RAW (13).
    let mut cap = Vec::new();
    cap.extend_from_slice(&0x0200_0001u32.to_le_bytes());
    cap.extend_from_slice(&(1u32 << 13).to_le_bytes());
    cap.extend_from_slice(&[0u8; 12]);
    let mut h = Layer::header(EntryType::Regular, 0o755);
    h.set_uid(1000);
    h.set_gid(1000);
    let t = tempfile::tempdir().unwrap();
    let layer = Layer::new()
        .pax(&[("SCHILY.xattr.security.capability", &cap)])
        .with_header(h, "bin/ping", b"elf");
    let stats = apply(t.path(), layer);
    assert_eq!(stats.xattrs_skipped, 0);
    let mut buf = [0u8; 64];
    let n =
        rustix::fs::lgetxattr(t.path().join("bin/ping"), "security.capability", &mut buf).unwrap();
    assert_eq!(&buf[..n], &cap[..]);
    assert_eq!(fs::metadata(t.path().join("bin/ping")).unwrap().uid(), 1000);
}

/// Reads like its inner reader, then fails at the end, as a content-store
/// reader does when the digest does not match.
struct FailsAtEnd<'a>(&'a [u8]);

impl std::io::Read for FailsAtEnd<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 if !buf.is_empty() => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "digest mismatch",
            )),
            n => Ok(n),
        }
    }
}

#[test]
fn stream_is_read_to_its_end_so_verification_errors_surface() {
    let mut bytes = Layer::new().file("a", b"1").bytes();
    bytes.extend_from_slice(&[0u8; 8192]); // record padding, as GNU tar writes
    let t = tempfile::tempdir().unwrap();
    let err = apply_layer(FailsAtEnd(&bytes), t.path(), &ApplyOptions::default()).unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    let mut digester = crate::digest::Digester::new();
    let mut tee = TeeToDigester(&bytes[..], &mut digester);
    apply_layer(
        &mut tee,
        tempfile::tempdir().unwrap().path(),
        &ApplyOptions::default(),
    )
    .unwrap();
    assert_eq!(digester.len(), bytes.len() as u64);
}

struct TeeToDigester<'a, 'd>(&'a [u8], &'d mut crate::digest::Digester);

impl std::io::Read for TeeToDigester<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.update(&buf[..n]);
        Ok(n)
    }
}
