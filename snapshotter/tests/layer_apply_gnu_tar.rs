//! Our applier against GNU tar: a layer made by `tar -c` from a tree with
//! every kind of entry, applied by [`apply_layer`] and extracted by
//! `tar -x --xattrs --numeric-owner -p`, must give the same tree, and the
//! same tree as the source. The same layer compressed with the `gzip` and
//! `zstd` commands goes through [`compression`] first.
//!
//! Needs root (owners, devices, trusted xattrs) and GNU tar, gzip, zstd.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::tree::{assert_trees_equal, tree_listing};
use hoist_snapshotter::layer::apply::{ApplyOptions, apply_layer};
use hoist_snapshotter::layer::compression::{self, Compression};
use rustix::fs::{AtFlags, CWD, FileType, Mode, Timespec, Timestamps, XattrFlags};
use rustix::process::{Gid, Uid};

fn chown(p: &Path, uid: u32, gid: u32) {
    rustix::fs::chownat(
        CWD,
        p,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

fn file(p: &Path, content: &[u8], mode: u32) {
    fs::write(p, content).unwrap();
    chmod(p, mode);
}

fn set_mtime(p: &Path, secs: i64) {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(CWD, p, &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

/// A tree with files, dirs, symlinks, hardlinks, a fifo, a device, special
/// mode bits, long and non-ASCII names, xattrs and non-root owners.
fn build_tree(src: &Path) {
    let long_dir = "d".repeat(120);
    let dirs = [
        ("d1", 0o750),
        ("d1/sub", 0o2755),
        ("sticky", 0o1777),
        ("café", 0o755),
        ("dev", 0o755),
        (long_dir.as_str(), 0o755),
    ];
    for (d, mode) in dirs {
        fs::create_dir_all(src.join(d)).unwrap();
        chmod(&src.join(d), mode);
    }
    file(&src.join("file1"), b"hello\n", 0o644);
    file(&src.join("empty"), b"", 0o644);
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    file(&src.join("d1/sub/data"), &big, 0o600);
    file(&src.join("setuid"), b"suid", 0o4755);
    file(&src.join("setgid"), b"sgid", 0o2711);
    file(&src.join("noperm"), b"none", 0o000);
    file(&src.join("sticky/all"), b"all", 0o777);
    file(
        &src.join("café/naïve-文件.txt"),
        "ünïcödé".as_bytes(),
        0o644,
    );
    let long_file = src.join(&long_dir).join("n".repeat(150));
    file(&long_file, b"long", 0o644);
    std::os::unix::fs::symlink("../file1", src.join("d1/rel")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", src.join("abs")).unwrap();
    std::os::unix::fs::symlink("does/not/exist", src.join("dangling")).unwrap();
    std::os::unix::fs::symlink(&long_file, src.join("long-target")).unwrap();
    fs::hard_link(src.join("file1"), src.join("d1/hard")).unwrap();
    fs::hard_link(&long_file, src.join("d1/hard-long")).unwrap();
    rustix::fs::mknodat(
        CWD,
        src.join("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    rustix::fs::mknodat(
        CWD,
        src.join("dev/null"),
        FileType::CharacterDevice,
        Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    chmod(&src.join("dev/null"), 0o666);
    rustix::fs::lsetxattr(
        src.join("file1"),
        "user.test",
        b"hello",
        XattrFlags::empty(),
    )
    .unwrap();
    rustix::fs::lsetxattr(
        src.join("d1/sub/data"),
        "trusted.hoist",
        b"1",
        XattrFlags::empty(),
    )
    .unwrap();
    chown(&src.join("file1"), 1000, 1000);
    chown(&src.join("d1"), 1001, 1002);
    chown(&src.join("d1/rel"), 1003, 1004);
    chown(&src.join("setgid"), 0, 50);
    chown(&src.join("café/naïve-文件.txt"), 65534, 65534);
    chown(&src.join("fifo"), 7, 8);
    // Owners change ctime only; chown cleared nothing we set after it.
    chmod(&src.join("setgid"), 0o2711);
    // Times last, deepest first, so directories keep theirs.
    let mut listing = tree_listing(src);
    listing.reverse();
    for (i, e) in listing.iter().enumerate() {
        set_mtime(&src.join(&e.path), 1_500_000_000 + i as i64 * 1000);
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_layer(src: &Path, out: &Path, format: &str) {
    run(Command::new("tar")
        .args([
            "--create",
            "--format",
            format,
            "--xattrs",
            "--xattrs-include=*",
            "--numeric-owner",
            "-f",
        ])
        .arg(out)
        .arg("-C")
        .arg(src)
        .arg("."));
}

fn gnu_extract(layer: &Path, dest: &Path) {
    fs::create_dir(dest).unwrap();
    run(Command::new("tar")
        .args([
            "-x",
            "--xattrs",
            "--xattrs-include=*",
            "--numeric-owner",
            "-p",
            "-f",
        ])
        .arg(layer)
        .arg("-C")
        .arg(dest));
}

fn ours(layer: impl std::io::Read, dest: &Path) {
    fs::create_dir(dest).unwrap();
    apply_layer(layer, dest, &ApplyOptions::default()).unwrap();
}

#[test]
fn gnu_tar_layer_applies_like_gnu_tar_extracts_it() {
    for format in ["gnu", "posix"] {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        fs::create_dir(&src).unwrap();
        build_tree(&src);
        let layer = t.path().join("layer.tar");
        make_layer(&src, &layer, format);
        gnu_extract(&layer, &t.path().join("gnu"));
        ours(fs::File::open(&layer).unwrap(), &t.path().join("ours"));
        assert_trees_equal(&t.path().join("ours"), &t.path().join("gnu"));
        assert_trees_equal(&t.path().join("ours"), &src);
    }
}

#[test]
fn gzip_and_zstd_layers_decompress_to_the_same_tree() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir(&src).unwrap();
    build_tree(&src);
    let layer = t.path().join("layer.tar");
    make_layer(&src, &layer, "posix");
    run(Command::new("gzip").arg("-k").arg(&layer));
    run(Command::new("zstd").arg("-q").arg("-k").arg(&layer));
    let cases = [
        (
            "layer.tar.gz",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Gzip,
        ),
        (
            "layer.tar.zst",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::Zstd,
        ),
        (
            "layer.tar",
            "application/vnd.oci.image.layer.v1.tar",
            Compression::None,
        ),
    ];
    for (blob, media_type, codec) in cases {
        let path = t.path().join(blob);
        // By media type.
        let declared = Compression::from_media_type(media_type).unwrap();
        assert_eq!(declared, codec);
        let dest = t.path().join(format!("{blob}.declared"));
        ours(
            compression::decompress(fs::File::open(&path).unwrap(), declared).unwrap(),
            &dest,
        );
        assert_trees_equal(&dest, &src);
        // By magic bytes.
        let (found, reader) = compression::open_layer(fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(found, codec, "{blob}");
        let dest = t.path().join(format!("{blob}.sniffed"));
        ours(reader, &dest);
        assert_trees_equal(&dest, &src);
    }
}
