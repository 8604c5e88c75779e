//! `hoist build` says why a step missed the cache: build args, context
//! files, ENV values and base images, as rawjson `cache_miss` events (always)
//! and plain `#N cache miss: ...` lines (with `--explain-cache`).

use std::path::{Path, PathBuf};
use std::process::Command;

const HOIST: &str = env!("CARGO_BIN_EXE_hoist");

fn busybox_layout(dir: &Path) -> PathBuf {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/make-busybox-layout.sh"
    );
    let out = dir.join("busybox");
    let st = Command::new("bash")
        .arg(script)
        .arg(&out)
        .status()
        .expect("run make-busybox-layout.sh");
    assert!(st.success(), "make-busybox-layout.sh failed");
    out
}

/// A copy of `layout` with one more file (`/extra`) in a second layer.
fn layout_with_extra_file(layout: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("busybox2");
    let bundle = dir.join("bundle");
    let sh = format!(
        "set -e; cp -a {l} {o}; umoci unpack --image {o}:latest {b} >/dev/null; \
         echo extra > {b}/rootfs/extra; umoci repack --image {o}:latest {b}; umoci gc --layout {o}",
        l = layout.display(),
        o = out.display(),
        b = bundle.display()
    );
    let st = Command::new("bash").arg("-c").arg(&sh).status().unwrap();
    assert!(st.success(), "making the second layout failed");
    out
}

struct Build {
    /// (vertex name, reason) of each cache_miss event.
    misses: Vec<(String, String)>,
    stderr: String,
}

fn build(root: &Path, layout: &Path, context: &Path, extra: &[&str]) -> Build {
    let out = Command::new(HOIST)
        .arg("build")
        .arg("--root")
        .arg(root)
        .arg("--build-context")
        .arg(format!("busybox=oci-layout://{}:latest", layout.display()))
        .args(extra)
        .arg(context)
        .output()
        .expect("run hoist");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "hoist build failed:\n{stderr}");
    let mut names = std::collections::HashMap::new();
    let mut misses = Vec::new();
    for line in stderr.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match v["event"].as_str() {
            Some("started") => {
                names.insert(
                    v["vertex"].as_u64(),
                    v["name"].as_str().unwrap().to_string(),
                );
            }
            Some("cache_miss") => misses.push((
                names
                    .get(&v["vertex"].as_u64())
                    .cloned()
                    .unwrap_or_default(),
                v["reason"].as_str().unwrap().to_string(),
            )),
            _ => {}
        }
    }
    Build { misses, stderr }
}

fn reason_of(b: &Build, step: &str) -> String {
    b.misses
        .iter()
        .find(|(n, _)| n.contains(step))
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("no cache miss for {step}:\n{}", b.stderr))
}

const RAWJSON: &[&str] = &["--progress", "rawjson"];

#[test]
fn changed_build_arg_is_named_with_old_and_new_value() {
    let t = tempfile::tempdir().unwrap();
    let layout = busybox_layout(t.path());
    let ctx = t.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nARG VERSION=1.0\nRUN echo $VERSION > /v\n",
    )
    .unwrap();
    let root = t.path().join("root");
    let first = build(&root, &layout, &ctx, RAWJSON);
    assert!(first.misses.is_empty(), "{:?}", first.misses);
    let again = build(
        &root,
        &layout,
        &ctx,
        &["--progress", "rawjson", "--build-arg", "VERSION=1.1"],
    );
    assert_eq!(
        reason_of(&again, "RUN echo"),
        "build arg VERSION changed (1.0 → 1.1)"
    );
    // Plain output shows it only with --explain-cache.
    let plain = build(
        &root,
        &layout,
        &ctx,
        &["--progress", "plain", "--build-arg", "VERSION=1.2"],
    );
    assert!(!plain.stderr.contains("cache miss"), "{}", plain.stderr);
    let explained = build(
        &root,
        &layout,
        &ctx,
        &[
            "--progress",
            "plain",
            "--explain-cache",
            "--build-arg",
            "VERSION=1.3",
        ],
    );
    assert!(
        explained
            .stderr
            .contains("cache miss: build arg VERSION changed (1.2 → 1.3)"),
        "{}",
        explained.stderr
    );
}

#[test]
fn changed_context_file_is_named_and_the_next_step_names_its_parent() {
    let t = tempfile::tempdir().unwrap();
    let layout = busybox_layout(t.path());
    let ctx = t.path().join("ctx");
    std::fs::create_dir_all(ctx.join("src")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nCOPY src /app\nRUN cat /app/a.txt\n",
    )
    .unwrap();
    std::fs::write(ctx.join("src/a.txt"), "one").unwrap();
    std::fs::write(ctx.join("src/b.txt"), "b").unwrap();
    let root = t.path().join("root");
    build(&root, &layout, &ctx, RAWJSON);
    std::fs::write(ctx.join("src/a.txt"), "two").unwrap();
    let again = build(&root, &layout, &ctx, RAWJSON);
    assert_eq!(
        reason_of(&again, "COPY src"),
        "context file src/a.txt changed"
    );
    let run = reason_of(&again, "RUN cat");
    assert!(
        run.starts_with("parent step ") && run.contains("COPY src /app"),
        "{run}"
    );
    std::fs::write(ctx.join("src/c.txt"), "c").unwrap();
    let added = build(&root, &layout, &ctx, RAWJSON);
    assert_eq!(
        reason_of(&added, "COPY src"),
        "context file src/c.txt added"
    );
}

#[test]
fn changed_env_line_is_named() {
    let t = tempfile::tempdir().unwrap();
    let layout = busybox_layout(t.path());
    let ctx = t.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    let root = t.path().join("root");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nENV MODE=dev\nRUN echo $MODE > /mode\n",
    )
    .unwrap();
    build(&root, &layout, &ctx, RAWJSON);
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nENV MODE=prod\nRUN echo $MODE > /mode\n",
    )
    .unwrap();
    let again = build(&root, &layout, &ctx, RAWJSON);
    assert_eq!(reason_of(&again, "RUN echo"), "env MODE changed");
}

#[test]
fn changed_base_image_shows_both_digests() {
    let t = tempfile::tempdir().unwrap();
    let layout = busybox_layout(t.path());
    let layout2 = layout_with_extra_file(&layout, t.path());
    let ctx = t.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN echo hi > /hi\n").unwrap();
    let root = t.path().join("root");
    build(&root, &layout, &ctx, RAWJSON);
    let again = build(&root, &layout2, &ctx, RAWJSON);
    let reason = reason_of(&again, "RUN echo");
    assert!(
        reason.starts_with("base image changed (sha256:") && reason.contains(" → sha256:"),
        "{reason}"
    );
}
