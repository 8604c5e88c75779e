//! A busybox image made from Debian's busybox-static: `/bin/busybox`, one
//! symlink per applet from `busybox --list`, `etc/passwd` (root, nobody),
//! `etc/group`, `tmp` with mode 1777. The layer is written by GNU tar with
//! deterministic settings and compressed with `gzip -n`; the config,
//! manifests and `index.json` are written here. The OCI layout holds:
//!
//! - tag `latest`: the linux/amd64 image;
//! - tag `multi`: an index of linux/amd64 and linux/arm64 (same layer,
//!   configs differing in `architecture`).
//!
//! `skopeo` turns it into an OCI archive and a docker-save tar.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use hoist_snapshotter::digest::Digest;
use serde_json::json;

use super::{run, skopeo_copy};

/// The busybox image in every format, built once per test binary.
pub struct BusyboxImage {
    /// Keeps the files alive for the whole test binary.
    _dir: tempfile::TempDir,
    pub rootfs: PathBuf,
    /// The uncompressed layer tar.
    pub layer_tar: PathBuf,
    pub layout: PathBuf,
    pub oci_archive: PathBuf,
    pub docker_archive: PathBuf,
    pub diff_id: Digest,
    pub layer_digest: Digest,
    /// The linux/amd64 manifest (tag `latest`).
    pub manifest_digest: Digest,
    pub arm64_manifest_digest: Digest,
    pub index_digest: Digest,
}

/// The shared busybox image.
pub fn busybox() -> &'static BusyboxImage {
    static IMAGE: OnceLock<BusyboxImage> = OnceLock::new();
    IMAGE.get_or_init(build_busybox)
}

/// Makes the busybox root filesystem in `root`.
pub fn make_busybox_rootfs(root: &Path) {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "/bin/busybox is missing: install Debian's busybox-static"
    );
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::copy(busybox, root.join("bin/busybox")).unwrap();
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    let list = run(Command::new(busybox).arg("--list"));
    for applet in list.lines().map(str::trim).filter(|a| !a.is_empty()) {
        if applet != "busybox" && !applet.contains('/') {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
    }
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::create_dir_all(root.join("root")).unwrap();
    fs::set_permissions(root.join("root"), fs::Permissions::from_mode(0o700)).unwrap();
}

/// Writes `bytes` as a blob of the layout; returns its digest.
pub fn write_blob(layout: &Path, bytes: &[u8]) -> Digest {
    let d = Digest::of(bytes);
    let dir = layout.join("blobs/sha256");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(d.hex()), bytes).unwrap();
    d
}

/// An image config for the busybox layer.
pub fn busybox_config(arch: &str, diff_id: &Digest) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"],
            "WorkingDir": "/",
            "Labels": {"org.hoist.test": "busybox"}
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "hoist test: busybox rootfs"}]
    }))
    .unwrap()
}

/// Writes an OCI manifest for `config` and one gzip layer; returns
/// (digest, size).
pub fn write_manifest(
    layout: &Path,
    config: &[u8],
    layer: &Digest,
    layer_size: u64,
) -> (Digest, u64) {
    let config_digest = write_blob(layout, config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest.to_string(),
            "size": config.len()
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer.to_string(),
            "size": layer_size
        }]
    }))
    .unwrap();
    (write_blob(layout, &manifest), manifest.len() as u64)
}

/// Creates a GNU tar of `rootfs`, deterministic (sorted, owner 0, mtime 0).
pub fn gnu_tar(rootfs: &Path, out: &Path) {
    let mut names: Vec<String> = fs::read_dir(rootfs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--format=posix",
            "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "-C",
        ])
        .arg(rootfs)
        .arg("-cf")
        .arg(out)
        .args(&names));
}

fn build_busybox() -> BusyboxImage {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    make_busybox_rootfs(&rootfs);
    let layer_tar = dir.path().join("layer.tar");
    gnu_tar(&rootfs, &layer_tar);
    let gz = run(Command::new("sh").arg("-c").arg(format!(
        "gzip -n -6 -c {} > {}.gz && echo ok",
        layer_tar.display(),
        layer_tar.display()
    )));
    assert_eq!(gz.trim(), "ok");
    let tar_bytes = fs::read(&layer_tar).unwrap();
    let gz_bytes = fs::read(dir.path().join("layer.tar.gz")).unwrap();
    let diff_id = Digest::of(&tar_bytes);

    let layout = dir.path().join("layout");
    fs::create_dir_all(&layout).unwrap();
    let layer_digest = write_blob(&layout, &gz_bytes);
    let layer_size = gz_bytes.len() as u64;
    let (amd64, amd64_size) = write_manifest(
        &layout,
        &busybox_config("amd64", &diff_id),
        &layer_digest,
        layer_size,
    );
    let (arm64, arm64_size) = write_manifest(
        &layout,
        &busybox_config("arm64", &diff_id),
        &layer_digest,
        layer_size,
    );
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd64.to_string(),
             "size": amd64_size, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm64.to_string(),
             "size": arm64_size, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
        ]
    }))
    .unwrap();
    let index_digest = write_blob(&layout, &index);
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let top = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd64.to_string(),
             "size": amd64_size, "annotations": {"org.opencontainers.image.ref.name": "latest"}},
            {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest.to_string(),
             "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": "multi"}}
        ]
    });
    fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();

    let oci_archive = dir.path().join("busybox-oci.tar");
    skopeo_copy(
        &format!("oci:{}:latest", layout.display()),
        &format!("oci-archive:{}:latest", oci_archive.display()),
        &[],
    );
    let docker_archive = dir.path().join("busybox-docker.tar");
    skopeo_copy(
        &format!("oci:{}:latest", layout.display()),
        &format!("docker-archive:{}:busybox:latest", docker_archive.display()),
        &[],
    );
    BusyboxImage {
        rootfs,
        layer_tar,
        layout,
        oci_archive,
        docker_archive,
        diff_id,
        layer_digest,
        manifest_digest: amd64,
        arm64_manifest_digest: arm64,
        index_digest,
        _dir: dir,
    }
}
