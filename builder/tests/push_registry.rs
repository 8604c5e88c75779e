//! Pushing images from the content store to Debian's `docker-registry` on
//! 127.0.0.1: the busybox test image (imported with the OCI layout reader)
//! is pushed and read back with skopeo and with our own pull; second pushes
//! and mounts send no blob (checked in the registry's access log); basic
//! auth comes from a docker `config.json`; an index pushes its manifests
//! and itself; registry and store failures name the blob.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::image::busybox;
use common::registry::{RegistrySetup, TestRegistry};
use common::{base64, run, skopeo_copy, write_docker_config};
use hoist_builder::registry::{
    PushError, PushEvent, PushOptions, PushReport, Reference, RegistryClient, RegistryOptions,
    push_image, push_image_with,
};
use hoist_builder::source::image::{ImageSource, resolve_local};
use hoist_frontend::graph::Platform;
use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::digest::Digest;
use serde_json::{Value, json};

fn client_with(config_dir: &Path, attempts: u32) -> RegistryClient {
    RegistryClient::new(RegistryOptions {
        docker_config_dir: Some(config_dir.to_path_buf()),
        retry_delay: Duration::from_millis(20),
        attempts,
        ..RegistryOptions::default()
    })
}

/// A client with no credentials.
fn client(tmp: &Path) -> RegistryClient {
    let dir = tmp.join("no-credentials");
    std::fs::create_dir_all(&dir).unwrap();
    client_with(&dir, 4)
}

fn platform(name: &str) -> Platform {
    name.parse().unwrap()
}

/// A store holding the busybox layout's tag `tag`, imported for each of
/// `platforms` through the OCI layout reader.
fn imported(tmp: &Path, tag: &str, platforms: &[&str]) -> ContentStore {
    let store = ContentStore::open(tmp.join("content")).unwrap();
    for p in platforms {
        let source = ImageSource::OciLayout {
            path: busybox().layout.clone(),
            tag: Some(tag.to_string()),
        };
        resolve_local(&store, source, &platform(p)).unwrap();
    }
    store
}

fn reference(registry: &TestRegistry, name: &str) -> Reference {
    Reference::parse(&format!("{}/{name}", registry.addr())).unwrap()
}

/// The busybox config digest of the linux/amd64 image.
fn config_digest(store: &ContentStore, manifest: &Digest) -> Digest {
    let m: Value = serde_json::from_slice(&store.read(manifest).unwrap()).unwrap();
    m["config"]["digest"].as_str().unwrap().parse().unwrap()
}

/// Collects progress events.
#[derive(Default)]
struct Events(Mutex<Vec<PushEvent>>);

impl Events {
    fn sink(&self) -> impl Fn(PushEvent) + Sync + '_ {
        |e| self.0.lock().unwrap().push(e)
    }
    fn take(&self) -> Vec<PushEvent> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

/// Requests that send blob bytes: upload sessions' PUT and PATCH.
fn blob_writes(registry: &TestRegistry, repository: &str) -> Vec<String> {
    let prefix = format!("/v2/{repository}/blobs/uploads/");
    registry
        .requests()
        .into_iter()
        .filter(|r| (r.method == "PUT" || r.method == "PATCH") && r.path.starts_with(&prefix))
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect()
}

fn skopeo_inspect(args: &[&str], image: &str) -> String {
    run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .args(args)
        .arg(format!("docker://{image}")))
}

fn layout_manifest_digest(layout: &Path) -> Digest {
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn pushed_image_reads_back_with_skopeo_and_with_our_pull() {
    let image = busybox();
    let tmp = tempfile::tempdir().unwrap();
    let store = imported(tmp.path(), "latest", &["linux/amd64"]);
    let registry = TestRegistry::start_with(RegistrySetup {
        access_log: true,
        ..RegistrySetup::default()
    });
    let target = reference(&registry, "app:1");
    let config = config_digest(&store, &image.manifest_digest);
    let events = Events::default();

    let report = push_image(
        &client(tmp.path()),
        &store,
        &image.manifest_digest,
        &target,
        &events.sink(),
    )
    .await
    .unwrap();

    let layer_size = store.size(&image.layer_digest).unwrap();
    let config_size = store.size(&config).unwrap();
    assert_eq!(
        report,
        PushReport {
            uploaded: vec![config.clone(), image.layer_digest.clone()],
            skipped: vec![],
            mounted: vec![],
            bytes_uploaded: layer_size + config_size,
            manifests: vec![image.manifest_digest.clone()],
        }
    );
    // Progress: each blob starts at 0 and ends at its size, never going
    // back; the manifest comes last.
    let events = events.take();
    for (digest, size) in [(&config, config_size), (&image.layer_digest, layer_size)] {
        let currents: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                PushEvent::Blob {
                    digest: d,
                    current,
                    total,
                } if d == digest => {
                    assert_eq!(*total, size);
                    Some(*current)
                }
                _ => None,
            })
            .collect();
        assert_eq!(currents.first(), Some(&0), "{events:?}");
        assert_eq!(currents.last(), Some(&size), "{events:?}");
        assert!(currents.windows(2).all(|w| w[0] <= w[1]), "{events:?}");
    }
    assert_eq!(
        events.last(),
        Some(&PushEvent::Manifest {
            digest: image.manifest_digest.clone()
        })
    );
    assert_eq!(
        blob_writes(&registry, "app").len(),
        2,
        "{:?}",
        registry.requests()
    );

    // skopeo sees the same manifest digest and the busybox config.
    let inspected: Value =
        serde_json::from_str(&skopeo_inspect(&[], &format!("{}/app:1", registry.addr()))).unwrap();
    assert_eq!(inspected["Digest"], image.manifest_digest.to_string());
    assert_eq!(inspected["Architecture"], "amd64");
    assert_eq!(inspected["Layers"][0], image.layer_digest.to_string());
    // skopeo copies it out unchanged.
    let out = tmp.path().join("copied");
    skopeo_copy(
        &format!("docker://{}/app:1", registry.addr()),
        &format!("oci:{}:copied", out.display()),
        &["--src-tls-verify=false"],
    );
    assert_eq!(layout_manifest_digest(&out), image.manifest_digest);

    // Our own pull into a fresh store gets the same bytes.
    let fresh = ContentStore::open(tmp.path().join("fresh")).unwrap();
    let pulled = client(tmp.path())
        .pull(&target, &platform("linux/amd64"), &fresh)
        .await
        .unwrap();
    assert_eq!(pulled.manifest_digest, image.manifest_digest);
    for d in [&image.manifest_digest, &config, &image.layer_digest] {
        assert_eq!(fresh.read(d).unwrap(), store.read(d).unwrap(), "{d}");
    }
}

#[tokio::test]
async fn second_push_of_the_same_image_sends_no_blob() {
    let image = busybox();
    let tmp = tempfile::tempdir().unwrap();
    let store = imported(tmp.path(), "latest", &["linux/amd64"]);
    let registry = TestRegistry::start_with(RegistrySetup {
        access_log: true,
        ..RegistrySetup::default()
    });
    let client = client(tmp.path());
    let first = reference(&registry, "app:1");
    push_image(&client, &store, &image.manifest_digest, &first, &|_| {})
        .await
        .unwrap();
    let writes_after_first = blob_writes(&registry, "app");
    let requests_after_first = registry.requests().len();

    let events = Events::default();
    let again = reference(&registry, "app:2");
    let report = push_image(
        &client,
        &store,
        &image.manifest_digest,
        &again,
        &events.sink(),
    )
    .await
    .unwrap();

    let config = config_digest(&store, &image.manifest_digest);
    assert!(report.uploaded.is_empty(), "{report:?}");
    assert_eq!(
        report.skipped,
        vec![config.clone(), image.layer_digest.clone()]
    );
    assert_eq!(report.bytes_uploaded, 0);
    assert_eq!(report.manifests, vec![image.manifest_digest.clone()]);
    // Blobs are checked concurrently: any order, the manifest last.
    let mut events = events.take();
    assert_eq!(
        events.pop(),
        Some(PushEvent::Manifest {
            digest: image.manifest_digest.clone()
        })
    );
    events.sort_by_key(|e| format!("{e:?}"));
    let mut expected = vec![
        PushEvent::Skipped { digest: config },
        PushEvent::Skipped {
            digest: image.layer_digest.clone(),
        },
    ];
    expected.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(events, expected);
    // The registry's log: no upload session at all in the second push.
    assert_eq!(blob_writes(&registry, "app"), writes_after_first);
    let second: Vec<_> = registry.requests()[requests_after_first..].to_vec();
    assert!(
        second.iter().all(|r| !r.path.contains("/blobs/uploads/")),
        "{second:?}"
    );
    assert!(
        second
            .iter()
            .any(|r| r.method == "PUT" && r.path == "/v2/app/manifests/2" && r.status == 201),
        "{second:?}"
    );
    let inspected: Value =
        serde_json::from_str(&skopeo_inspect(&[], &format!("{}/app:2", registry.addr()))).unwrap();
    assert_eq!(inspected["Digest"], image.manifest_digest.to_string());
}

#[tokio::test]
async fn blobs_known_in_another_repository_are_mounted_and_unknown_sources_fall_back_to_upload() {
    let image = busybox();
    let tmp = tempfile::tempdir().unwrap();
    let store = imported(tmp.path(), "latest", &["linux/amd64"]);
    let registry = TestRegistry::start_with(RegistrySetup {
        access_log: true,
        ..RegistrySetup::default()
    });
    let client = client(tmp.path());
    let base = reference(&registry, "base:1");
    push_image(&client, &store, &image.manifest_digest, &base, &|_| {})
        .await
        .unwrap();
    let config = config_digest(&store, &image.manifest_digest);

    // Both blobs said to come from `base`: mounted, nothing uploaded.
    let options = PushOptions {
        blob_sources: HashMap::from([
            (config.clone(), base.clone()),
            (image.layer_digest.clone(), base.clone()),
        ]),
    };
    let events = Events::default();
    let report = push_image_with(
        &client,
        &store,
        &image.manifest_digest,
        &reference(&registry, "app:1"),
        &options,
        &events.sink(),
    )
    .await
    .unwrap();
    assert_eq!(
        report.mounted,
        vec![config.clone(), image.layer_digest.clone()]
    );
    assert!(
        report.uploaded.is_empty() && report.skipped.is_empty(),
        "{report:?}"
    );
    assert!(events.take().contains(&PushEvent::Mounted {
        digest: image.layer_digest.clone()
    }));
    assert!(blob_writes(&registry, "app").is_empty());
    let mounts: Vec<_> = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/v2/app/blobs/uploads/?"))
        .collect();
    assert!(
        mounts.len() == 2
            && mounts
                .iter()
                .all(|r| r.status == 201 && r.path.contains("from=base")),
        "{mounts:?}"
    );
    let inspected: Value =
        serde_json::from_str(&skopeo_inspect(&[], &format!("{}/app:1", registry.addr()))).unwrap();
    assert_eq!(inspected["Digest"], image.manifest_digest.to_string());

    // A source that lacks the blob: the registry answers 202 (upload
    // instead), and the blob is uploaded.
    let nowhere = reference(&registry, "nowhere:1");
    let options = PushOptions {
        blob_sources: HashMap::from([(image.layer_digest.clone(), nowhere)]),
    };
    let report = push_image_with(
        &client,
        &store,
        &image.manifest_digest,
        &reference(&registry, "other:1"),
        &options,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.uploaded, vec![config, image.layer_digest.clone()]);
    assert!(report.mounted.is_empty(), "{report:?}");
    assert!(
        registry.requests().iter().any(|r| r.method == "POST"
            && r.path.starts_with("/v2/other/blobs/uploads/?")
            && r.path.contains("from=nowhere")
            && r.status == 202),
        "{:?}",
        registry.requests()
    );
}

#[tokio::test]
async fn push_to_a_registry_with_basic_auth_uses_docker_config_credentials() {
    let image = busybox();
    let tmp = tempfile::tempdir().unwrap();
    let store = imported(tmp.path(), "latest", &["linux/amd64"]);
    let registry = TestRegistry::start_with(RegistrySetup {
        credentials: Some(("hoist".into(), "s3cret".into())),
        access_log: true,
    });
    let target = reference(&registry, "private/app:1");

    // Without credentials: refused, the error names the blob and the 401.
    let err = push_image(
        &client(tmp.path()),
        &store,
        &image.manifest_digest,
        &target,
        &|_| {},
    )
    .await
    .unwrap_err();
    match &err {
        PushError::Upload {
            what: "blob",
            status: Some(401),
            ..
        } => {}
        other => panic!("expected a 401 on a blob, got {other:?}"),
    }
    assert!(err.to_string().contains(&registry.addr()), "{err}");

    let config_dir = tmp.path().join("docker-config");
    write_docker_config(
        &config_dir,
        &json!({"auths": {registry.addr(): {"auth": base64(b"hoist:s3cret")}}}),
    );
    let report = push_image(
        &client_with(&config_dir, 4),
        &store,
        &image.manifest_digest,
        &target,
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.uploaded.len(), 2, "{report:?}");
    let inspected: Value = serde_json::from_str(&skopeo_inspect(
        &["--creds", "hoist:s3cret"],
        &format!("{}/private/app:1", registry.addr()),
    ))
    .unwrap();
    assert_eq!(inspected["Digest"], image.manifest_digest.to_string());
}

#[tokio::test]
async fn index_push_sends_every_platform_manifest_then_the_index() {
    let image = busybox();
    let tmp = tempfile::tempdir().unwrap();
    let store = imported(tmp.path(), "multi", &["linux/amd64", "linux/arm64"]);
    let registry = TestRegistry::start_with(RegistrySetup {
        access_log: true,
        ..RegistrySetup::default()
    });
    let target = reference(&registry, "multi:1");
    let events = Events::default();

    let report = push_image(
        &client(tmp.path()),
        &store,
        &image.index_digest,
        &target,
        &events.sink(),
    )
    .await
    .unwrap();

    assert_eq!(
        report.manifests,
        vec![
            image.manifest_digest.clone(),
            image.arm64_manifest_digest.clone(),
            image.index_digest.clone()
        ]
    );
    // Two configs and the one shared layer, each sent once.
    assert_eq!(report.uploaded.len(), 3, "{report:?}");
    assert_eq!(
        report
            .uploaded
            .iter()
            .filter(|d| **d == image.layer_digest)
            .count(),
        1
    );
    let manifest_puts: Vec<String> = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.starts_with("/v2/multi/manifests/"))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        manifest_puts,
        vec![
            format!("/v2/multi/manifests/{}", image.manifest_digest),
            format!("/v2/multi/manifests/{}", image.arm64_manifest_digest),
            "/v2/multi/manifests/1".to_string(),
        ]
    );

    // The index and both manifests are stored byte for byte; each platform
    // resolves to its own config.
    let addr = registry.addr();
    let raw = skopeo_inspect(&["--raw"], &format!("{addr}/multi:1"));
    assert_eq!(Digest::of(raw.as_bytes()), image.index_digest);
    for (arch, digest) in [
        ("amd64", &image.manifest_digest),
        ("arm64", &image.arm64_manifest_digest),
    ] {
        let raw = skopeo_inspect(&["--raw"], &format!("{addr}/multi@{digest}"));
        assert_eq!(Digest::of(raw.as_bytes()), *digest, "{arch}");
        let inspected: Value = serde_json::from_str(&skopeo_inspect(
            &["--override-arch", arch, "--override-os", "linux"],
            &format!("{addr}/multi:1"),
        ))
        .unwrap();
        assert_eq!(inspected["Architecture"], arch);
    }
    let out = tmp.path().join("copied");
    skopeo_copy(
        &format!("docker://{addr}/multi:1"),
        &format!("oci:{}:copied", out.display()),
        &["--src-tls-verify=false", "--all"],
    );
    assert_eq!(layout_manifest_digest(&out), image.index_digest);
}

#[tokio::test]
async fn registry_failure_is_retried_then_names_the_blob_status_and_message() {
    let image = busybox();
    let tmp = tempfile::tempdir().unwrap();
    let store = imported(tmp.path(), "latest", &["linux/amd64"]);
    let registry = TestRegistry::start_with(RegistrySetup {
        access_log: true,
        ..RegistrySetup::default()
    });
    // A file where the repository's upload directory would go: HEAD answers
    // 404 as usual, every upload session 500 UNKNOWN.
    let repository: PathBuf = registry
        .storage()
        .join("docker/registry/v2/repositories/broken");
    std::fs::create_dir_all(&repository).unwrap();
    std::fs::write(repository.join("_uploads"), "not a directory").unwrap();
    let empty = tmp.path().join("empty-config");
    std::fs::create_dir_all(&empty).unwrap();

    let err = push_image(
        &client_with(&empty, 3),
        &store,
        &image.manifest_digest,
        &reference(&registry, "broken:1"),
        &|_| {},
    )
    .await
    .unwrap_err();

    let config = config_digest(&store, &image.manifest_digest);
    match &err {
        PushError::Upload {
            what: "blob",
            digest,
            status: Some(500),
            message,
            ..
        } => {
            assert!(
                *digest == config || *digest == image.layer_digest,
                "{digest}"
            );
            assert!(message.contains("UNKNOWN"), "{message}");
        }
        other => panic!("expected a 500 on a blob, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("sha256:") && text.contains("HTTP 500"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}/broken:1", registry.addr())),
        "{text}"
    );
    // Three tries of the failing blob's upload session.
    let posts = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v2/broken/blobs/uploads/" && r.status == 500)
        .count();
    assert!(posts >= 3, "{:?}", registry.requests());
}

#[tokio::test]
async fn damaged_blob_in_the_store_fails_the_push_naming_it() {
    let image = busybox();
    let tmp = tempfile::tempdir().unwrap();
    let store = imported(tmp.path(), "latest", &["linux/amd64"]);
    let registry = TestRegistry::start();
    // Same size, different bytes.
    let path = store.path(&image.layer_digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, &bytes).unwrap();

    let err = push_image(
        &client(tmp.path()),
        &store,
        &image.manifest_digest,
        &reference(&registry, "app:1"),
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, PushError::Store { digest, .. } if *digest == image.layer_digest),
        "{err:?}"
    );
    assert!(err.to_string().contains("damaged"), "{err}");
}

#[tokio::test]
async fn target_digest_other_than_the_image_is_refused_before_sending_anything() {
    let image = busybox();
    let tmp = tempfile::tempdir().unwrap();
    let store = imported(tmp.path(), "latest", &["linux/amd64"]);
    let target =
        Reference::parse(&format!("127.0.0.1:1/app@{}", image.arm64_manifest_digest)).unwrap();
    let err = push_image(
        &client(tmp.path()),
        &store,
        &image.manifest_digest,
        &target,
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PushError::TargetDigest { .. }), "{err:?}");
}
