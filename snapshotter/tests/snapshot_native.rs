//! The copying driver: what the copy keeps, what the comparison catches, and
//! that it agrees with overlayfs on the tricky cases. Needs root.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hoist_snapshotter::digest::Digest;
use hoist_snapshotter::layer::diff::{Change, DiffOptions, DiffSource, write_tar};
use hoist_snapshotter::snapshot::{Driver, SnapshotStore};

fn store() -> (tempfile::TempDir, SnapshotStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SnapshotStore::open(dir.path().join("snapshots")).unwrap();
    (dir, s)
}

fn layer(s: &SnapshotStore, name: &str, fill: impl FnOnce(&Path)) -> PathBuf {
    s.ensure_layer(&Digest::of(name.as_bytes()), |dir| {
        fill(dir);
        Ok::<_, std::io::Error>(())
    })
    .unwrap()
}

fn changes(snap: &hoist_snapshotter::snapshot::ActiveSnapshot) -> Vec<Change> {
    match snap.diff().unwrap() {
        DiffSource::Changes { changes, .. } => changes,
        other => panic!("native snapshot gave {other:?}"),
    }
}

#[test]
fn native_copy_keeps_metadata_and_inner_hardlinks_but_shares_nothing_with_the_layer() {
    let (_d, s) = store();
    let l = layer(&s, "meta", |d| {
        fs::write(d.join("h1"), "linked").unwrap();
        fs::hard_link(d.join("h1"), d.join("h2")).unwrap();
        fs::write(d.join("tool"), "#!").unwrap();
        std::os::unix::fs::chown(d.join("tool"), Some(1000), Some(1001)).unwrap();
        fs::set_permissions(d.join("tool"), fs::Permissions::from_mode(0o4750)).unwrap();
        rustix::fs::setxattr(
            d.join("tool"),
            "user.k",
            b"v",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        std::os::unix::fs::symlink("tool", d.join("sl")).unwrap();
        fs::create_dir(d.join("sticky")).unwrap();
        fs::set_permissions(d.join("sticky"), fs::Permissions::from_mode(0o1777)).unwrap();
    });
    let snap = s.prepare(std::slice::from_ref(&l), Driver::Native).unwrap();
    let r = snap.root();
    let (c1, c2) = (
        fs::metadata(r.join("h1")).unwrap(),
        fs::metadata(r.join("h2")).unwrap(),
    );
    assert_eq!(c1.ino(), c2.ino(), "hard links inside the layer were split");
    assert_ne!(
        c1.ino(),
        fs::metadata(l.join("h1")).unwrap().ino(),
        "copy shares an inode with the layer"
    );
    let t = fs::symlink_metadata(r.join("tool")).unwrap();
    let lt = fs::symlink_metadata(l.join("tool")).unwrap();
    assert_eq!((t.mode(), t.uid(), t.gid()), (0o104750, 1000, 1001));
    assert_eq!((t.mtime(), t.mtime_nsec()), (lt.mtime(), lt.mtime_nsec()));
    let mut v = [0u8; 8];
    let n = rustix::fs::getxattr(r.join("tool"), "user.k", &mut v[..]).unwrap();
    assert_eq!(&v[..n], b"v");
    assert_eq!(fs::read_link(r.join("sl")).unwrap(), Path::new("tool"));
    assert_eq!(
        fs::metadata(r.join("sticky")).unwrap().mode() & 0o7777,
        0o1777
    );
    fs::write(r.join("h1"), "changed").unwrap();
    assert_eq!(fs::read(l.join("h1")).unwrap(), b"linked");
    assert!(changes(&snap).contains(&Change::Present("h1".into())));
}

#[test]
fn native_diff_catches_a_rewrite_that_keeps_size_and_mtime() {
    let (_d, s) = store();
    let l = layer(&s, "same-size", |d| fs::write(d.join("a"), "xxxx").unwrap());
    let snap = s.prepare(&[l], Driver::Native).unwrap();
    let a = snap.root().join("a");
    let before = fs::metadata(&a).unwrap();
    fs::write(&a, "yyyy").unwrap();
    let t = rustix::fs::Timespec {
        tv_sec: before.mtime(),
        tv_nsec: before.mtime_nsec() as _,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        &a,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
    assert_eq!(changes(&snap), [Change::Present("a".into())]);
}

#[test]
fn native_diff_of_an_untouched_snapshot_is_empty() {
    let (_d, s) = store();
    let l = layer(&s, "quiet", |d| {
        fs::create_dir_all(d.join("x/y")).unwrap();
        fs::write(d.join("x/y/z"), "z").unwrap();
    });
    let snap = s.prepare(&[l], Driver::Native).unwrap();
    assert_eq!(changes(&snap), []);
}

fn recreate_step(r: &Path) {
    fs::remove_dir_all(r.join("keep")).unwrap(); // dir deleted and made again
    fs::create_dir(r.join("keep")).unwrap();
    fs::write(r.join("keep/new"), "n").unwrap();
    fs::remove_file(r.join("a")).unwrap(); // file replaced by a dir
    fs::create_dir(r.join("a")).unwrap();
    fs::write(r.join("deep/er/leaf"), "changed").unwrap(); // deep change
    fs::remove_file(r.join("deep/gone")).unwrap();
}

#[test]
fn native_and_overlay_agree_on_recreated_dirs_and_deep_changes() {
    let (_d, s) = store();
    let l = layer(&s, "base", |d| {
        fs::write(d.join("a"), "file").unwrap();
        fs::create_dir(d.join("keep")).unwrap();
        fs::write(d.join("keep/old"), "o").unwrap();
        fs::create_dir_all(d.join("deep/er")).unwrap();
        fs::write(d.join("deep/er/leaf"), "l").unwrap();
        fs::write(d.join("deep/gone"), "g").unwrap();
        fs::write(d.join("deep/stays"), "s").unwrap();
    });
    let chain = [l];
    let overlay = s.prepare(&chain, Driver::Overlay).unwrap();
    let native = s.prepare(&chain, Driver::Native).unwrap();
    recreate_step(overlay.root());
    recreate_step(native.root());
    let opts = DiffOptions {
        source_date_epoch: Some(1_000_000),
        exclude: vec![],
    };
    let t_o = write_tar(&overlay.diff().unwrap(), &opts, Vec::new()).unwrap();
    let t_n = write_tar(&native.diff().unwrap(), &opts, Vec::new()).unwrap();
    let names = |t: &[u8]| -> Vec<String> {
        tar::Archive::new(t)
            .entries()
            .unwrap()
            .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
            .collect()
    };
    assert_eq!(
        names(&t_o),
        [
            "a/",
            "a/.wh..wh..opq",
            "deep/",
            "deep/er/",
            "deep/er/leaf",
            "deep/.wh.gone",
            "keep/",
            "keep/.wh..wh..opq",
            "keep/new"
        ]
    );
    assert_eq!(names(&t_o), names(&t_n));
    assert!(t_o == t_n, "same names, different bytes");
}
