//! `unmount_all_active`, the Ctrl-C hook, in a test binary of its own: it
//! detaches every overlay of the process, so it must not share a process
//! with other snapshot tests running in parallel.

use std::fs;
use std::path::Path;

use hoist_snapshotter::digest::Digest;
use hoist_snapshotter::snapshot::{Driver, SnapshotStore, unmount_all_active};

fn is_mounted(path: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(p))
}

#[test]
fn unmount_all_active_detaches_live_overlays_and_the_next_open_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = SnapshotStore::open(dir.path().join("snapshots")).unwrap();
    let l = s
        .ensure_layer(&Digest::of(b"l"), |d| fs::write(d.join("f"), "f"))
        .unwrap();
    let a = s
        .prepare(std::slice::from_ref(&l), Driver::Overlay)
        .unwrap();
    let b = s.view(std::slice::from_ref(&l), Driver::Overlay).unwrap();
    let (ra, rb) = (a.root().to_path_buf(), b.root().to_path_buf());
    assert!(is_mounted(&ra) && is_mounted(&rb));
    assert_eq!(unmount_all_active(), 2);
    assert!(!is_mounted(&ra) && !is_mounted(&rb));
    // Releasing after the hook ran is still fine.
    a.release().unwrap();
    b.release().unwrap();
    assert!(!ra.exists() && !rb.exists());
}
