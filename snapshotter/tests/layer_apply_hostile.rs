//! Hostile layers: nothing outside the target may be created or changed.
//!
//! Each case of the generated corpus ([`hostile::corpus`]) is applied to
//! `root/target` beside a canary tree at `root/outside`, in both whiteout
//! modes and in overlay mode over a lower layer dir `root/lower` (which holds
//! symlinks pointing up and out, and must not change either); the listing of `root` minus `target` (paths, modes, owners,
//! contents, mtimes, xattrs, link counts) must not change, and the result must
//! be the expected clear error or confined success.

mod common;
mod hostile;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::tree::{EntryInfo, assert_listings_equal, tree_listing};
use hoist_snapshotter::layer::apply::{ApplyError, ApplyOptions, WhiteoutMode, apply_layer};
use hostile::{Expect, corpus};

struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
    target: PathBuf,
    outside: PathBuf,
}

fn sandbox() -> Sandbox {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let target = root.join("target");
    let outside = root.join("outside");
    fs::create_dir_all(target.join("lower")).unwrap();
    fs::write(target.join("lower/file"), b"lower").unwrap();
    fs::create_dir_all(outside.join("sub")).unwrap();
    fs::write(outside.join("canary"), b"canary").unwrap();
    fs::write(outside.join("sub/file"), b"sub").unwrap();
    let lower = root.join("lower");
    fs::create_dir_all(lower.join("usr")).unwrap();
    fs::write(lower.join("usr/file"), b"lower layer").unwrap();
    std::os::unix::fs::symlink("../..", lower.join("up")).unwrap();
    std::os::unix::fs::symlink(&outside, lower.join("abs")).unwrap();
    Sandbox {
        _dir: dir,
        root,
        target,
        outside,
    }
}

/// The listing of `root` without `target` and what is below it.
fn outside_listing(root: &Path) -> Vec<EntryInfo> {
    let mut listing = tree_listing(root);
    listing.retain(|e| e.path != "target" && !e.path.starts_with("target/"));
    // Link counts show a hardlink made from inside to the outside.
    for e in &mut listing {
        let nlink = fs::symlink_metadata(root.join(&e.path)).unwrap().nlink();
        e.xattrs
            .insert("test.nlink".into(), nlink.to_string().into_bytes());
    }
    listing
}

fn host_passwd() -> (u64, i64, u64) {
    let md = fs::metadata("/etc/passwd").unwrap();
    (md.nlink(), md.mtime(), md.size())
}

#[test]
fn hostile_corpus_never_touches_the_outside() {
    for (mode, with_lower) in [
        (WhiteoutMode::Remove, false),
        (WhiteoutMode::Overlay, false),
        (WhiteoutMode::Overlay, true),
    ] {
        let names = corpus(Path::new("/x")).len();
        for i in 0..names {
            let sb = sandbox();
            let opts = ApplyOptions {
                whiteouts: mode,
                lowers: if with_lower {
                    vec![sb.root.join("lower")]
                } else {
                    Vec::new()
                },
                ..ApplyOptions::default()
            };
            let case = corpus(&sb.outside).swap_remove(i);
            let before = outside_listing(&sb.root);
            let passwd = host_passwd();
            let result = apply_layer(&case.tar[..], &sb.target, &opts);
            let what = format!(
                "case {:?} in {mode:?} mode (lower: {with_lower}): {result:?}",
                case.name
            );
            assert_listings_equal(&before, &outside_listing(&sb.root), &what);
            assert_eq!(passwd, host_passwd(), "{what}");
            match (case.expect, &result) {
                (Expect::Rejected, Err(e)) | (Expect::Either, Err(e)) => {
                    assert!(!e.to_string().is_empty(), "{what}");
                }
                (Expect::Applied, Ok(_)) | (Expect::Either, Ok(_)) => {}
                _ => panic!("unexpected result for {what}"),
            }
        }
    }
}

#[test]
fn symlinked_parent_is_followed_inside_the_root() {
    let sb = sandbox();
    let abs = sb.outside.as_os_str().as_encoded_bytes();
    let tar = hostile::RawTar::new()
        .symlink(b"link", abs)
        .file(b"link/pwned", b"x")
        .symlink(b"up", b"../..")
        .file(b"up/etc/passwd", b"confined")
        .finish();
    apply_layer(&tar[..], &sb.target, &ApplyOptions::default()).unwrap();
    let inside = sb.target.join(sb.outside.strip_prefix("/").unwrap());
    assert_eq!(fs::read(inside.join("pwned")).unwrap(), b"x");
    assert_eq!(fs::read(sb.target.join("etc/passwd")).unwrap(), b"confined");
    assert!(!sb.outside.join("pwned").exists());
}

#[test]
fn dotdot_and_absolute_names_are_clamped_into_the_root() {
    let sb = sandbox();
    let tar = hostile::RawTar::new()
        .file(b"../../escaped", b"1")
        .file(b"/abs/file", b"2")
        .finish();
    apply_layer(&tar[..], &sb.target, &ApplyOptions::default()).unwrap();
    assert_eq!(fs::read(sb.target.join("escaped")).unwrap(), b"1");
    assert_eq!(fs::read(sb.target.join("abs/file")).unwrap(), b"2");
}

#[test]
fn giant_pax_header_is_rejected_as_too_large() {
    let sb = sandbox();
    let tar = hostile::RawTar::new()
        .file(b"first", b"1")
        .pax(&[("comment", &vec![b'A'; 4 << 20])])
        .file(b"f", b"x")
        .finish();
    let err = apply_layer(&tar[..], &sb.target, &ApplyOptions::default()).unwrap_err();
    match err {
        ApplyError::MetadataTooLarge { after, limit } => {
            assert_eq!(after, "first");
            assert_eq!(limit, 1 << 20);
        }
        other => panic!("expected MetadataTooLarge, got {other}"),
    }
}

#[test]
fn hardlink_outside_is_an_error_naming_the_member() {
    let sb = sandbox();
    let tar = hostile::RawTar::new()
        .hardlink(b"h", b"../outside/canary")
        .finish();
    let err = apply_layer(&tar[..], &sb.target, &ApplyOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("\"h\"") && msg.contains("hardlink"), "{msg}");
}
