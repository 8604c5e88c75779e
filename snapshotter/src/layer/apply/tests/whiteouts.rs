//! Unit tests of whiteouts and opaque directories, in both modes, and of
//! overlay stacks with lower layer dirs.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use tar::EntryType;

use super::*;

fn overlay() -> ApplyOptions {
    ApplyOptions {
        whiteouts: WhiteoutMode::Overlay,
        ..ApplyOptions::default()
    }
}

#[test]
fn whiteout_removes_lower_file() {
    let t = tempfile::tempdir().unwrap();
    apply(
        t.path(),
        Layer::new().file("a/keep", b"1").file("a/gone", b"2"),
    );
    let stats = apply(t.path(), Layer::new().whiteout("a/.wh.gone"));
    assert!(t.path().join("a/keep").exists());
    assert!(!t.path().join("a/gone").exists());
    assert!(!t.path().join("a/.wh.gone").exists());
    assert_eq!(stats.whiteouts, 1);
}

#[test]
fn whiteout_removes_lower_directory_tree() {
    let t = tempfile::tempdir().unwrap();
    apply(t.path(), Layer::new().file("d/x/y/z", b"1"));
    apply(t.path(), Layer::new().whiteout(".wh.d"));
    assert!(!t.path().join("d").exists());
}

#[test]
fn whiteout_never_removes_same_layer_file() {
    let t = tempfile::tempdir().unwrap();
    apply(t.path(), Layer::new().file("f", b"lower"));
    apply(t.path(), Layer::new().file("f", b"upper").whiteout(".wh.f"));
    assert_eq!(fs::read(t.path().join("f")).unwrap(), b"upper");
}

#[test]
fn whiteout_naming_dot_dot_is_rejected() {
    let t = tempfile::tempdir().unwrap();
    let err = apply_with(
        t.path(),
        Layer::new().whiteout("a/.wh.."),
        &ApplyOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ApplyError::Invalid { .. }), "{err}");
}

#[test]
fn opaque_dir_clears_lower_but_keeps_same_layer_entries() {
    for marker_first in [true, false] {
        let t = tempfile::tempdir().unwrap();
        apply(
            t.path(),
            Layer::new()
                .file("d/lower", b"1")
                .file("d/sub/lower", b"2")
                .file("other", b"3"),
        );
        let layer = Layer::new().dir("d", 0o755, 1_600_000_000);
        let layer = if marker_first {
            layer
                .whiteout("d/.wh..wh..opq")
                .file("d/new", b"4")
                .file("d/sub/new", b"5")
        } else {
            layer
                .file("d/new", b"4")
                .file("d/sub/new", b"5")
                .whiteout("d/.wh..wh..opq")
        };
        let stats = apply(t.path(), layer);
        assert_eq!(stats.opaque_dirs, 1);
        assert!(
            !t.path().join("d/lower").exists(),
            "marker_first={marker_first}"
        );
        assert!(
            !t.path().join("d/sub/lower").exists(),
            "marker_first={marker_first}"
        );
        assert!(t.path().join("d/new").exists());
        assert!(t.path().join("d/sub/new").exists());
        assert!(t.path().join("other").exists());
        assert!(!t.path().join("d/.wh..wh..opq").exists());
    }
}

#[test]
fn overlay_mode_emits_0_0_char_devices_and_opaque_xattr() {
    let t = tempfile::tempdir().unwrap();
    let stats = apply_with(
        t.path(),
        Layer::new()
            .dir("d", 0o755, 1)
            .whiteout("d/.wh..wh..opq")
            .file("d/new", b"1")
            .whiteout("etc/.wh.motd"),
        &overlay(),
    )
    .unwrap();
    let md = fs::symlink_metadata(t.path().join("etc/motd")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), 0);
    let mut buf = [0u8; 8];
    let n = rustix::fs::lgetxattr(t.path().join("d"), "trusted.overlay.opaque", &mut buf).unwrap();
    assert_eq!(&buf[..n], b"y");
    assert!(t.path().join("d/new").exists());
    assert!(!t.path().join("d/.wh..wh..opq").exists());
    assert_eq!((stats.whiteouts, stats.opaque_dirs), (1, 1));
}

#[test]
fn overlay_mode_whiteout_leaves_same_layer_file_alone() {
    let t = tempfile::tempdir().unwrap();
    apply_with(
        t.path(),
        Layer::new().file("f", b"mine").whiteout(".wh.f"),
        &overlay(),
    )
    .unwrap();
    assert_eq!(fs::read(t.path().join("f")).unwrap(), b"mine");
}

fn overlay_on(lowers: &[&Path]) -> ApplyOptions {
    ApplyOptions {
        whiteouts: WhiteoutMode::Overlay,
        lowers: lowers.iter().map(|p| p.to_path_buf()).collect(),
        ..ApplyOptions::default()
    }
}

#[test]
fn overlay_mode_hardlink_to_lower_file_copies_it_up() {
    let lower = tempfile::tempdir().unwrap();
    let mut h = Layer::header(EntryType::Regular, 0o4750);
    h.set_uid(33);
    h.set_gid(44);
    h.set_mtime(1_300_000_000);
    apply(
        lower.path(),
        Layer::new().with_header(h, "usr/bin/tool", b"elf"),
    );
    let upper = tempfile::tempdir().unwrap();
    let stats = apply_with(
        upper.path(),
        Layer::new().link(EntryType::Link, "usr/bin/tool-alias", "usr/bin/tool"),
        &overlay_on(&[lower.path()]),
    )
    .unwrap();
    let copied = fs::metadata(upper.path().join("usr/bin/tool")).unwrap();
    let alias = fs::metadata(upper.path().join("usr/bin/tool-alias")).unwrap();
    assert_eq!(copied.ino(), alias.ino());
    assert_eq!(fs::read(upper.path().join("usr/bin/tool")).unwrap(), b"elf");
    assert_eq!(
        (
            copied.uid(),
            copied.gid(),
            copied.mode() & 0o7777,
            copied.mtime()
        ),
        (33, 44, 0o4750, 1_300_000_000)
    );
    assert_eq!(stats.hardlinks, 1);
}

#[test]
fn overlay_mode_hardlink_to_whited_out_lower_file_fails() {
    let lower = tempfile::tempdir().unwrap();
    apply(lower.path(), Layer::new().file("f", b"1"));
    let middle = tempfile::tempdir().unwrap();
    apply_with(middle.path(), Layer::new().whiteout(".wh.f"), &overlay()).unwrap();
    let upper = tempfile::tempdir().unwrap();
    let err = apply_with(
        upper.path(),
        Layer::new().link(EntryType::Link, "g", "f"),
        &overlay_on(&[middle.path(), lower.path()]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn overlay_mode_implicit_parent_takes_lower_metadata() {
    let lower = tempfile::tempdir().unwrap();
    let mut h = Layer::header(EntryType::Directory, 0o750);
    h.set_uid(1000);
    h.set_gid(1001);
    h.set_mtime(1_200_000_000);
    apply(lower.path(), Layer::new().with_header(h, "home/user", b""));
    let upper = tempfile::tempdir().unwrap();
    apply_with(
        upper.path(),
        Layer::new().file("home/user/.profile", b"x"),
        &overlay_on(&[lower.path()]),
    )
    .unwrap();
    let md = fs::metadata(upper.path().join("home/user")).unwrap();
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o7777, md.mtime()),
        (1000, 1001, 0o750, 1_200_000_000)
    );
}

#[test]
fn whiteout_and_dir_of_the_same_name_in_one_layer_hide_the_lower_dir() {
    for mode in [WhiteoutMode::Remove, WhiteoutMode::Overlay] {
        let t = tempfile::tempdir().unwrap();
        let opts = ApplyOptions {
            whiteouts: mode,
            ..ApplyOptions::default()
        };
        apply(
            t.path(),
            Layer::new().file("a/old", b"1").file("b/old", b"1"),
        );
        let layer = Layer::new()
            .whiteout(".wh.a")
            .dir("a", 0o755, 1)
            .file("a/new", b"2")
            .dir("b", 0o755, 1)
            .file("b/new", b"2")
            .whiteout(".wh.b");
        apply_with(t.path(), layer, &opts).unwrap();
        for d in ["a", "b"] {
            assert!(t.path().join(d).join("new").exists(), "{mode:?} {d}");
            if mode == WhiteoutMode::Remove {
                assert!(!t.path().join(d).join("old").exists(), "{mode:?} {d}");
            } else {
                // The lower content is hidden by overlayfs, through the opaque xattr.
                let mut buf = [0u8; 4];
                let n = rustix::fs::lgetxattr(t.path().join(d), "trusted.overlay.opaque", &mut buf)
                    .unwrap();
                assert_eq!(&buf[..n], b"y", "{d}");
            }
        }
    }
}
