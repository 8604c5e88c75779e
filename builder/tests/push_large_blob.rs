//! A push streams a large layer from the content store file: the process's
//! peak memory grows by far less than the layer, and the registry stores
//! exactly the layer's bytes.
//!
//! One test in its own binary: it reads this process's peak RSS (`VmHWM`).

mod common;

use std::io::Read;
use std::time::Duration;

use common::registry::{RegistrySetup, TestRegistry};
use hoist_builder::registry::{PushEvent, Reference, RegistryClient, RegistryOptions, push_image};
use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::digest::{Digest, Digester};
use serde_json::json;

const LAYER_BYTES: u64 = 64 * 1024 * 1024;

/// Peak resident memory of this process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Pseudo-random bytes (xorshift), streamed: never all in memory.
struct Noise {
    state: u64,
    left: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left as usize) / 8 * 8;
        let n = if n == 0 {
            buf.len().min(self.left as usize)
        } else {
            n
        };
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn put_json(store: &ContentStore, value: &serde_json::Value) -> (Digest, u64) {
    let bytes = serde_json::to_vec(value).unwrap();
    (
        store.write_bytes(&bytes, None, "test").unwrap(),
        bytes.len() as u64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_layer_is_streamed_from_the_store_not_held_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ContentStore::open(tmp.path().join("content")).unwrap();
    let (layer, layer_size) = store
        .write_from(
            Noise {
                state: 0x9e37_79b9_7f4a_7c15,
                left: LAYER_BYTES,
            },
            None,
            Some(LAYER_BYTES),
            "noise",
        )
        .unwrap();
    let config = put_json(
        &store,
        &json!({"architecture": "amd64", "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [layer.to_string()]}}),
    );
    let (manifest, _) = put_json(
        &store,
        &json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config.0.to_string(), "size": config.1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer.to_string(), "size": layer_size}],
        }),
    );
    let registry = TestRegistry::start_with(RegistrySetup::default());
    let config_dir = tmp.path().join("docker-config");
    std::fs::create_dir_all(&config_dir).unwrap();
    let client = RegistryClient::new(RegistryOptions {
        docker_config_dir: Some(config_dir),
        retry_delay: Duration::from_millis(20),
        ..RegistryOptions::default()
    });
    let target = Reference::parse(&format!("{}/big:1", registry.addr())).unwrap();
    let progress_events = std::sync::atomic::AtomicUsize::new(0);
    let progress = |e: PushEvent| {
        if matches!(e, PushEvent::Blob { .. }) {
            progress_events.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    };

    let before = peak_rss();
    let report = push_image(&client, &store, &manifest, &target, &progress)
        .await
        .unwrap();
    let grown = peak_rss().saturating_sub(before);

    assert_eq!(report.uploaded, vec![config.0.clone(), layer.clone()]);
    assert_eq!(report.bytes_uploaded, layer_size + config.1);
    assert!(
        grown < LAYER_BYTES / 3,
        "peak RSS grew by {} MiB pushing a {} MiB layer",
        grown >> 20,
        LAYER_BYTES >> 20
    );
    // Progress came in pieces, not only at the start and the end.
    assert!(
        progress_events.load(std::sync::atomic::Ordering::Relaxed) > 6,
        "{progress_events:?}"
    );
    // The registry holds exactly the layer.
    let stored = std::fs::File::open(registry.blob_data_path(&layer)).unwrap();
    let (digest, size) = Digester::digest_reader(stored).unwrap();
    assert_eq!((digest, size), (layer, layer_size));
}
