//! Golden tests against real BuildKit: every case folder under tests/golden/
//! holds a Dockerfile (FROM hoist-golden/busybox:latest), an optional
//! context.sh that creates the build context, optional build-args, and
//! expected.txt, the listing of the filesystem BuildKit produced (recorded by
//! tests/golden/record.sh with dockerd; see tests/golden/README.md). This test
//! builds each case with the real hoist binary (`-o type=local`), lists the
//! result in the same format and reports every case that differs at once.
//! A case folder with a KNOWN_DIFFERENCE file is left out of the comparison
//! (the file says why). Needs root (RUN steps), umoci and busybox-static.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use hoist_snapshotter::digest::Digest;

const BASE_NAME: &str = "hoist-golden/busybox:latest";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The busybox base image as an OCI layout, made by the same script that
/// made the image record.sh loads into dockerd.
fn busybox_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("busybox");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/make-busybox-layout.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&layout)
        .output()
        .expect("running examples/make-busybox-layout.sh");
    assert!(
        out.status.success(),
        "make-busybox-layout.sh failed (needs umoci and busybox-static): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    layout
}

/// One line per entry below `root`, sorted, in the format of
/// tests/golden/list.py: `path type mode uid:gid size content [links=N]`.
/// Applet links `bin/NAME -> busybox` are left out; hard links are counted
/// by inode within the tree.
fn listing(root: &Path) -> Vec<String> {
    let mut entries = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
            }
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            entries.push((rel, path, meta));
        }
    }
    let mut names_per_inode: HashMap<(u64, u64), usize> = HashMap::new();
    for (_, _, meta) in &entries {
        if meta.is_file() {
            *names_per_inode.entry((meta.dev(), meta.ino())).or_default() += 1;
        }
    }
    let mut lines = Vec::new();
    for (rel, path, meta) in &entries {
        let ft = meta.file_type();
        let (kind, size, content) = if ft.is_symlink() {
            let target = std::fs::read_link(path).unwrap().display().to_string();
            let parent_is_bin = Path::new(rel).parent() == Some(Path::new("bin"));
            if parent_is_bin && target == "busybox" {
                continue;
            }
            ("l", "-".to_string(), target)
        } else if ft.is_file() {
            let bytes = std::fs::read(path).unwrap();
            let hex = Digest::of(&bytes).hex().to_string();
            ("f", meta.len().to_string(), hex)
        } else {
            use std::os::unix::fs::FileTypeExt;
            let kind = if ft.is_dir() {
                "d"
            } else if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else if ft.is_fifo() {
                "p"
            } else {
                "s"
            };
            (kind, "-".to_string(), "-".to_string())
        };
        let mut line = format!(
            "{rel} {kind} {:04o} {}:{} {size} {content}",
            meta.mode() & 0o7777,
            meta.uid(),
            meta.gid()
        );
        if kind == "f" {
            let names = names_per_inode[&(meta.dev(), meta.ino())];
            if names > 1 {
                write!(line, " links={names}").unwrap();
            }
        }
        lines.push(line);
    }
    lines.sort();
    lines
}

fn expected_lines(case: &Path) -> Vec<String> {
    let path = case.join("expected.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run tests/golden/record.sh)", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Builds `case` with hoist; returns the listing of its output or the build's error.
fn build_with_hoist(case: &Path, layout: &Path, work: &Path) -> Result<Vec<String>, String> {
    let context = work.join("context");
    let out = work.join("out");
    std::fs::create_dir_all(&context).unwrap();
    let generator = case.join("context.sh");
    if generator.exists() {
        let status = Command::new("sh")
            .arg(&generator)
            .current_dir(&context)
            .status()
            .unwrap();
        assert!(status.success(), "{} failed", generator.display());
    }
    std::fs::copy(case.join("Dockerfile"), context.join("Dockerfile")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
    cmd.arg("build")
        .arg("--root")
        .arg(work.join("root"))
        .args(["--progress", "plain", "--build-context"])
        .arg(format!(
            "{BASE_NAME}=oci-layout://{}:latest",
            layout.display()
        ))
        .arg("-o")
        .arg(format!("type=local,dest={}", out.display()));
    if let Ok(args) = std::fs::read_to_string(case.join("build-args")) {
        for kv in args.lines().filter(|l| !l.trim().is_empty()) {
            cmd.args(["--build-arg", kv]);
        }
    }
    let result = cmd.arg(&context).output().unwrap();
    if !result.status.success() {
        return Err(format!(
            "hoist build failed: {}",
            String::from_utf8_lossy(&result.stderr)
        ));
    }
    Ok(listing(&out))
}

/// Lines only in `expected` (-) and only in `actual` (+).
fn diff(expected: &[String], actual: &[String]) -> String {
    let mut out = String::new();
    for line in expected.iter().filter(|l| !actual.contains(l)) {
        writeln!(out, "  - {line}").unwrap();
    }
    for line in actual.iter().filter(|l| !expected.contains(l)) {
        writeln!(out, "  + {line}").unwrap();
    }
    out
}

fn case_dirs() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden is missing")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no case folders in tests/golden");
    cases
}

#[test]
fn hoist_builds_the_same_filesystem_as_buildkit_for_every_golden_case() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    let mut failures = String::new();
    let mut compared = 0;
    for case in case_dirs() {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        if case.join("KNOWN_DIFFERENCE").exists() {
            eprintln!("golden case {name}: skipped, see its KNOWN_DIFFERENCE");
            continue;
        }
        let expected = expected_lines(&case);
        let work = tmp.path().join("cases").join(&name);
        match build_with_hoist(&case, &layout, &work) {
            Err(e) => writeln!(failures, "{name}: {e}").unwrap(),
            Ok(actual) if actual != expected => writeln!(
                failures,
                "{name}: differs from BuildKit\n{}",
                diff(&expected, &actual)
            )
            .unwrap(),
            Ok(_) => {}
        }
        compared += 1;
    }
    assert!(compared > 0, "every golden case is marked KNOWN_DIFFERENCE");
    assert!(failures.is_empty(), "golden cases differ:\n{failures}");
}
