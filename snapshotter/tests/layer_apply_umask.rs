//! The process umask must not leak into applied layers. Its own test binary,
//! because the umask is process-wide.

use std::fs;
use std::os::unix::fs::MetadataExt;

use hoist_snapshotter::layer::apply::{ApplyOptions, apply_layer};
use rustix::fs::Mode;
use tar::{EntryType, Header};

#[test]
fn restrictive_umask_does_not_change_modes() {
    rustix::process::umask(Mode::from_raw_mode(0o077));
    let mut b = tar::Builder::new(Vec::new());
    for (kind, path, mode) in [
        (EntryType::Directory, "listed", 0o775),
        (EntryType::Regular, "implicit/parent/file", 0o664),
    ] {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(0);
        b.append_data(&mut h, path, &[][..]).unwrap();
    }
    let t = tempfile::tempdir().unwrap();
    apply_layer(
        &b.into_inner().unwrap()[..],
        t.path(),
        &ApplyOptions::default(),
    )
    .unwrap();
    let mode = |p: &str| fs::metadata(t.path().join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("listed"), 0o775);
    assert_eq!(mode("implicit"), 0o755);
    assert_eq!(mode("implicit/parent"), 0o755);
    assert_eq!(mode("implicit/parent/file"), 0o664);
}
