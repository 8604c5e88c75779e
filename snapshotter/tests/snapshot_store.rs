//! The snapshot store against the real kernel: overlay mounts, the copying
//! driver, unmount on drop, cleanup after a killed process, concurrent
//! layer unpacking. Needs root (CI runs as root).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use hoist_snapshotter::digest::Digest;
use hoist_snapshotter::layer::diff::{DiffOptions, write_tar};
use hoist_snapshotter::snapshot::{Driver, SnapshotStore};

fn store() -> (tempfile::TempDir, SnapshotStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SnapshotStore::open(dir.path().join("snapshots")).unwrap();
    (dir, s)
}

fn whiteout(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
}

fn make_opaque(dir: &Path) {
    rustix::fs::setxattr(
        dir,
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
}

/// A layer unpacked into the store by `fill`, keyed by `name`'s digest.
fn layer(s: &SnapshotStore, name: &str, fill: impl FnOnce(&Path)) -> PathBuf {
    s.ensure_layer(&Digest::of(name.as_bytes()), |dir| {
        fill(dir);
        Ok::<_, std::io::Error>(())
    })
    .unwrap()
}

/// Three layers: the second deletes and overwrites, the third hides a dir.
fn three_layers(s: &SnapshotStore) -> Vec<PathBuf> {
    let l1 = layer(s, "one", |d| {
        fs::write(d.join("a"), "1").unwrap();
        fs::write(d.join("gone"), "x").unwrap();
        fs::create_dir(d.join("dir")).unwrap();
        fs::write(d.join("dir/old"), "old").unwrap();
        fs::create_dir(d.join("keep")).unwrap();
        fs::write(d.join("keep/k"), "k").unwrap();
    });
    let l2 = layer(s, "two", |d| {
        fs::write(d.join("a"), "2").unwrap();
        fs::write(d.join("b"), "b").unwrap();
        whiteout(&d.join("gone"));
    });
    let l3 = layer(s, "three", |d| {
        fs::create_dir(d.join("dir")).unwrap();
        make_opaque(&d.join("dir"));
        fs::write(d.join("dir/new"), "new").unwrap();
        std::os::unix::fs::symlink("a", d.join("link")).unwrap();
    });
    vec![l1, l2, l3]
}

/// path → (type+mode, uid, gid, content or link target) of a tree.
fn listing(root: &Path) -> BTreeMap<PathBuf, (u32, u32, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let e = e.unwrap();
        let m = e.path().symlink_metadata().unwrap();
        let content = if m.is_file() {
            fs::read(e.path()).unwrap()
        } else if m.file_type().is_symlink() {
            fs::read_link(e.path())
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else {
            Vec::new()
        };
        let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
        out.insert(rel, (m.mode(), m.uid(), m.gid(), content));
    }
    out
}

fn names(root: &Path) -> Vec<String> {
    listing(root)
        .keys()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn is_mounted(path: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(p))
}

#[test]
fn overlay_of_three_layers_shows_the_merged_view() {
    let (_d, s) = store();
    let chain = three_layers(&s);
    let snap = s.prepare(&chain, Driver::Overlay).unwrap();
    assert!(is_mounted(snap.root()));
    assert_eq!(
        names(snap.root()),
        ["a", "b", "dir", "dir/new", "keep", "keep/k", "link"]
    );
    assert_eq!(fs::read(snap.root().join("a")).unwrap(), b"2");
}

#[test]
fn overlay_writes_go_to_the_upper_dir_only() {
    let (_d, s) = store();
    let chain = three_layers(&s);
    let before: Vec<_> = chain.iter().map(|l| listing(l)).collect();
    let snap = s.prepare(&chain, Driver::Overlay).unwrap();
    fs::write(snap.root().join("a"), "changed").unwrap();
    fs::write(snap.root().join("c"), "c").unwrap();
    fs::remove_file(snap.root().join("keep/k")).unwrap();
    let after: Vec<_> = chain.iter().map(|l| listing(l)).collect();
    assert_eq!(before, after, "a lower layer was modified");
    let hoist_snapshotter::layer::diff::DiffSource::OverlayUpper(upper) = snap.diff().unwrap()
    else {
        panic!("overlay snapshot without an upper dir")
    };
    assert_eq!(fs::read(upper.join("a")).unwrap(), b"changed");
    assert!(upper.join("c").is_file());
    assert!(upper.join("keep/k").symlink_metadata().unwrap().rdev() == 0);
}

#[test]
fn chain_of_200_long_named_lowers_past_the_page_size_mounts() {
    let (_d, s) = store();
    let chain: Vec<PathBuf> = (0..200)
        .map(|i| {
            layer(&s, &format!("layer-{i}"), |d| {
                fs::write(d.join(format!("f{i}")), i.to_string()).unwrap()
            })
        })
        .collect();
    let options_len: usize = chain.iter().map(|p| p.as_os_str().len() + 1).sum();
    assert!(options_len > 4096, "chain only {options_len} bytes long");
    let snap = s.prepare(&chain, Driver::Overlay).unwrap();
    assert_eq!(fs::read_to_string(snap.root().join("f0")).unwrap(), "0");
    assert_eq!(fs::read_to_string(snap.root().join("f199")).unwrap(), "199");
    assert_eq!(fs::read_dir(snap.root()).unwrap().count(), 200);
}

#[test]
fn scratch_chain_mounts_over_an_empty_lower() {
    let (_d, s) = store();
    let snap = s.prepare(&[], Driver::Overlay).unwrap();
    assert!(names(snap.root()).is_empty());
    fs::write(snap.root().join("hello"), "hi").unwrap();
    assert_eq!(names(snap.root()), ["hello"]);
    assert!(names(&s.root().join("empty")).is_empty());
}

#[test]
fn drop_and_release_unmount_and_remove_the_snapshot() {
    let (_d, s) = store();
    let chain = three_layers(&s);
    let snap = s.prepare(&chain, Driver::Overlay).unwrap();
    let root = snap.root().to_path_buf();
    assert!(is_mounted(&root));
    drop(snap);
    assert!(!is_mounted(&root));
    assert!(!root.exists());

    let snap = s.prepare(&chain, Driver::Overlay).unwrap();
    let root = snap.root().to_path_buf();
    snap.release().unwrap();
    assert!(!is_mounted(&root));
    assert!(!root.exists());
    assert_eq!(fs::read_dir(s.root().join("active")).unwrap().count(), 0);
    // The layers are untouched.
    assert_eq!(fs::read(chain[1].join("a")).unwrap(), b"2");
}

#[test]
fn read_only_view_shows_the_chain_and_refuses_writes() {
    let (_d, s) = store();
    let chain = three_layers(&s);
    for driver in [Driver::Overlay, Driver::Native] {
        let view = s.view(&chain, driver).unwrap();
        assert_eq!(
            names(view.root()),
            ["a", "b", "dir", "dir/new", "keep", "keep/k", "link"],
            "{driver:?}"
        );
        assert!(view.is_read_only() && view.diff().is_err());
        if driver == Driver::Overlay {
            let err = fs::write(view.root().join("x"), "x").unwrap_err();
            assert_eq!(
                err.raw_os_error(),
                Some(rustix::io::Errno::ROFS.raw_os_error())
            );
        }
    }
    let one = s.view(&chain[..1], Driver::Overlay).unwrap();
    assert_eq!(
        names(one.root()),
        ["a", "dir", "dir/old", "gone", "keep", "keep/k"]
    );
}

/// The same step run on both drivers.
fn run_step(root: &Path) {
    fs::write(root.join("a"), "modified").unwrap(); // modify
    fs::write(root.join("created"), "new").unwrap(); // create
    fs::remove_file(root.join("b")).unwrap(); // delete
    fs::remove_dir_all(root.join("keep")).unwrap(); // delete a dir
    fs::remove_dir_all(root.join("dir")).unwrap(); // dir replaced by a file
    fs::write(root.join("dir"), "now a file").unwrap();
    fs::create_dir(root.join("fresh")).unwrap();
    fs::write(root.join("fresh/inner"), "i").unwrap();
    fs::hard_link(root.join("created"), root.join("created-link")).unwrap();
    fs::set_permissions(root.join("created"), fs::Permissions::from_mode(0o4755)).unwrap();
}

#[test]
fn native_driver_gives_the_same_view_and_diff_as_overlay() {
    let (_d, s) = store();
    let chain = three_layers(&s);
    let overlay = s.prepare(&chain, Driver::Overlay).unwrap();
    let native = s.prepare(&chain, Driver::Native).unwrap();
    assert_eq!(listing(overlay.root()), listing(native.root()));

    run_step(overlay.root());
    run_step(native.root());
    assert_eq!(listing(overlay.root()), listing(native.root()));

    let opts = DiffOptions {
        source_date_epoch: Some(1_000_000),
        exclude: Vec::new(),
    };
    let tar_o = write_tar(&overlay.diff().unwrap(), &opts, Vec::new()).unwrap();
    let tar_n = write_tar(&native.diff().unwrap(), &opts, Vec::new()).unwrap();
    let list = |t: &[u8]| -> Vec<String> {
        tar::Archive::new(t)
            .entries()
            .unwrap()
            .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
            .collect()
    };
    assert_eq!(list(&tar_o), list(&tar_n));
    assert_eq!(
        list(&tar_o),
        [
            "a",
            ".wh.b",
            "created",
            "created-link",
            "dir",
            "fresh/",
            "fresh/inner",
            ".wh.keep"
        ]
    );
    assert!(tar_o == tar_n, "same entries but different bytes");
}

#[test]
fn auto_driver_uses_overlay_where_it_mounts() {
    let (_d, s) = store();
    let chain = three_layers(&s);
    assert_eq!(s.effective_driver(Driver::Auto), Driver::Overlay);
    let snap = s.prepare(&chain, Driver::Auto).unwrap();
    assert!(is_mounted(snap.root()));
    assert_eq!(snap.driver(), Driver::Overlay);
    let native = s.prepare(&chain, Driver::Native).unwrap();
    assert_eq!(native.driver(), Driver::Native);
}

#[test]
fn ensure_layer_unpacks_once_under_concurrency() {
    let (_d, s) = store();
    let calls = AtomicUsize::new(0);
    let id = Digest::of(b"shared");
    let paths: Vec<PathBuf> = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    s.ensure_layer(&id, |d| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        fs::write(d.join("f"), "data")
                    })
                    .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(paths.iter().all(|p| p == &s.layer_path(&id)));
    assert_eq!(fs::read(s.layer_path(&id).join("f")).unwrap(), b"data");
}

#[test]
fn failed_unpack_leaves_no_layer_and_names_it() {
    let (_d, s) = store();
    let id = Digest::of(b"bad");
    let err = s
        .ensure_layer(&id, |d| {
            fs::write(d.join("partial"), "x")?;
            Err(std::io::Error::other("corrupt tar"))
        })
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&id.to_string()) && msg.contains("corrupt tar"),
        "{msg}"
    );
    assert!(!s.has_layer(&id));
    assert_eq!(
        fs::read_dir(s.root().join("layers/.tmp")).unwrap().count(),
        0
    );
}

#[test]
fn half_unpacked_layer_of_a_dead_process_is_removed_on_open() {
    let (d, s) = store();
    let stray = s
        .root()
        .join("layers/.tmp")
        .join(format!("{}.abc123", Digest::of(b"x").hex()));
    fs::create_dir_all(stray.join("sub")).unwrap();
    drop(s);
    let s = SnapshotStore::open(d.path().join("snapshots")).unwrap();
    assert!(!stray.exists());
    assert!(!s.has_layer(&Digest::of(b"x")));
}

const CRASH_ENV: &str = "HOIST_TEST_CRASH_STORE";

/// Run only as a child of the next test: prepares a snapshot, writes in it,
/// says where it is, and dies by SIGKILL without any cleanup.
#[test]
#[ignore = "helper process for stale_snapshots_of_a_killed_process_are_cleaned_on_open"]
fn crash_child_prepares_a_snapshot_and_is_killed() {
    let Ok(root) = std::env::var(CRASH_ENV) else {
        return;
    };
    let s = SnapshotStore::open(&root).unwrap();
    let l = layer(&s, "crash", |d| fs::write(d.join("f"), "f").unwrap());
    let snap = s.prepare(&[l], Driver::Overlay).unwrap();
    fs::write(snap.root().join("written"), "w").unwrap();
    println!("ROOT={}", snap.root().display());
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL)
        .unwrap();
}

#[test]
fn stale_snapshots_of_a_killed_process_are_cleaned_on_open() {
    /// Even if an assertion fails, do not leave the child's mount behind.
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = SnapshotStore::open(&self.0);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("snapshots");
    let _cleanup = Cleanup(root.clone());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child_prepares_a_snapshot_and_is_killed",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_ENV, &root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let merged = stdout
        .lines()
        .find_map(|l| l.split("ROOT=").nth(1))
        .unwrap_or_else(|| {
            panic!(
                "child gave no snapshot: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let merged = PathBuf::from(merged);
    assert!(!out.status.success(), "the child was supposed to be killed");
    assert!(
        is_mounted(&merged),
        "the killed child's mount should still be there"
    );

    let s = SnapshotStore::open(&root).unwrap();
    assert!(!is_mounted(&merged));
    assert!(!merged.exists());
    assert_eq!(fs::read_dir(root.join("active")).unwrap().count(), 0);
    // The store is usable: the same layer mounts again.
    let l = s.layer_path(&Digest::of(b"crash"));
    let snap = s.prepare(&[l], Driver::Overlay).unwrap();
    assert_eq!(fs::read(snap.root().join("f")).unwrap(), b"f");
    assert!(!snap.root().join("written").exists());
}

#[test]
fn live_snapshot_of_this_process_survives_a_second_open() {
    let (d, s) = store();
    let chain = three_layers(&s);
    let snap = s.prepare(&chain, Driver::Overlay).unwrap();
    let _again = SnapshotStore::open(d.path().join("snapshots")).unwrap();
    assert!(is_mounted(snap.root()));
    assert_eq!(fs::read(snap.root().join("a")).unwrap(), b"2");
}

#[test]
fn layers_lists_unpacked_layers_and_remove_layer_deletes_one() {
    let (_d, s) = store();
    let a = Digest::of(b"a");
    let b = Digest::of(b"b");
    for id in [&a, &b] {
        s.ensure_layer(id, |d| fs::write(d.join("f"), "x")).unwrap();
    }
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(s.layers().unwrap(), want);
    s.remove_layer(&a).unwrap();
    assert_eq!(s.layers().unwrap(), vec![b]);
    assert!(!s.has_layer(&a));
    s.remove_layer(&a).unwrap(); // absent is fine
}

#[test]
fn half_removed_snapshot_dir_is_cleaned_on_open() {
    let (d, s) = store();
    let trash = s.root().join("active/.gone-abc");
    fs::create_dir_all(trash.join("upper/x")).unwrap();
    drop(s);
    let _s = SnapshotStore::open(d.path().join("snapshots")).unwrap();
    assert!(!trash.exists());
}

#[test]
fn chain_with_the_same_layer_twice_mounts_and_matches_the_copy() {
    let (_d, s) = store();
    let l = three_layers(&s);
    let chain = [l[0].clone(), l[1].clone(), l[0].clone()];
    let overlay = s.prepare(&chain, Driver::Overlay).unwrap();
    let native = s.prepare(&chain, Driver::Native).unwrap();
    assert_eq!(listing(overlay.root()), listing(native.root()));
    assert_eq!(fs::read(overlay.root().join("a")).unwrap(), b"1");
    assert!(overlay.root().join("gone").exists());
}

#[test]
fn store_and_snapshots_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<SnapshotStore>();
    send_sync::<hoist_snapshotter::snapshot::ActiveSnapshot>();
    let (_d, s) = store();
    let chain = three_layers(&s);
    let snap = s.prepare(&chain, Driver::Overlay).unwrap();
    let root = std::thread::spawn(move || {
        let r = snap.root().to_path_buf();
        snap.release().unwrap();
        r
    })
    .join()
    .unwrap();
    assert!(!root.exists());
}
