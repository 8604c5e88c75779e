//! Shared helpers of the sandbox's end-to-end tests: a busybox rootfs built
//! from the host's /bin/busybox, running a spec through the real
//! `hoist __sandbox-init` entry while collecting its output, an overlay
//! mount, and host process and CPU-time probes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hoist_builder::exec::{
    self, CancelToken, ExecError, ExitStatus, Network, ResolvedUser, RunOutcome, RunSpec, Stream,
};

pub const BUSYBOX: &str = "/bin/busybox";

/// A throwaway rootfs: busybox and its applets in /bin, passwd, group, tmp.
pub struct Rootfs {
    pub dir: tempfile::TempDir,
}

impl Rootfs {
    pub fn new() -> Self {
        assert!(
            Path::new(BUSYBOX).is_file(),
            "{BUSYBOX} is missing: install Debian's busybox-static"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["bin", "etc", "tmp", "root", "home/app"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
        let list = std::process::Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
            }
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\napp:x:1000:\naudio:x:29:app\nstaff:x:50:app\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        Rootfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn spec(&self, script: &str) -> RunSpec {
        RunSpec {
            rootfs: self.path().to_path_buf(),
            args: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec!["PATH=/bin".into(), "HOME=/root".into()],
            cwd: "/".into(),
            user: ResolvedUser::default(),
            hostname: "buildbox".into(),
            network: Network::None,
            mounts: vec![],
            etc_hosts: "127.0.0.1 localhost buildbox\n".into(),
            resolv_conf: "nameserver 10.0.2.3\n".into(),
            readonly_rootfs: false,
        }
    }
}

pub fn hoist() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hoist"))
}

/// Everything one run printed, per stream, with the outcome.
pub struct Output {
    pub result: Result<RunOutcome, ExecError>,
    pub stdout: String,
    pub stderr: String,
    pub chunks: Vec<(Stream, Vec<u8>, Instant)>,
}

impl Output {
    pub fn status(&self) -> ExitStatus {
        match &self.result {
            Ok(o) => o.status,
            Err(e) => panic!(
                "run failed: {e}\nstdout: {}\nstderr: {}",
                self.stdout, self.stderr
            ),
        }
    }

    pub fn ok_stdout(&self) -> &str {
        assert_eq!(
            self.status(),
            ExitStatus::Code(0),
            "stderr: {}",
            self.stderr
        );
        &self.stdout
    }
}

pub fn run_with(spec: &RunSpec, cancel: &CancelToken) -> Output {
    let mut chunks = Vec::new();
    let result = exec::run(
        &hoist(),
        spec,
        |stream, bytes| chunks.push((stream, bytes.to_vec(), Instant::now())),
        cancel,
    );
    let text = |wanted| {
        let bytes: Vec<u8> = chunks
            .iter()
            .filter(|(s, _, _)| *s == wanted)
            .flat_map(|(_, b, _)| b.clone())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Output {
        stdout: text(Stream::Stdout),
        stderr: text(Stream::Stderr),
        result,
        chunks,
    }
}

pub fn run(spec: &RunSpec) -> Output {
    run_with(spec, &CancelToken::new())
}

/// Host processes whose command line contains `marker`.
pub fn host_processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(cmdline);
            }
        }
    }
    found
}

/// An overlay mount of `lower`, unmounted on drop.
pub struct Overlay {
    dir: tempfile::TempDir,
}

impl Overlay {
    pub fn new(lower: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for d in ["upper", "work", "merged"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            dir.path().join("upper").display(),
            dir.path().join("work").display()
        );
        let status = std::process::Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &options])
            .arg(dir.path().join("merged"))
            .status()
            .unwrap();
        assert!(status.success(), "mounting the overlay failed");
        Overlay { dir }
    }

    pub fn merged(&self) -> PathBuf {
        self.dir.path().join("merged")
    }

    pub fn upper(&self) -> PathBuf {
        self.dir.path().join("upper")
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.merged())
            .status();
    }
}

pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

/// User and system time of this process and its reaped descendants, from
/// /proc/self/stat (clock ticks of 10 ms; fine over hundreds of runs).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = after_comm
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().unwrap())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}
