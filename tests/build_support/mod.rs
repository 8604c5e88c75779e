//! Shared helpers of the `hoist build` end-to-end tests: a busybox OCI layout
//! made once per test binary, a throwaway project (context dir + Dockerfile)
//! with its own `--root`, running the real binary with `--progress rawjson`,
//! and reading its events back.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

pub mod arm64;
pub mod registry;

pub fn hoist() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hoist"))
}

/// The busybox OCI layout (tag `latest`), made once per test binary by
/// `examples/make-busybox-layout.sh`.
pub fn busybox_layout() -> &'static Path {
    static LAYOUT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &LAYOUT
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let layout = dir.path().join("busybox");
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/make-busybox-layout.sh"
            );
            let out = Command::new(script).arg(&layout).output().unwrap();
            assert!(
                out.status.success(),
                "make-busybox-layout.sh failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            (dir, layout)
        })
        .1
}

/// A build context with its Dockerfile, a private data root and an output dir.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new(dockerfile: &str) -> Project {
        let p = Project {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(p.context()).unwrap();
        p.write("Dockerfile", dockerfile);
        p
    }

    pub fn context(&self) -> PathBuf {
        self.dir.path().join("ctx")
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Runs `hoist SUBCOMMAND --root ROOT ARGS...` on this project's root.
    pub fn command(&self, subcommand: &str, args: &[&str]) -> std::process::Output {
        std::process::Command::new(hoist())
            .args([subcommand, "--root"])
            .arg(self.root())
            .args(args)
            .output()
            .unwrap()
    }

    /// [`Project::command`] that must succeed; its stdout.
    pub fn command_ok(&self, subcommand: &str, args: &[&str]) -> String {
        let out = self.command(subcommand, args);
        assert!(
            out.status.success(),
            "hoist {subcommand} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Writes `text` at `rel` inside the context, creating parents.
    pub fn write(&self, rel: &str, text: &str) -> &Project {
        let path = self.context().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// A build with the busybox base, exporting to `out()` (cleared first).
    pub fn build(&self) -> Build {
        Build {
            args: vec![
                "build".into(),
                "--root".into(),
                self.root().display().to_string(),
                "--progress".into(),
                "rawjson".into(),
                "--build-context".into(),
                format!("busybox=oci-layout://{}:latest", busybox_layout().display()),
            ],
            out: self.out(),
            context: self.context(),
            local_output: true,
        }
    }

    /// Reads a file of the last exported filesystem.
    pub fn read_out(&self, rel: &str) -> String {
        let p = self.out().join(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub fn out_has(&self, rel: &str) -> bool {
        self.out().join(rel).symlink_metadata().is_ok()
    }
}

/// One `hoist build` command line being assembled.
pub struct Build {
    pub args: Vec<String>,
    out: PathBuf,
    context: PathBuf,
    local_output: bool,
}

impl Build {
    pub fn arg(mut self, a: impl Into<String>) -> Build {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Build {
        self.args.extend(a.into_iter().map(Into::into));
        self
    }

    /// Uses `--progress MODE` instead of rawjson (events are then not parsed).
    pub fn progress(mut self, mode: &str) -> Build {
        let i = self.args.iter().position(|a| a == "--progress").unwrap();
        self.args[i + 1] = mode.to_string();
        self
    }

    /// Exports elsewhere (`-o SPEC`) instead of the project's `out()`.
    pub fn output(mut self, spec: impl Into<String>) -> Build {
        self.local_output = false;
        self.args.push("-o".into());
        self.args.push(spec.into());
        self
    }

    pub fn command(&self) -> Command {
        let mut args = self.args.clone();
        if self.local_output {
            let _ = std::fs::remove_dir_all(&self.out);
            args.push("-o".into());
            args.push(format!("type=local,dest={}", self.out.display()));
        }
        args.push(self.context.display().to_string());
        let mut cmd = Command::new(hoist());
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    pub fn run(&self) -> Outcome {
        Outcome::from_output(self.command().output().unwrap())
    }

    /// Runs and asserts success.
    pub fn ok(&self) -> Outcome {
        let o = self.run();
        assert!(o.success(), "hoist build failed:\n{}", o.stderr);
        o
    }

    /// Runs and asserts failure with exit code 1.
    pub fn fails(&self) -> Outcome {
        let o = self.run();
        assert_eq!(o.code, Some(1), "hoist build should fail:\n{}", o.stderr);
        o
    }
}

/// What one build printed.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub events: Vec<Value>,
}

impl Outcome {
    pub fn from_output(out: Output) -> Outcome {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let events = stderr
            .lines()
            .filter(|l| l.starts_with('{'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        Outcome {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
            events,
        }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Vertex index → display name, from `started` and `cached` events.
    pub fn names(&self) -> BTreeMap<u64, String> {
        self.events
            .iter()
            .filter_map(|e| Some((e["vertex"].as_u64()?, e["name"].as_str()?.to_string())))
            .collect()
    }

    fn named(&self, kind: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == kind)
            .filter_map(|e| e["name"].as_str().map(str::to_string))
            .collect()
    }

    /// Names of the vertices that ran.
    pub fn started(&self) -> Vec<String> {
        self.named("started")
    }

    /// Names of the vertices that came from the cache.
    pub fn cached(&self) -> Vec<String> {
        self.named("cached")
    }

    /// Names of RUN/COPY/ADD/WORKDIR steps that ran (sources excluded).
    pub fn steps_run(&self) -> Vec<String> {
        self.started().into_iter().filter(|n| is_step(n)).collect()
    }

    /// The names that ran and contain `needle`.
    pub fn ran(&self, needle: &str) -> bool {
        self.started().iter().any(|n| n.contains(needle))
    }

    /// Index in `events` of the first event of `kind` for the vertex whose
    /// name contains `needle`.
    pub fn position(&self, kind: &str, needle: &str) -> Option<usize> {
        let names = self.names();
        self.events.iter().position(|e| {
            e["event"] == kind
                && e["vertex"]
                    .as_u64()
                    .and_then(|v| names.get(&v))
                    .is_some_and(|n| n.contains(needle))
        })
    }

    pub fn warnings(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == "warning")
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .collect()
    }

    /// The concatenated log output of the vertex whose name contains `needle`.
    pub fn log_of(&self, needle: &str) -> String {
        let names = self.names();
        self.events
            .iter()
            .filter(|e| e["event"] == "log")
            .filter(|e| {
                e["vertex"]
                    .as_u64()
                    .and_then(|v| names.get(&v))
                    .is_some_and(|n| n.contains(needle))
            })
            .filter_map(|e| e["data"].as_str())
            .collect()
    }
}

/// Whether a vertex name is a build step (not a source or the context load).
pub fn is_step(name: &str) -> bool {
    ["RUN ", "COPY ", "ADD ", "WORKDIR "]
        .iter()
        .any(|k| name.contains(&format!("] {k}")))
}

/// Runs a host command and returns its stdout, asserting success.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
