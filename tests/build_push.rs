//! Pushing images to a registry (Debian's `docker-registry` on 127.0.0.1):
//! `hoist build --push`, read back with skopeo and pulled again by hoist on
//! a fresh data root; a second push of the same image sends no blob; and
//! `hoist push` of an image from the local store.

mod build_support;

use build_support::registry::Registry;
use build_support::{Project, sh};

const DOCKERFILE: &str = "FROM busybox\nRUN echo pushed > /pushed.txt\n";

fn skopeo_digest(reference: &str) -> String {
    let json = sh(&format!(
        "skopeo inspect --tls-verify=false docker://{reference}"
    ));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

/// The "pushing ..." phase events of a build.
fn push_phases(o: &build_support::Outcome) -> Vec<String> {
    o.events
        .iter()
        .filter(|e| e["event"] == "phase")
        .filter_map(|e| e["name"].as_str())
        .filter(|n| n.starts_with("pushing"))
        .map(str::to_string)
        .collect()
}

/// `(item, bytes)` of the finished byte transfers of `task`.
fn finished_transfers(o: &build_support::Outcome, task: &str) -> Vec<(String, u64)> {
    o.events
        .iter()
        .filter(|e| e["event"] == "transfer" && e["task"] == task)
        .filter(|e| e["total"].as_u64().is_some() && e["current"] == e["total"])
        .map(|e| {
            (
                e["item"].as_str().unwrap_or("").to_string(),
                e["current"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// `hoist inspect NAME` as JSON (`Manifest`, `Config`, ...).
fn inspect(p: &Project, name: &str) -> serde_json::Value {
    serde_json::from_str(&p.command_ok("inspect", &[name])).unwrap()
}

#[test]
fn build_push_is_read_back_by_skopeo_and_pulled_again_by_hoist() {
    let registry = Registry::start();
    let name = format!("{}/app:v1", registry.addr());
    let p = Project::new(DOCKERFILE);
    let first = p
        .build()
        .args(["-t", &name, "--push"])
        .arg("--build-arg=SOURCE_DATE_EPOCH=1700000000")
        .output("type=image")
        .ok();
    let phases = push_phases(&first);
    assert_eq!(phases.len(), 1, "{phases:?}");
    assert!(!phases[0].contains("(0 blobs uploaded"), "{phases:?}");
    // Every blob sent shows as a finished byte transfer of the push.
    let pushed = finished_transfers(&first, &format!("pushing {name}"));
    assert!(pushed.len() >= 2, "config and layer: {pushed:?}");
    let digest = skopeo_digest(&name);
    assert!(digest.starts_with("sha256:"));

    // The same image again: the registry has every blob, nothing is sent.
    let second = p
        .build()
        .args(["-t", &name, "--push"])
        .arg("--build-arg=SOURCE_DATE_EPOCH=1700000000")
        .output("type=image")
        .ok();
    let phases = push_phases(&second);
    assert!(phases[0].contains("(0 blobs uploaded"), "{phases:?}");
    let pushed = finished_transfers(&second, &format!("pushing {name}"));
    assert!(pushed.is_empty(), "no blob bytes sent again: {pushed:?}");
    assert_eq!(skopeo_digest(&name), digest, "same inputs, same image");

    // Pulled again, by hoist, on a fresh data root.
    let child = Project::new(&format!("FROM {name}\nRUN cat /pushed.txt > /seen.txt\n"));
    let pulled = child.build().ok();
    let blobs = finished_transfers(&pulled, &format!("pulling {name}"));
    assert!(
        blobs.len() >= 2,
        "pulled blobs are shown: {:?}",
        pulled.events
    );
    assert_eq!(child.read_out("seen.txt"), "pushed\n");
}

#[test]
fn hoist_push_sends_a_stored_image_under_another_name_with_its_plain_layers_gzipped() {
    let registry = Registry::start();
    let p = Project::new(DOCKERFILE);
    p.build()
        .args(["-t", "app:local"])
        .output("type=image")
        .ok();
    let target = format!("{}/other/app:v2", registry.addr());
    let pushed_manifest = p
        .command_ok("push", &["app:local", &target])
        .trim()
        .to_string();
    assert_eq!(skopeo_digest(&target), pushed_manifest);
    // The store keeps the built layer as a plain tar; the registry gets it
    // gzipped, with the same config (diff_ids), hence the same image id.
    let stored = inspect(&p, "app:local");
    let stored_layers = stored["Manifest"]["layers"].as_array().unwrap();
    let built = stored_layers.last().unwrap();
    assert_eq!(
        built["mediaType"], "application/vnd.oci.image.layer.v1.tar",
        "{stored}"
    );
    let raw: serde_json::Value = serde_json::from_str(&sh(&format!(
        "skopeo inspect --raw --tls-verify=false docker://{target}"
    )))
    .unwrap();
    let pushed_layers = raw["layers"].as_array().unwrap();
    assert_eq!(pushed_layers.len(), stored_layers.len());
    assert_eq!(
        pushed_layers.last().unwrap()["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "{raw}"
    );
    assert_eq!(
        raw["config"]["digest"],
        stored["Manifest"]["config"]["digest"]
    );
    // Pushed again: the gzipped blob was memoised, nothing is sent.
    let again = p.command("push", &["app:local", &target]);
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        pushed_manifest
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("0 blobs uploaded"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let missing = p.command("push", &["no-such-image", &target]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-image"));
}
