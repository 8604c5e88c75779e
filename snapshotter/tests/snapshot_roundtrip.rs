//! The whole loop of a build step (issue #7, "Done when"): lower layers
//! unpacked into the snapshot store, a step's changes made in a snapshot,
//! the diff exported as a compressed layer into the content store, and that
//! layer applied onto the lower layers in a fresh directory: the result must
//! equal the snapshot's merged view. Run for both drivers. Needs root.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::tree::{EntryInfo, assert_listings_equal, tree_listing};
use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::layer::apply::{ApplyOptions, WhiteoutMode, apply_layer};
use hoist_snapshotter::layer::compress::{Encoding, LayerBlob, write_layer};
use hoist_snapshotter::layer::compression::open_layer;
use hoist_snapshotter::layer::diff::{DiffOptions, DiffSource};
use hoist_snapshotter::snapshot::{Driver, SnapshotStore};

struct World {
    _dir: tempfile::TempDir,
    work: PathBuf,
    content: ContentStore,
    snapshots: SnapshotStore,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();
    World {
        content: ContentStore::open(dir.path().join("content")).unwrap(),
        snapshots: SnapshotStore::open(dir.path().join("snapshots")).unwrap(),
        work,
        _dir: dir,
    }
}

/// Turns a plain tree (with overlay whiteouts, if any) into a stored layer.
fn layer_from_tree(w: &World, tree: &Path, encoding: Encoding) -> LayerBlob {
    let opts = DiffOptions::default();
    write_layer(
        &DiffSource::OverlayUpper(tree.to_path_buf()),
        &opts,
        encoding,
        &w.content,
    )
    .unwrap()
}

/// Unpacks a stored layer into the snapshot store in overlay form, over
/// `chain` (the dirs of the layers below it, bottom first).
fn unpack(w: &World, blob: &LayerBlob, chain: &[PathBuf]) -> PathBuf {
    w.snapshots
        .ensure_layer(&blob.diff_id, |dir| {
            let (_, tar) = open_layer(w.content.open_blob(&blob.digest).unwrap())?;
            let opts = ApplyOptions {
                whiteouts: WhiteoutMode::Overlay,
                lowers: chain.iter().rev().cloned().collect(),
                ..ApplyOptions::default()
            };
            apply_layer(tar, dir, &opts).map_err(std::io::Error::other)?;
            Ok::<_, std::io::Error>(())
        })
        .unwrap()
}

/// Applies stored layers in order into `target` (the copying way).
fn apply_all(w: &World, blobs: &[&LayerBlob], target: &Path) {
    for blob in blobs {
        let (_, tar) = open_layer(w.content.open_blob(&blob.digest).unwrap()).unwrap();
        apply_layer(tar, target, &ApplyOptions::default()).unwrap();
    }
}

/// Two base layers: an OS-like tree, then an update that deletes and hides.
fn base_layers(w: &World) -> (LayerBlob, LayerBlob) {
    let t1 = w.work.join("t1");
    fs::create_dir_all(t1.join("etc/conf.d")).unwrap();
    fs::create_dir_all(t1.join("usr/bin")).unwrap();
    fs::create_dir_all(t1.join("var/cache/apt")).unwrap();
    fs::create_dir_all(t1.join("opt/app")).unwrap();
    fs::write(t1.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    fs::write(t1.join("etc/conf.d/a.conf"), "a=1\n").unwrap();
    fs::write(t1.join("etc/conf.d/b.conf"), "b=1\n").unwrap();
    fs::write(t1.join("usr/bin/tool"), "#!/bin/sh\necho tool\n").unwrap();
    fs::set_permissions(t1.join("usr/bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::hard_link(t1.join("usr/bin/tool"), t1.join("usr/bin/tool-alias")).unwrap();
    std::os::unix::fs::symlink("tool", t1.join("usr/bin/t")).unwrap();
    fs::write(t1.join("var/cache/apt/pkgcache.bin"), vec![7u8; 100_000]).unwrap();
    fs::write(t1.join("opt/app/main.py"), "print('v1')\n").unwrap();
    fs::write(t1.join("opt/app/old.py"), "old\n").unwrap();
    let l1 = layer_from_tree(w, &t1, Encoding::gzip(6));

    let t2 = w.work.join("t2");
    fs::create_dir_all(t2.join("etc/conf.d")).unwrap();
    fs::create_dir_all(t2.join("opt")).unwrap();
    fs::write(t2.join("etc/conf.d/a.conf"), "a=2\n").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        t2.join("etc/conf.d/b.conf"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        0,
    )
    .unwrap();
    fs::create_dir(t2.join("opt/app")).unwrap();
    rustix::fs::setxattr(
        t2.join("opt/app"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::write(t2.join("opt/app/main.py"), "print('v2')\n").unwrap();
    let l2 = layer_from_tree(w, &t2, Encoding::zstd(3));
    (l1, l2)
}

/// A RUN step's worth of changes.
fn run_step(root: &Path) {
    fs::write(root.join("etc/hostname"), "built\n").unwrap(); // create
    fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/bash\n").unwrap(); // modify
    fs::remove_file(root.join("etc/conf.d/a.conf")).unwrap(); // delete a file
    fs::remove_dir_all(root.join("var/cache/apt")).unwrap(); // delete a whole dir
    fs::remove_dir_all(root.join("opt/app")).unwrap(); // replace a dir by a file
    fs::write(root.join("opt/app"), "now a file\n").unwrap();
    fs::remove_file(root.join("usr/bin/t")).unwrap(); // replace a symlink by a dir
    fs::create_dir(root.join("usr/bin/t")).unwrap();
    fs::write(root.join("usr/bin/t/inside"), "x").unwrap();
    fs::create_dir_all(root.join("srv/data/deep")).unwrap(); // new tree
    fs::write(root.join("srv/data/deep/f"), "deep").unwrap();
    fs::hard_link(root.join("srv/data/deep/f"), root.join("srv/f-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("srv/passwd")).unwrap();
    fs::set_permissions(
        root.join("usr/bin/tool"),
        fs::Permissions::from_mode(0o4711),
    )
    .unwrap();
    std::os::unix::fs::chown(root.join("srv/data"), Some(1000), Some(1000)).unwrap();
    rustix::fs::setxattr(
        root.join("etc/hostname"),
        "user.origin",
        b"step",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
}

/// Layers carry whole seconds: compare trees at that precision.
fn listing_in_seconds(root: &Path) -> Vec<EntryInfo> {
    let mut l = tree_listing(root);
    for e in &mut l {
        e.mtime.1 = 0;
    }
    l
}

fn round_trip(driver: Driver) {
    let w = world();
    let (l1, l2) = base_layers(&w);
    let bottom = unpack(&w, &l1, &[]);
    let chain = [bottom.clone(), unpack(&w, &l2, &[bottom])];
    let snap = w.snapshots.prepare(&chain, driver).unwrap();
    run_step(snap.root());
    let merged = listing_in_seconds(snap.root());

    let diff = snap.diff().unwrap();
    let new = write_layer(
        &diff,
        &DiffOptions::default(),
        Encoding::gzip(6),
        &w.content,
    )
    .unwrap();
    assert!(w.content.contains(&new.digest));

    let fresh = w.work.join("fresh");
    fs::create_dir(&fresh).unwrap();
    apply_all(&w, &[&l1, &l2, &new], &fresh);
    assert_listings_equal(
        &merged,
        &listing_in_seconds(&fresh),
        &format!("{driver:?} merged view vs lower layers + exported diff"),
    );

    // The same layer, unpacked in overlay form and mounted over the chain,
    // shows the same tree again.
    let l3 = unpack(&w, &new, &chain);
    let view = w
        .snapshots
        .view(&[chain[0].clone(), chain[1].clone(), l3], Driver::Overlay)
        .unwrap();
    assert_listings_equal(
        &merged,
        &listing_in_seconds(view.root()),
        &format!("{driver:?} merged view vs the new layer mounted over the chain"),
    );
}

#[test]
fn overlay_upper_kept_as_the_layer_mounts_like_the_layer_it_exported() {
    kept_layer(Driver::Overlay);
}

#[test]
fn native_changes_kept_as_the_layer_mount_like_the_layer_they_exported() {
    kept_layer(Driver::Native);
}

fn kept_layer(driver: Driver) {
    let w = world();
    let (l1, l2) = base_layers(&w);
    let bottom = unpack(&w, &l1, &[]);
    let chain = [bottom.clone(), unpack(&w, &l2, &[bottom])];
    let snap = w.snapshots.prepare(&chain, driver).unwrap();
    run_step(snap.root());
    // A sandbox mount-point stub and a socket: neither belongs in the layer.
    fs::create_dir_all(snap.root().join("stub/inner")).unwrap();
    let sock = std::os::unix::net::UnixListener::bind(snap.root().join("srv/sock")).unwrap();
    drop(sock);
    let exclude = vec!["/stub".to_string()];
    let mut merged = listing_in_seconds(snap.root());
    merged.retain(|e| !e.path.starts_with("stub") && e.path != "srv/sock");

    let opts = DiffOptions {
        exclude: exclude.clone(),
        ..DiffOptions::default()
    };
    let new = write_layer(&snap.diff().unwrap(), &opts, Encoding::zstd(3), &w.content).unwrap();
    let kept = snap
        .into_layer(&w.snapshots, &new.diff_id, &exclude)
        .unwrap()
        .expect("a writable snapshot becomes a layer");
    assert_eq!(kept, w.snapshots.layer_path(&new.diff_id));
    assert!(!kept.join("stub").exists() && !kept.join("srv/sock").exists());
    assert!(
        common::tree::xattrs(&kept.join("etc"))
            .keys()
            .all(|k| !k.starts_with("trusted.overlay.") || k == "trusted.overlay.opaque")
    );
    let view = w
        .snapshots
        .view(&[chain[0].clone(), chain[1].clone(), kept], Driver::Overlay)
        .unwrap();
    assert_listings_equal(
        &merged,
        &listing_in_seconds(view.root()),
        &format!("{driver:?}: kept layer over the chain"),
    );
    // And it is what applying the exported layer gives.
    let fresh = w.work.join("fresh");
    fs::create_dir(&fresh).unwrap();
    apply_all(&w, &[&l1, &l2, &new], &fresh);
    assert_listings_equal(
        &merged,
        &listing_in_seconds(&fresh),
        &format!("{driver:?}: applied layer"),
    );
    assert_eq!(
        fs::read_dir(w.snapshots.root().join("active"))
            .unwrap()
            .count(),
        1
    ); // the view
}

#[test]
fn read_only_view_does_not_become_a_layer() {
    let w = world();
    let (l1, _) = base_layers(&w);
    let view = w
        .snapshots
        .view(&[unpack(&w, &l1, &[])], Driver::Overlay)
        .unwrap();
    let id = hoist_snapshotter::digest::Digest::of(b"whatever");
    assert_eq!(view.into_layer(&w.snapshots, &id, &[]).unwrap(), None);
    assert!(!w.snapshots.has_layer(&id));
    assert_eq!(
        fs::read_dir(w.snapshots.root().join("active"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn overlay_step_exported_as_a_layer_reapplies_to_the_merged_view() {
    round_trip(Driver::Overlay);
}

#[test]
fn native_step_exported_as_a_layer_reapplies_to_the_merged_view() {
    round_trip(Driver::Native);
}
