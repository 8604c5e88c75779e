//! Shared by the `export_*` tests: the busybox base image (made once per
//! test binary by `examples/make-busybox-layout.sh`), a scratch workspace
//! with its own data root, and running the real `hoist` binary.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const HOIST: &str = env!("CARGO_BIN_EXE_hoist");

/// The busybox OCI layout (tag `latest`), made once and shared.
pub fn busybox() -> &'static Path {
    static LAYOUT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = LAYOUT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busybox");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/make-busybox-layout.sh"
        );
        let out = Command::new(script).arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "make-busybox-layout.sh failed (needs busybox-static and umoci): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (dir, path)
    });
    path
}

/// A temporary directory with a build context and a data root.
pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    /// A workspace whose context holds `dockerfile` (and `greeting.txt`).
    pub fn new(dockerfile: &str) -> Work {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ctx")).unwrap();
        std::fs::write(dir.path().join("ctx/Dockerfile"), dockerfile).unwrap();
        std::fs::write(dir.path().join("ctx/greeting.txt"), "Hello from hoist!\n").unwrap();
        Work { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn root(&self) -> PathBuf {
        self.path("root")
    }

    /// `hoist build --root ROOT --build-context busybox=… ARGS… ctx`.
    pub fn build(&self, args: &[&str]) -> Output {
        self.build_in(&self.root(), args, &[])
    }

    pub fn build_in(&self, root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(HOIST);
        cmd.arg("build")
            .arg("--root")
            .arg(root)
            .args(["--progress", "plain"])
            .arg("--build-context")
            .arg(format!(
                "busybox=oci-layout://{}:latest",
                busybox().display()
            ))
            .args(args)
            .arg(self.path("ctx"))
            .env_remove("SOURCE_DATE_EPOCH");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// `hoist ARGS… --root ROOT`.
    pub fn hoist(&self, args: &[&str]) -> Output {
        Command::new(HOIST)
            .args(args)
            .arg("--root")
            .arg(self.root())
            .output()
            .unwrap()
    }
}

/// Panics with both streams unless the command succeeded; returns stdout.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a tool (skopeo, umoci, tar) and returns its stdout; panics on failure.
pub fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}"));
    ok(out)
}

/// `skopeo inspect [--config] REF` as JSON.
pub fn skopeo_inspect(reference: &str, config: bool) -> serde_json::Value {
    let mut args = vec!["inspect"];
    if config {
        args.push("--config");
    }
    args.push(reference);
    serde_json::from_str(&tool("skopeo", &args)).unwrap()
}

/// The hello example: two stages, COPY --from, RUN, CMD.
pub const HELLO: &str = "FROM busybox AS build
WORKDIR /src
COPY greeting.txt .
RUN mkdir -p /out && { echo '#!/bin/sh'; echo 'cat /usr/share/hello/greeting.txt'; } > /out/hello && chmod 0755 /out/hello
FROM busybox
COPY --from=build /out/hello /usr/local/bin/hello
COPY greeting.txt /usr/share/hello/
RUN hello > /hello.out
CMD [\"hello\"]
";
