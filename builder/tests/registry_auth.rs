//! Pulling from a registry behind htpasswd basic auth, with credentials from
//! a docker `config.json`: an `auths` entry, and a `credHelpers` entry and a
//! `credsStore` that run a `docker-credential-test` script found on PATH.
//!
//! One test in its own binary: it puts the helper's directory on PATH.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::image::busybox;
use common::registry::TestRegistry;
use common::{base64, write_docker_config};
use hoist_builder::registry::{Reference, RegistryClient, RegistryError, RegistryOptions};
use hoist_builder::source::image::platform::Platform;
use hoist_snapshotter::content::ContentStore;
use serde_json::json;

fn client(config_dir: &Path) -> RegistryClient {
    RegistryClient::new(RegistryOptions {
        docker_config_dir: Some(config_dir.to_path_buf()),
        retry_delay: Duration::from_millis(20),
        ..RegistryOptions::default()
    })
}

fn store(dir: &Path) -> ContentStore {
    ContentStore::open(dir).unwrap()
}

#[tokio::test]
async fn basic_auth_from_auths_and_from_a_credential_helper() {
    let image = busybox();
    let registry = TestRegistry::start_with_auth("hoist", "s3cret");
    registry.push_layout(&image.layout, "latest", "busybox", "latest");
    let reference = Reference::parse(&format!("{}/busybox", registry.addr())).unwrap();
    let platform: Platform = "linux/amd64".parse().unwrap();
    let tmp = tempfile::tempdir().unwrap();

    // No credentials: refused, and the error says so.
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let err = client(&empty)
        .pull(&reference, &platform, &store(&tmp.path().join("s0")))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains(&registry.addr()), "{err}");

    // Wrong password: refused too.
    let wrong = tmp.path().join("wrong");
    write_docker_config(
        &wrong,
        &json!({"auths": {registry.addr(): {"auth": base64(b"hoist:nope")}}}),
    );
    let err = client(&wrong)
        .pull(&reference, &platform, &store(&tmp.path().join("s1")))
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err:?}");

    // An `auths` entry.
    let auths = tmp.path().join("auths");
    write_docker_config(
        &auths,
        &json!({"auths": {registry.addr(): {"auth": base64(b"hoist:s3cret")}}}),
    );
    let pulled = client(&auths)
        .pull(&reference, &platform, &store(&tmp.path().join("s2")))
        .await
        .unwrap();
    assert_eq!(pulled.manifest_digest, image.manifest_digest);

    // A credential helper on PATH, named in `credHelpers`.
    let bin = tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let asked = tmp.path().join("asked");
    let helper = bin.join("docker-credential-test");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nprintf '%s' \"$server\" > {}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"hoist\",\"Secret\":\"s3cret\"}}' \"$server\"\n",
            asked.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // SAFETY: the only test of this binary; nothing else reads the
    // environment concurrently at this point.
    unsafe { std::env::set_var("PATH", path) };
    let helpers = tmp.path().join("helpers");
    write_docker_config(&helpers, &json!({"credHelpers": {registry.addr(): "test"}}));
    let pulled = client(&helpers)
        .pull(&reference, &platform, &store(&tmp.path().join("s3")))
        .await
        .unwrap();
    assert_eq!(pulled.manifest_digest, image.manifest_digest);
    assert_eq!(fs::read_to_string(&asked).unwrap(), registry.addr());

    // The same helper as the global `credsStore`.
    fs::remove_file(&asked).unwrap();
    let store_cfg = tmp.path().join("store");
    write_docker_config(&store_cfg, &json!({"credsStore": "test"}));
    let pulled = client(&store_cfg)
        .pull(&reference, &platform, &store(&tmp.path().join("s4")))
        .await
        .unwrap();
    assert_eq!(pulled.manifest_digest, image.manifest_digest);
    assert_eq!(fs::read_to_string(&asked).unwrap(), registry.addr());
}
