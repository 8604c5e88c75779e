//! Pulling from a real registry (Debian's docker-registry on 127.0.0.1):
//! by tag, by digest, through a two-platform index, and the failures a user
//! must understand (unknown tag, missing platform, tampered blob).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::image::busybox;
use common::registry::TestRegistry;
use hoist_builder::registry::{Reference, RegistryClient, RegistryError, RegistryOptions};
use hoist_builder::source::image::platform::Platform;
use hoist_builder::source::image::{ImageSource, ResolvedImage};
use hoist_snapshotter::content::ContentStore;

fn client() -> RegistryClient {
    RegistryClient::new(RegistryOptions {
        docker_config_dir: Some(tempfile::tempdir().unwrap().keep()),
        retry_delay: Duration::from_millis(20),
        ..RegistryOptions::default()
    })
}

fn fresh_store() -> (tempfile::TempDir, ContentStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path().join("content")).unwrap();
    (dir, store)
}

fn amd64() -> Platform {
    "linux/amd64".parse().unwrap()
}

#[tokio::test]
async fn pull_by_tag_stores_manifest_config_and_layers_verified() {
    let image = busybox();
    let registry = TestRegistry::start();
    registry.push_layout(&image.layout, "latest", "busybox", "latest");
    let (_d, store) = fresh_store();
    let reference = Reference::parse(&format!("{}/busybox", registry.addr())).unwrap();

    let pulled = client().pull(&reference, &amd64(), &store).await.unwrap();
    assert_eq!(pulled.manifest_digest, image.manifest_digest);
    assert_eq!(pulled.tag_digest, image.manifest_digest);
    assert_eq!(pulled.reference.digest(), Some(&image.manifest_digest));

    let resolved = ResolvedImage::load(
        &store,
        &pulled.manifest_digest,
        ImageSource::Registry(reference.clone()),
        Some(pulled.reference.clone()),
    )
    .unwrap();
    assert_eq!(resolved.layers.len(), 1);
    assert_eq!(resolved.layers[0].digest, image.layer_digest);
    assert_eq!(resolved.layers[0].diff_id, image.diff_id);
    assert_eq!(resolved.config.config.cmd, Some(vec!["sh".to_string()]));
    assert_eq!(resolved.platform, amd64());
    // Every blob reads back verified.
    for d in [
        &pulled.manifest_digest,
        resolved.config_digest.as_ref().unwrap(),
        &image.layer_digest,
    ] {
        store.read(d).unwrap();
    }
}

#[tokio::test]
async fn pull_by_digest_gets_the_same_image_and_skips_present_blobs() {
    let image = busybox();
    let registry = TestRegistry::start();
    registry.push_layout(&image.layout, "latest", "busybox", "latest");
    let (_d, store) = fresh_store();
    let reference = Reference::parse(&format!(
        "{}/busybox@{}",
        registry.addr(),
        image.manifest_digest
    ))
    .unwrap();
    let client = client();
    let pulled = client.pull(&reference, &amd64(), &store).await.unwrap();
    assert_eq!(pulled.manifest_digest, image.manifest_digest);
    assert!(store.contains(&image.layer_digest));

    // A blob already in the store is not fetched again: even after the
    // registry loses it, a second pull succeeds.
    fs::remove_file(registry.blob_data_path(&image.layer_digest)).unwrap();
    client.pull(&reference, &amd64(), &store).await.unwrap();
}

#[tokio::test]
async fn index_resolves_to_the_requested_platform_or_names_the_ones_it_has() {
    let image = busybox();
    let registry = TestRegistry::start();
    registry.push_layout(&image.layout, "multi", "busybox", "multi");
    let reference = Reference::parse(&format!("{}/busybox:multi", registry.addr())).unwrap();
    let client = client();

    let (_d, store) = fresh_store();
    let pulled = client.pull(&reference, &amd64(), &store).await.unwrap();
    assert_eq!(pulled.tag_digest, image.index_digest);
    assert_eq!(pulled.manifest_digest, image.manifest_digest);

    let arm: Platform = "linux/arm64/v8".parse().unwrap();
    let pulled = client.pull(&reference, &arm, &store).await.unwrap();
    assert_eq!(pulled.manifest_digest, image.arm64_manifest_digest);
    let resolved = ResolvedImage::load(
        &store,
        &pulled.manifest_digest,
        ImageSource::Registry(reference.clone()),
        None,
    )
    .unwrap();
    assert_eq!(resolved.config.architecture, "arm64");

    let s390x: Platform = "linux/s390x".parse().unwrap();
    let err = client.pull(&reference, &s390x, &store).await.unwrap_err();
    assert!(
        matches!(err, RegistryError::PlatformMissing { .. }),
        "{err}"
    );
    let msg = err.to_string();
    for part in ["busybox:multi", "linux/s390x", "linux/amd64", "linux/arm64"] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
}

#[tokio::test]
async fn unknown_tag_is_a_not_found_error_naming_the_reference() {
    let image = busybox();
    let registry = TestRegistry::start();
    registry.push_layout(&image.layout, "latest", "busybox", "latest");
    let (_d, store) = fresh_store();
    let reference = Reference::parse(&format!("{}/busybox:nope", registry.addr())).unwrap();
    let err = client()
        .pull(&reference, &amd64(), &store)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("busybox:nope") && msg.contains(&registry.addr()),
        "{msg}"
    );
    let missing_repo = Reference::parse(&format!("{}/nothing", registry.addr())).unwrap();
    let err = client()
        .pull(&missing_repo, &amd64(), &store)
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn tampered_blob_in_the_registry_is_refused_and_not_stored() {
    let image = busybox();
    let registry = TestRegistry::start();
    registry.push_layout(&image.layout, "latest", "busybox", "latest");
    let data = registry.blob_data_path(&image.layer_digest);
    let mut bytes = fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::set_permissions(&data, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&data, &bytes).unwrap();

    let (_d, store) = fresh_store();
    let reference = Reference::parse(&format!("{}/busybox", registry.addr())).unwrap();
    let err = client()
        .pull(&reference, &amd64(), &store)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&image.layer_digest.to_string()), "{msg}");
    assert!(!store.contains(&image.layer_digest));
}

#[tokio::test]
async fn unreachable_registry_is_retried_then_reported_with_the_reference() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_d, store) = fresh_store();
    let reference = Reference::parse(&format!("127.0.0.1:{port}/busybox")).unwrap();
    let started = std::time::Instant::now();
    let err = client()
        .pull(&reference, &amd64(), &store)
        .await
        .unwrap_err();
    // 4 attempts with 20, 40, 80 ms between them.
    assert!(
        started.elapsed() >= Duration::from_millis(140),
        "{:?}",
        started.elapsed()
    );
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}/busybox")), "{msg}");
}

#[tokio::test]
async fn manifest_not_matching_the_pinned_digest_is_refused() {
    let image = busybox();
    let registry = TestRegistry::start();
    registry.push_layout(&image.layout, "latest", "busybox", "latest");
    // The registry keeps manifests as blobs too: make it serve other bytes.
    let data = registry.blob_data_path(&image.manifest_digest);
    let mut bytes = fs::read(&data).unwrap();
    bytes.extend_from_slice(b"\n ");
    fs::set_permissions(&data, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&data, &bytes).unwrap();

    let (_d, store) = fresh_store();
    let reference = Reference::parse(&format!(
        "{}/busybox@{}",
        registry.addr(),
        image.manifest_digest
    ))
    .unwrap();
    let err = client()
        .pull(&reference, &amd64(), &store)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&image.manifest_digest.to_string()), "{msg}");
    assert!(!store.contains(&image.manifest_digest));
    assert!(
        store.list().unwrap().is_empty(),
        "nothing stored from a lying registry"
    );
}

#[tokio::test]
async fn server_error_is_retried_then_reported_with_the_registrys_message() {
    let image = busybox();
    let registry = TestRegistry::start();
    registry.push_layout(&image.layout, "latest", "busybox", "latest");
    // A symlink loop where the layer's bytes should be: reading it fails
    // inside the registry, which answers 500.
    let data = registry.blob_data_path(&image.layer_digest);
    fs::remove_file(&data).unwrap();
    std::os::unix::fs::symlink("data", &data).unwrap();

    let (_d, store) = fresh_store();
    let reference = Reference::parse(&format!("{}/busybox", registry.addr())).unwrap();
    let started = std::time::Instant::now();
    let err = client()
        .pull(&reference, &amd64(), &store)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        started.elapsed() >= Duration::from_millis(140),
        "not retried: {msg}"
    );
    assert!(msg.contains(&image.layer_digest.to_string()), "{msg}");
    assert!(msg.contains("500"), "{msg}");
}
