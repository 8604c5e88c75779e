//! The same busybox image read from an OCI layout, an OCI archive, a
//! docker-save tar and a registry resolves to the same config and layer
//! diff_ids; the tag cache reuses a resolution without the network.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::image::busybox;
use common::registry::TestRegistry;
use hoist_builder::registry::{Reference, RegistryClient, RegistryOptions};
use hoist_builder::source::image::platform::Platform;
use hoist_builder::source::image::tag_cache::TagCache;
use hoist_builder::source::image::{ImageError, ImageResolver, ImageSource, ResolvedImage};
use hoist_snapshotter::content::ContentStore;

fn resolver(dir: &std::path::Path) -> ImageResolver {
    let store = ContentStore::open(dir.join("content")).unwrap();
    let registry = RegistryClient::new(RegistryOptions {
        docker_config_dir: Some(dir.join("docker-config")),
        retry_delay: Duration::from_millis(10),
        attempts: 2,
        ..RegistryOptions::default()
    });
    ImageResolver::new(store, Arc::new(registry))
        .with_tag_cache(TagCache::new(dir.join("resolved")))
}

fn amd64() -> Platform {
    "linux/amd64".parse().unwrap()
}

fn assert_is_busybox(image: &ResolvedImage) {
    let b = busybox();
    let diff_ids: Vec<_> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
    assert_eq!(diff_ids, vec![b.diff_id.clone()], "{}", image.source);
    assert_eq!(image.config.rootfs.diff_ids, diff_ids);
    assert_eq!(image.platform, amd64());
    let store_layer = &image.layers[0];
    assert!(store_layer.size > 0);
}

#[tokio::test]
async fn every_source_format_resolves_to_the_same_config_and_diff_ids() {
    let b = busybox();
    let registry = TestRegistry::start();
    registry.push_layout(&b.layout, "latest", "busybox", "latest");
    let sources = [
        ImageSource::OciLayout {
            path: b.layout.clone(),
            tag: Some("latest".into()),
        },
        ImageSource::OciArchive {
            path: b.oci_archive.clone(),
            tag: None,
        },
        ImageSource::DockerArchive {
            path: b.docker_archive.clone(),
            name: Some(Reference::parse("busybox:latest").unwrap()),
        },
        ImageSource::DockerArchive {
            path: b.docker_archive.clone(),
            name: None,
        },
        ImageSource::from_name(&format!("{}/busybox:latest", registry.addr())).unwrap(),
    ];
    let mut resolved = Vec::new();
    for source in &sources {
        let dir = tempfile::tempdir().unwrap();
        let image = resolver(dir.path())
            .resolve(source, &amd64(), false)
            .await
            .unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_is_busybox(&image);
        // Every layer is in the store and hashes to its digest.
        let r = resolver(dir.path());
        for layer in &image.layers {
            r.store().read(&layer.digest).unwrap();
        }
        resolved.push(image);
    }
    let first = &resolved[0];
    for other in &resolved[1..] {
        assert_eq!(
            other.config, first.config,
            "{} vs {}",
            other.source, first.source
        );
    }
    // OCI sources keep the real manifest; the registry pins its reference.
    assert_eq!(resolved[0].manifest_digest(), Some(&b.manifest_digest));
    assert_eq!(resolved[1].manifest_digest(), Some(&b.manifest_digest));
    assert_eq!(resolved[4].manifest_digest(), Some(&b.manifest_digest));
    assert_eq!(
        resolved[4].reference.as_ref().and_then(|r| r.digest()),
        Some(&b.manifest_digest)
    );
    // docker-save layers are uncompressed: their digest is their diff_id.
    assert_eq!(resolved[2].layers[0].digest, b.diff_id);
}

#[tokio::test]
async fn layout_index_is_followed_to_the_platform_and_unknown_tags_are_listed() {
    let b = busybox();
    let dir = tempfile::tempdir().unwrap();
    let r = resolver(dir.path());
    let multi = ImageSource::OciLayout {
        path: b.layout.clone(),
        tag: Some("multi".into()),
    };
    let arm = r
        .resolve(&multi, &"linux/arm64".parse().unwrap(), false)
        .await
        .unwrap();
    assert_eq!(arm.manifest_digest(), Some(&b.arm64_manifest_digest));
    assert_eq!(arm.config.architecture, "arm64");

    let err = r
        .resolve(&multi, &"linux/riscv64".parse().unwrap(), false)
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::PlatformMissing { .. }), "{err}");
    assert!(err.to_string().contains("linux/arm64"), "{err}");

    let unknown = ImageSource::OciLayout {
        path: b.layout.clone(),
        tag: Some("nope".into()),
    };
    let err = r.resolve(&unknown, &amd64(), false).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("nope") && msg.contains("latest") && msg.contains("multi"),
        "{msg}"
    );

    // Two images and no tag: ambiguous.
    let untagged = ImageSource::OciLayout {
        path: b.layout.clone(),
        tag: None,
    };
    assert!(r.resolve(&untagged, &amd64(), false).await.is_err());
}

#[tokio::test]
async fn scratch_has_no_layers_and_the_platform_in_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let image = resolver(dir.path())
        .resolve(&ImageSource::from_name("scratch").unwrap(), &amd64(), true)
        .await
        .unwrap();
    assert!(image.layers.is_empty() && image.manifest.is_none());
    assert_eq!(
        (image.config.os.as_str(), image.config.architecture.as_str()),
        ("linux", "amd64")
    );
}

#[tokio::test]
async fn tag_cache_reuses_a_resolution_offline_and_pull_rechecks_the_tag() {
    let b = busybox();
    let dir = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start();
    registry.push_layout(&b.layout, "latest", "busybox", "latest");
    let source = ImageSource::from_name(&format!("{}/busybox:latest", registry.addr())).unwrap();

    let first = resolver(dir.path())
        .resolve(&source, &amd64(), false)
        .await
        .unwrap();
    assert_eq!(first.manifest_digest(), Some(&b.manifest_digest));
    assert_eq!(
        std::fs::read_dir(dir.path().join("resolved"))
            .unwrap()
            .count(),
        1
    );

    let reference = Reference::parse(&format!("{}/busybox:latest", registry.addr())).unwrap();
    let record = || {
        TagCache::new(dir.path().join("resolved"))
            .get(&reference, &amd64())
            .unwrap()
    };
    assert_eq!(record().tag_digest, b.manifest_digest);

    // The tag moves to the two-platform index.
    registry.push_layout(&b.layout, "multi", "busybox", "latest");
    // Without pull: the cached resolution, no question asked.
    let cached = resolver(dir.path())
        .resolve(&source, &amd64(), false)
        .await
        .unwrap();
    assert_eq!(cached.manifest_digest(), Some(&b.manifest_digest));
    assert_eq!(record().tag_digest, b.manifest_digest);
    // With pull: the tag is re-checked; it now names the index, which is
    // resolved to the platform's manifest and recorded.
    let pulled = resolver(dir.path())
        .resolve(&source, &amd64(), true)
        .await
        .unwrap();
    assert_eq!(pulled.manifest_digest(), Some(&b.manifest_digest));
    assert_eq!(record().tag_digest, b.index_digest);
    let arm: Platform = "linux/arm64".parse().unwrap();
    let pulled = resolver(dir.path())
        .resolve(&source, &arm, true)
        .await
        .unwrap();
    assert_eq!(pulled.manifest_digest(), Some(&b.arm64_manifest_digest));

    // Offline: the cache still serves it without pull, and pull fails.
    drop(registry);
    let offline = resolver(dir.path())
        .resolve(&source, &amd64(), false)
        .await
        .unwrap();
    assert_eq!(offline.manifest_digest(), Some(&b.manifest_digest));
    let err = resolver(dir.path())
        .resolve(&source, &amd64(), true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("busybox:latest"), "{err}");
}

/// `docker save` since Docker 25 writes an OCI layout with a
/// `manifest.json` beside it; the image is picked by its full name.
#[tokio::test]
async fn newer_docker_save_format_is_read_as_an_oci_layout() {
    let b = busybox();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("save");
    std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    for entry in std::fs::read_dir(b.layout.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            root.join("blobs/sha256").join(entry.file_name()),
        )
        .unwrap();
    }
    std::fs::copy(b.layout.join("oci-layout"), root.join("oci-layout")).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(b.layout.join("blobs/sha256").join(b.manifest_digest.hex())).unwrap(),
    )
    .unwrap();
    let size = std::fs::metadata(b.layout.join("blobs/sha256").join(b.manifest_digest.hex()))
        .unwrap()
        .len();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": b.manifest_digest.to_string(), "size": size,
            "annotations": {
                "io.containerd.image.name": "docker.io/library/busybox:latest",
                "org.opencontainers.image.ref.name": "latest"
            }
        }]
    });
    std::fs::write(root.join("index.json"), index.to_string()).unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let docker_manifest = serde_json::json!([{
        "Config": format!("blobs/sha256/{}", &config[7..]),
        "RepoTags": ["busybox:latest"],
        "Layers": [format!("blobs/sha256/{}", &layer[7..])]
    }]);
    std::fs::write(root.join("manifest.json"), docker_manifest.to_string()).unwrap();
    let tar = tmp.path().join("save.tar");
    common::run(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    let source = ImageSource::DockerArchive {
        path: tar,
        name: Some(Reference::parse("busybox").unwrap()),
    };
    let image = resolver(tmp.path())
        .resolve(&source, &amd64(), false)
        .await
        .unwrap();
    assert_is_busybox(&image);
    assert_eq!(image.manifest_digest(), Some(&b.manifest_digest));
    let other = ImageSource::DockerArchive {
        path: tmp.path().join("save.tar"),
        name: Some(Reference::parse("alpine").unwrap()),
    };
    let err = resolver(tmp.path())
        .resolve(&other, &amd64(), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("busybox:latest"), "{err}");
}
