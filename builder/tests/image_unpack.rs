//! Pull the busybox image back from a registry (and read it from a
//! docker-save tar) and unpack its layers with hoist's layer applier: the
//! tree must be identical to GNU tar's extraction of the same layer blobs.
//!
//! Needs root (owners) and GNU tar.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::image::busybox;
use common::registry::TestRegistry;
use common::run;
use common::tree::{assert_trees_equal, tree_listing};
use hoist_builder::registry::{RegistryClient, RegistryOptions};
use hoist_builder::source::image::platform::Platform;
use hoist_builder::source::image::{ImageResolver, ImageSource, ResolvedImage};
use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::layer::apply::{ApplyOptions, apply_layer};
use hoist_snapshotter::layer::compression;

fn resolver(dir: &Path) -> ImageResolver {
    let store = ContentStore::open(dir.join("content")).unwrap();
    let registry = RegistryClient::new(RegistryOptions {
        docker_config_dir: Some(dir.join("docker-config")),
        ..RegistryOptions::default()
    });
    ImageResolver::new(store, Arc::new(registry))
}

/// Unpacks every layer of `image` with hoist into `ours` and with GNU tar
/// into `theirs`.
fn unpack_both(store: &ContentStore, image: &ResolvedImage, ours: &Path, theirs: &Path) {
    std::fs::create_dir_all(ours).unwrap();
    std::fs::create_dir_all(theirs).unwrap();
    for layer in &image.layers {
        let blob = store.open_blob(&layer.digest).unwrap();
        let (_, tar) = compression::open_layer(blob).unwrap();
        apply_layer(tar, ours, &ApplyOptions::default())
            .unwrap_or_else(|e| panic!("{}: layer {}: {e}", image.source, layer.digest));
        run(Command::new("tar")
            .args(["-x", "--xattrs", "--numeric-owner", "-p", "-f"])
            .arg(store.path(&layer.digest))
            .arg("-C")
            .arg(theirs));
    }
}

#[tokio::test]
async fn pulled_image_unpacks_like_gnu_tar_extracts_it() {
    let b = busybox();
    let registry = TestRegistry::start();
    registry.push_layout(&b.layout, "latest", "busybox", "latest");
    let platform: Platform = "linux/amd64".parse().unwrap();
    let tmp = tempfile::tempdir().unwrap();

    for (name, source) in [
        (
            "registry",
            ImageSource::from_name(&format!("{}/busybox:latest", registry.addr())).unwrap(),
        ),
        (
            "docker-archive",
            ImageSource::DockerArchive {
                path: b.docker_archive.clone(),
                name: None,
            },
        ),
    ] {
        let dir = tmp.path().join(name);
        let r = resolver(&dir);
        let image = r.resolve(&source, &platform, false).await.unwrap();
        let ours = dir.join("ours");
        let theirs = dir.join("theirs");
        unpack_both(r.store(), &image, &ours, &theirs);
        assert_trees_equal(&ours, &theirs);

        // And it is the busybox tree that was packed.
        let listing = tree_listing(&ours);
        let find = |p: &str| {
            listing
                .iter()
                .find(|e| e.path == p)
                .unwrap_or_else(|| panic!("{p} missing"))
        };
        assert_eq!(find("tmp").mode, 0o1777);
        assert_eq!(
            find("bin/sh").link_target.as_deref(),
            Some(Path::new("busybox"))
        );
        assert_eq!(
            std::fs::read(ours.join("bin/busybox")).unwrap(),
            std::fs::read("/bin/busybox").unwrap()
        );
        assert_eq!(
            std::fs::read_to_string(ours.join("etc/passwd")).unwrap(),
            std::fs::read_to_string(b.rootfs.join("etc/passwd")).unwrap()
        );
    }
}
