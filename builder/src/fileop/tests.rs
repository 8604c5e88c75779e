//! Tests of COPY/ADD semantics on real directories (run as root: they chown).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use hoist_frontend::instructions::Chmod;

use super::*;

fn write(root: &Path, rel: &str, data: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

fn no_exclude(_: &str, _: &str, _: bool) -> bool {
    false
}

fn spec<'a>(kind: SourceKind, sources: &'a [String], dest: &'a str) -> CopySpec<'a> {
    CopySpec {
        kind,
        sources,
        dest,
        owner: None,
        chmod: None,
        exclude: &no_exclude,
        reinclude_below: None,
        parents: false,
        unpack: false,
        mtime: None,
    }
}

fn srcs(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

struct Dirs {
    _t: tempfile::TempDir,
    src: std::path::PathBuf,
    dst: std::path::PathBuf,
}

fn dirs() -> Dirs {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let dst = t.path().join("dst");
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(&dst).unwrap();
    Dirs { _t: t, src, dst }
}

#[test]
fn copy_dir_copies_contents_not_the_dir_itself() {
    let d = dirs();
    write(&d.src, "app/a.txt", "a");
    write(&d.src, "app/sub/b.txt", "b");
    let s = srcs(&["app"]);
    copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/out")).unwrap();
    assert_eq!(fs::read_to_string(d.dst.join("out/a.txt")).unwrap(), "a");
    assert_eq!(
        fs::read_to_string(d.dst.join("out/sub/b.txt")).unwrap(),
        "b"
    );
    assert!(!d.dst.join("out/app").exists());
}

#[test]
fn file_onto_existing_dir_lands_inside_and_without_slash_is_renamed() {
    let d = dirs();
    write(&d.src, "f.txt", "x");
    fs::create_dir_all(d.dst.join("existing")).unwrap();
    let s = srcs(&["f.txt"]);
    copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/existing")).unwrap();
    assert!(d.dst.join("existing/f.txt").is_file());
    copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/renamed")).unwrap();
    assert_eq!(fs::read_to_string(d.dst.join("renamed")).unwrap(), "x");
    copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/newdir/")).unwrap();
    assert!(d.dst.join("newdir/f.txt").is_file());
}

#[test]
fn wildcards_copy_each_match_and_an_empty_match_copies_nothing() {
    let d = dirs();
    write(&d.src, "a.txt", "a");
    write(&d.src, "b.txt", "b");
    write(&d.src, "c.md", "c");
    let s = srcs(&["*.txt", "nomatch*"]);
    copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/w/")).unwrap();
    let mut names: Vec<_> = fs::read_dir(d.dst.join("w"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a.txt", "b.txt"]);
}

#[test]
fn missing_source_is_an_error_naming_it() {
    let d = dirs();
    let s = srcs(&["nope.txt"]);
    let e = copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/x")).unwrap_err();
    assert_eq!(e.to_string(), "nope.txt: not found");
}

#[test]
fn context_files_become_root_owned_stage_files_keep_owner_and_chown_overrides() {
    let d = dirs();
    write(&d.src, "f", "x");
    std::os::unix::fs::chown(d.src.join("f"), Some(1234), Some(5678)).unwrap();
    let s = srcs(&["f"]);
    copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/ctx")).unwrap();
    let m = fs::metadata(d.dst.join("ctx")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0));
    copy(&d.src, &d.dst, &spec(SourceKind::Filesystem, &s, "/fs")).unwrap();
    let m = fs::metadata(d.dst.join("fs")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 5678));
    let mut sp = spec(SourceKind::Context, &s, "/own/");
    sp.owner = Some(Owner { uid: 7, gid: 8 });
    copy(&d.src, &d.dst, &sp).unwrap();
    let f = fs::metadata(d.dst.join("own/f")).unwrap();
    let dir = fs::metadata(d.dst.join("own")).unwrap();
    assert_eq!((f.uid(), f.gid(), dir.uid(), dir.gid()), (7, 8, 7, 8));
}

#[test]
fn chmod_applies_to_copied_files_and_dirs() {
    let d = dirs();
    write(&d.src, "dir/f", "x");
    fs::set_permissions(d.src.join("dir/f"), fs::Permissions::from_mode(0o600)).unwrap();
    let s = srcs(&["dir"]);
    let c = Chmod::parse("0751").unwrap();
    let mut sp = spec(SourceKind::Context, &s, "/o/");
    sp.chmod = Some(&c);
    copy(&d.src, &d.dst, &sp).unwrap();
    assert_eq!(
        fs::metadata(d.dst.join("o/f")).unwrap().mode() & 0o7777,
        0o751
    );
    let c = Chmod::parse("u+x,g+r").unwrap();
    let s = srcs(&["dir/f"]);
    let mut sp = spec(SourceKind::Context, &s, "/p");
    sp.chmod = Some(&c);
    copy(&d.src, &d.dst, &sp).unwrap();
    assert_eq!(
        fs::metadata(d.dst.join("p")).unwrap().mode() & 0o7777,
        0o740
    );
}

#[test]
fn symlinks_inside_dirs_are_copied_as_symlinks_but_a_top_level_one_is_followed() {
    let d = dirs();
    write(&d.src, "dir/target.txt", "t");
    symlink("target.txt", d.src.join("dir/link")).unwrap();
    symlink("dir/target.txt", d.src.join("top")).unwrap();
    let s = srcs(&["dir", "top"]);
    copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/o/")).unwrap();
    assert_eq!(
        fs::read_link(d.dst.join("o/link")).unwrap(),
        Path::new("target.txt")
    );
    let top = fs::symlink_metadata(d.dst.join("o/top")).unwrap();
    assert!(top.is_file());
}

#[test]
fn context_source_leaving_the_context_is_an_error() {
    let d = dirs();
    write(&d.src, "ok", "x");
    symlink("/etc", d.src.join("abs")).unwrap();
    symlink("../..", d.src.join("up")).unwrap();
    for bad in ["../x", "a/../../x", "abs/passwd", "up/etc"] {
        let s = srcs(&[bad]);
        let e = copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/o")).unwrap_err();
        assert!(
            matches!(e, FileOpError::OutsideContext { .. }),
            "{bad}: {e}"
        );
        assert!(e.to_string().contains(bad));
    }
}

#[test]
fn destination_symlinks_are_followed_inside_the_root_only() {
    let d = dirs();
    write(&d.src, "f", "x");
    fs::create_dir_all(d.dst.join("opt")).unwrap();
    symlink("/opt", d.dst.join("link")).unwrap();
    let s = srcs(&["f"]);
    copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/link/")).unwrap();
    assert!(d.dst.join("opt/f").is_file());
}

#[test]
fn hardlinks_within_a_copy_stay_hardlinks() {
    let d = dirs();
    write(&d.src, "dir/a", "x");
    fs::hard_link(d.src.join("dir/a"), d.src.join("dir/b")).unwrap();
    let s = srcs(&["dir"]);
    copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/o")).unwrap();
    let a = fs::metadata(d.dst.join("o/a")).unwrap();
    let b = fs::metadata(d.dst.join("o/b")).unwrap();
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn mtime_is_kept_or_set_to_the_epoch() {
    let d = dirs();
    write(&d.src, "f", "x");
    let ts = nix::sys::time::TimeSpec::new(1_000_000, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &d.src.join("f"),
        &ts,
        &ts,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    let s = srcs(&["f"]);
    copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/kept")).unwrap();
    assert_eq!(fs::metadata(d.dst.join("kept")).unwrap().mtime(), 1_000_000);
    let mut sp = spec(SourceKind::Context, &s, "/epoch");
    sp.mtime = Some(42);
    copy(&d.src, &d.dst, &sp).unwrap();
    assert_eq!(fs::metadata(d.dst.join("epoch")).unwrap().mtime(), 42);
}

#[test]
fn exclude_skips_matching_paths() {
    let d = dirs();
    write(&d.src, "dir/keep.txt", "k");
    write(&d.src, "dir/skip.log", "s");
    let s = srcs(&["dir"]);
    let ex = |root_rel: &str, p: &str, _: bool| {
        assert!(root_rel.starts_with("dir/"));
        p.ends_with(".log")
    };
    let mut sp = spec(SourceKind::Context, &s, "/o");
    sp.exclude = &ex;
    copy(&d.src, &d.dst, &sp).unwrap();
    assert!(d.dst.join("o/keep.txt").exists() && !d.dst.join("o/skip.log").exists());
}

#[test]
fn parents_keeps_source_directories_below_the_pivot() {
    let d = dirs();
    write(&d.src, "a/b/c.txt", "c");
    write(&d.src, "x/y/z.txt", "z");
    let s = srcs(&["a/b/c.txt", "x/./y/z.txt"]);
    let mut sp = spec(SourceKind::Context, &s, "/p/");
    sp.parents = true;
    copy(&d.src, &d.dst, &sp).unwrap();
    assert!(d.dst.join("p/a/b/c.txt").is_file());
    assert!(d.dst.join("p/y/z.txt").is_file());
}

#[test]
fn add_extracts_local_archives_and_copies_other_files() {
    let d = dirs();
    write(&d.src, "tree/inner/f.txt", "f");
    let status = std::process::Command::new("tar")
        .args(["-czf"])
        .arg(d.src.join("a.tar.gz"))
        .arg("-C")
        .arg(d.src.join("tree"))
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    write(&d.src, "plain.gz.txt", "not an archive");
    let s = srcs(&["a.tar.gz", "plain.gz.txt"]);
    let mut sp = spec(SourceKind::Context, &s, "/x/");
    sp.unpack = true;
    copy(&d.src, &d.dst, &sp).unwrap();
    assert_eq!(
        fs::read_to_string(d.dst.join("x/inner/f.txt")).unwrap(),
        "f"
    );
    assert!(d.dst.join("x/plain.gz.txt").is_file());
    assert!(!d.dst.join("x/a.tar.gz").exists());
}

#[test]
fn a_file_cannot_replace_a_directory() {
    let d = dirs();
    write(&d.src, "dir/x", "file");
    fs::create_dir_all(d.dst.join("o/x/inner")).unwrap();
    let s = srcs(&["dir"]);
    let e = copy(&d.src, &d.dst, &spec(SourceKind::Context, &s, "/o")).unwrap_err();
    assert!(matches!(e, FileOpError::ReplaceDirWithFile { .. }), "{e}");
}

#[test]
fn chown_names_take_primary_group_and_numbers_their_own_gid() {
    let d = dirs();
    write(
        &d.dst,
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
    );
    write(
        &d.dst,
        "etc/group",
        "root:x:0:\nstaff:x:50:\napps:x:1001:\n",
    );
    let o = |s| resolve_owner(&d.dst, s).unwrap();
    assert_eq!(
        o("app"),
        Owner {
            uid: 1000,
            gid: 1001
        }
    );
    assert_eq!(
        o("1000"),
        Owner {
            uid: 1000,
            gid: 1000
        }
    );
    assert_eq!(o("app:staff"), Owner { uid: 1000, gid: 50 });
    assert_eq!(o("5:6"), Owner { uid: 5, gid: 6 });
    assert!(resolve_owner(&d.dst, "ghost").is_err());
}

#[test]
fn mkdir_mkfile_and_rm_work_inside_the_root() {
    let d = dirs();
    let owner = Owner { uid: 3, gid: 4 };
    mkdir(&d.dst, "/a/b/c", 0o750, true, owner, 5).unwrap();
    let m = fs::metadata(d.dst.join("a/b/c")).unwrap();
    assert_eq!((m.mode() & 0o777, m.uid(), m.mtime()), (0o750, 3, 5));
    assert!(fs::metadata(d.dst.join("a")).unwrap().uid() == 3);
    mkfile(&d.dst, "/a/f", 0o600, b"data", owner, 5).unwrap();
    assert_eq!(fs::read(d.dst.join("a/f")).unwrap(), b"data");
    rm(&d.dst, "/a", false).unwrap();
    assert!(!d.dst.join("a").exists());
    rm(&d.dst, "/a", true).unwrap();
    assert!(rm(&d.dst, "/a", false).is_err());
}

#[test]
fn excluded_dir_is_entered_for_exceptions_and_kept_only_if_something_inside_is() {
    let d = dirs();
    write(&d.src, "keep/in.md", "k");
    write(&d.src, "keep/out.txt", "o");
    write(&d.src, "none/out.txt", "o");
    let s = srcs(&["."]);
    // Like `.dockerignore` lines `keep`, `none`, `!keep/in.md`.
    let ex = |root_rel: &str, _: &str, _: bool| root_rel != "keep/in.md";
    let may = |root_rel: &str, _: &str| root_rel == "keep" || root_rel == "none";
    let mut sp = spec(SourceKind::Context, &s, "/o/");
    sp.exclude = &ex;
    sp.reinclude_below = Some(&may);
    copy(&d.src, &d.dst, &sp).unwrap();
    assert!(d.dst.join("o/keep/in.md").exists());
    assert!(!d.dst.join("o/keep/out.txt").exists());
    assert!(
        !d.dst.join("o/none").exists(),
        "an excluded dir left empty is dropped"
    );
}
