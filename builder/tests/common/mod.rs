//! Test helpers for the image tests: a busybox image built from Debian's
//! busybox-static in every format hoist reads (OCI layout, OCI archive,
//! docker-save tar), and [`TestRegistry`], Debian's `docker-registry` on a
//! free 127.0.0.1 port.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code)]

pub mod image;
pub mod registry;
// One tree-listing helper for both crates' tests.
#[path = "../../../snapshotter/tests/common/tree.rs"]
pub mod tree;

use std::path::Path;
use std::process::Command;

/// Runs a command and panics with its output if it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is the Debian package installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `skopeo copy` with the flags every test wants.
pub fn skopeo_copy(src: &str, dest: &str, extra: &[&str]) {
    run(Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
        ])
        .args(extra)
        .arg(src)
        .arg(dest));
}

/// Standard base64 (for `config.json`'s `auth` field).
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes a docker `config.json` into `dir`.
pub fn write_docker_config(dir: &Path, json: &serde_json::Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(json).unwrap(),
    )
    .unwrap();
}
