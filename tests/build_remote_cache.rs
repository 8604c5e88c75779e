//! The shared build cache across data roots (`--cache-to` / `--cache-from`):
//! one root builds and exports its cache to a registry (Debian's
//! `docker-registry` on 127.0.0.1), an OCI layout directory or the image's
//! manifest (inline); a second, empty root with a copy of the context and
//! of the base image layout imports it, runs no step and produces the same
//! image; a changed context file reruns only the steps from the COPY that
//! reads it. Damaged caches are warnings, never failures.

mod build_support;

use std::path::{Path, PathBuf};

use build_support::registry::Registry;
use build_support::{Build, Outcome, Project, busybox_layout, sh};
use serde_json::Value;

/// Two stages, RUN steps in both, COPY from the context in both.
const DOCKERFILE: &str = "\
FROM busybox AS build
RUN echo built > /built.txt
COPY gen.txt /gen.txt
RUN cat /gen.txt /built.txt > /out.txt

FROM busybox
COPY --from=build /out.txt /from-build.txt
RUN echo final > /final.txt
COPY app.txt /app.txt
RUN cat /app.txt > /app2.txt
";

const EPOCH: &str = "--build-arg=SOURCE_DATE_EPOCH=1700000000";

/// A project with the Dockerfile and its two context files.
fn project(dockerfile: &str) -> Project {
    let p = Project::new(dockerfile);
    p.write("gen.txt", "gen\n").write("app.txt", "app\n");
    p
}

/// A copy of the busybox layout at another path (keys must not depend on it).
fn busybox_copy(dir: &Path) -> PathBuf {
    let to = dir.join("busybox-copy");
    sh(&format!(
        "cp -r '{}' '{}'",
        busybox_layout().display(),
        to.display()
    ));
    to
}

/// A build of `p` into the image store as `app:1`, with the metadata file
/// `meta.json` beside the project, using `layout` as the busybox context.
fn image_build(p: &Project, layout: Option<&Path>) -> Build {
    tagged_build(p, layout, "app:1")
}

/// [`image_build`] naming the image `tag`.
fn tagged_build(p: &Project, layout: Option<&Path>, tag: &str) -> Build {
    let mut b = p.build().arg(EPOCH).args([
        "-t",
        tag,
        "--metadata-file",
        &meta_path(p).display().to_string(),
    ]);
    if let Some(l) = layout {
        b = b.arg(format!(
            "--build-context=busybox=oci-layout://{}:latest",
            l.display()
        ));
    }
    b.output("type=image")
}

fn meta_path(p: &Project) -> PathBuf {
    p.dir.path().join("meta.json")
}

/// `containerimage.digest` of the project's last build.
fn image_digest(p: &Project) -> String {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(meta_path(p)).unwrap()).unwrap();
    v["containerimage.digest"].as_str().unwrap().to_string()
}

fn runs(o: &Outcome) -> Vec<String> {
    o.steps_run()
}

/// Builds on root A exporting with `cache_to`, then on an empty root B with
/// `cache_from` (copied context and layout): B runs nothing and gives A's
/// digest; after `app.txt` changes, B runs only `COPY app.txt` and the RUN after it.
fn round_trip(cache_to: &str, cache_from: &str) {
    let a = project(DOCKERFILE);
    let first = image_build(&a, None).args(["--cache-to", cache_to]).ok();
    assert_eq!(runs(&first).len(), 7, "root A builds every step");
    let cache_warnings = |o: &Outcome| -> Vec<String> {
        o.warnings()
            .into_iter()
            .filter(|w| w.contains("cache"))
            .collect()
    };
    assert_eq!(cache_warnings(&first), Vec::<String>::new());

    let b = project(DOCKERFILE);
    let layout = busybox_copy(b.dir.path());
    let second = image_build(&b, Some(&layout))
        .args(["--cache-from", cache_from])
        .ok();
    assert_eq!(runs(&second), Vec::<String>::new(), "{}", second.stderr);
    assert_eq!(
        second
            .cached()
            .iter()
            .filter(|n| build_support::is_step(n))
            .count(),
        7
    );
    assert_eq!(image_digest(&b), image_digest(&a), "same image as root A");

    b.write("app.txt", "changed\n");
    let third = image_build(&b, Some(&layout))
        .args(["--cache-from", cache_from])
        .ok();
    let ran = runs(&third);
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(ran[0].contains("COPY app.txt"), "{ran:?}");
    assert!(ran[1].contains("RUN cat /app.txt"), "{ran:?}");
}

#[test]
fn registry_cache_mode_max_lets_an_empty_root_run_no_step_and_build_the_same_image() {
    let registry = Registry::start();
    let reference = format!("{}/cache:x", registry.addr());
    round_trip(
        &format!("type=registry,ref={reference},mode=max"),
        &format!("type=registry,ref={reference}"),
    );
}

#[test]
fn local_cache_dir_mode_max_lets_an_empty_root_run_no_step_and_build_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    round_trip(
        &format!("type=local,dest={},mode=max", cache.display()),
        &format!("type=local,src={}", cache.display()),
    );
    assert!(cache.join("index.json").is_file());
    assert!(cache.join("oci-layout").is_file());
}

#[test]
fn inline_cache_of_a_pushed_image_lets_an_empty_root_run_no_step() {
    let registry = Registry::start();
    let dockerfile = "FROM busybox\nRUN echo one > /one.txt\nCOPY app.txt /app.txt\nRUN cat /app.txt > /app2.txt\n";
    let image = format!("{}/app:inline", registry.addr());
    let a = project(dockerfile);
    let first = tagged_build(&a, None, &image)
        .args(["--cache-to", "type=inline", "--push"])
        .ok();
    assert_eq!(runs(&first).len(), 3);

    let b = project(dockerfile);
    let layout = busybox_copy(b.dir.path());
    // Pushed too: a pushed image's new layers are gzip, a stored one's plain.
    let second = tagged_build(&b, Some(&layout), &format!("{}/app:b", registry.addr()))
        .args([
            "--cache-from",
            &image,
            "--cache-to",
            "type=inline",
            "--push",
        ])
        .ok();
    assert_eq!(runs(&second), Vec::<String>::new(), "{}", second.stderr);
    assert_eq!(
        image_digest(&b),
        image_digest(&a),
        "same image, same inline cache"
    );

    b.write("app.txt", "changed\n");
    let third = image_build(&b, Some(&layout))
        .args(["--cache-from", &image])
        .ok();
    let ran = runs(&third);
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(ran[0].contains("COPY app.txt"), "{ran:?}");
}

/// The layer blob files of the cache manifest at `reference`, in the
/// registry's storage.
fn blob_files(registry: &Registry, reference: &str) -> Vec<PathBuf> {
    let raw = sh(&format!(
        "skopeo inspect --raw --tls-verify=false docker://{reference}"
    ));
    let manifest: Value = serde_json::from_str(&raw).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let hex = l["digest"]
                .as_str()
                .unwrap()
                .strip_prefix("sha256:")
                .unwrap();
            registry
                .storage()
                .join("docker/registry/v2/blobs/sha256")
                .join(&hex[..2])
                .join(hex)
                .join("data")
        })
        .collect()
}

#[test]
fn registry_cache_whose_blobs_were_deleted_warns_and_builds_like_without_cache() {
    let registry = Registry::start();
    let reference = format!("{}/cache:x", registry.addr());
    let a = project(DOCKERFILE);
    image_build(&a, None)
        .args([
            "--cache-to",
            &format!("type=registry,ref={reference},mode=max"),
        ])
        .ok();
    let files = blob_files(&registry, &reference);
    assert!(!files.is_empty());
    for f in &files {
        std::fs::remove_file(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }

    let b = project(DOCKERFILE);
    let layout = busybox_copy(b.dir.path());
    let o = image_build(&b, Some(&layout))
        .args(["--cache-from", &format!("type=registry,ref={reference}")])
        .ok();
    assert!(
        o.warnings().iter().any(|w| w.contains("missing blobs")),
        "{:?}",
        o.warnings()
    );
    assert_eq!(runs(&o).len(), 7, "every step runs: {:?}", runs(&o));
    assert_eq!(
        image_digest(&b),
        image_digest(&a),
        "same image as an uncached build"
    );
}

#[test]
fn unreadable_cache_sources_are_warnings_and_the_build_runs_normally() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("index.json"), b"{not json").unwrap();
    let a = project(DOCKERFILE);
    let o = image_build(&a, None)
        .args([
            "--cache-from",
            &format!("type=local,src={}", dir.path().join("missing").display()),
            "--cache-from",
            &format!("type=local,src={}", garbage.display()),
            "--cache-from",
            "127.0.0.1:1/nothing:here",
        ])
        .ok();
    assert_eq!(
        o.warnings()
            .iter()
            .filter(|w| w.contains("cache source"))
            .count(),
        3,
        "{:?}",
        o.warnings()
    );
    assert_eq!(runs(&o).len(), 7);

    // The same image as a build without any cache flag.
    let plain = project(DOCKERFILE);
    image_build(&plain, None).ok();
    assert_eq!(image_digest(&a), image_digest(&plain));
}

/// The cache config of the local cache at `dir`.
/// Builds `p` into its store with `--cache-to type=local,dest=DIR,mode=max`;
/// the cache config written.
fn export_local_max(p: &Project, dir: &Path) -> Value {
    image_build(p, None)
        .args([
            "--cache-to",
            &format!("type=local,dest={},mode=max", dir.display()),
        ])
        .ok();
    local_config(dir)
}

fn local_config(dir: &Path) -> Value {
    let blob = |digest: &str| {
        std::fs::read(
            dir.join("blobs/sha256")
                .join(digest.strip_prefix("sha256:").unwrap()),
        )
        .unwrap()
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.hoist.cache.config.v1+json"
    );
    serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap()
}

/// The step names of the records of the local cache at `dir`.
fn record_names(dir: &Path) -> Vec<String> {
    let config = local_config(dir);
    let mut names: Vec<String> = config["records"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn mode_min_exports_only_final_stage_records_and_mode_max_exports_intermediate_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (min, max) = (dir.path().join("min"), dir.path().join("max"));
    let a = project(DOCKERFILE);
    image_build(&a, None)
        .args([
            "--cache-to",
            &format!("type=local,dest={}", min.display()),
            "--cache-to",
            &format!("type=local,dest={},mode=max", max.display()),
        ])
        .ok();
    let min_names = record_names(&min);
    let max_names = record_names(&max);
    assert_eq!(min_names.len(), 4, "{min_names:?}");
    assert!(
        min_names.iter().all(|n| n.starts_with("[stage-1 ")),
        "{min_names:?}"
    );
    assert_eq!(max_names.len(), 7, "{max_names:?}");
    assert_eq!(
        max_names
            .iter()
            .filter(|n| n.starts_with("[build "))
            .count(),
        3
    );

    // Importing the min cache: the intermediate stage runs again, the
    // final stage comes from the cache.
    let b = project(DOCKERFILE);
    let o = image_build(&b, None)
        .args(["--cache-from", &format!("type=local,src={}", min.display())])
        .ok();
    let ran = runs(&o);
    assert_eq!(ran.len(), 3, "{ran:?}");
    assert!(ran.iter().all(|n| n.starts_with("[build ")), "{ran:?}");
    assert_eq!(image_digest(&b), image_digest(&a));
}

/// Blob digests (hex) of the layers of the records whose name starts with
/// `prefix` and of no other record.
fn blobs_only_of(config: &Value, prefix: &str) -> Vec<String> {
    let records = config["records"].as_object().unwrap();
    let layers_of = |want: bool| -> std::collections::BTreeSet<String> {
        records
            .values()
            .filter(|r| r["name"].as_str().unwrap().starts_with(prefix) == want)
            .flat_map(|r| r["layers"].as_array().unwrap().iter())
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    let others = layers_of(false);
    layers_of(true)
        .difference(&others)
        .filter_map(|id| config["layers"][id]["blob"]["digest"].as_str())
        .map(|d| d.strip_prefix("sha256:").unwrap().to_string())
        .collect()
}

#[test]
fn imported_layers_are_downloaded_only_when_a_step_or_an_export_needs_them() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let a = project(DOCKERFILE);
    let config = export_local_max(&a, &cache);
    let build_only = blobs_only_of(&config, "[build ");
    assert!(!build_only.is_empty());
    let all: Vec<String> = config["layers"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|l| l["blob"]["digest"].as_str())
        .map(|d| d.strip_prefix("sha256:").unwrap().to_string())
        .collect();

    let b = project(DOCKERFILE);
    let has = |hex: &str| b.root().join("content/blobs/sha256").join(hex).is_file();
    let from = format!("type=local,src={}", cache.display());
    // Only the cache is wanted: every step hits, no layer is copied.
    let o = b
        .build()
        .arg(EPOCH)
        .args(["--cache-from", &from])
        .output("type=cacheonly")
        .ok();
    assert_eq!(runs(&o), Vec::<String>::new());
    let built: Vec<&String> = all.iter().filter(|h| has(h)).collect();
    let base = busybox_layout().join("blobs/sha256");
    assert!(
        built.iter().all(|h| base.join(h).is_file()),
        "only base-image blobs may be present: {built:?}"
    );
    // The image needs its own layers, not the intermediate stage's.
    image_build(&b, None).args(["--cache-from", &from]).ok();
    assert!(
        build_only.iter().all(|h| !has(h)),
        "intermediate layers were downloaded"
    );
    assert_eq!(image_digest(&b), image_digest(&a));
}

#[test]
fn cache_export_failure_is_a_warning_unless_ignore_error_is_false() {
    let a = project(DOCKERFILE);
    let file = a.dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let dest = format!("type=local,dest={}", file.join("cache").display());
    let o = image_build(&a, None).args(["--cache-to", &dest]).ok();
    assert!(
        o.warnings()
            .iter()
            .any(|w| w.contains("cache export failed")),
        "{:?}",
        o.warnings()
    );
    let o = image_build(&a, None)
        .args(["--cache-to", &format!("{dest},ignore-error=false")])
        .run();
    assert!(!o.success());
    assert!(o.stderr.contains("cache export failed"), "{}", o.stderr);
}

#[test]
fn cache_mounts_travel_with_the_cache_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (with, without) = (dir.path().join("with"), dir.path().join("without"));
    let a =
        project("FROM busybox\nRUN --mount=type=cache,target=/cache echo from-a > /cache/stamp\n");
    a.build()
        .arg(EPOCH)
        .args([
            "--cache-to",
            &format!(
                "type=local,dest={},mode=max,cache-mounts=true",
                with.display()
            ),
            "--cache-to",
            &format!("type=local,dest={},mode=max", without.display()),
        ])
        .ok();
    assert_eq!(
        local_config(&with)["cache_mounts"]
            .as_object()
            .map(|m| m.len()),
        Some(1)
    );
    assert!(local_config(&without).get("cache_mounts").is_none());

    let reader = "FROM busybox\nRUN --mount=type=cache,target=/cache cat /cache/stamp > /seen || echo none > /seen\n";
    let b = project(reader);
    b.build()
        .arg(EPOCH)
        .args([
            "--cache-from",
            &format!("type=local,src={}", with.display()),
        ])
        .ok();
    assert_eq!(b.read_out("seen"), "from-a\n");
    let c = project(reader);
    c.build()
        .arg(EPOCH)
        .args([
            "--cache-from",
            &format!("type=local,src={}", without.display()),
        ])
        .ok();
    assert_eq!(c.read_out("seen"), "none\n");
}

#[test]
fn local_cache_with_corrupted_blobs_warns_and_builds_like_without_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let a = project(DOCKERFILE);
    let config = export_local_max(&a, &cache);
    for layer in config["layers"].as_object().unwrap().values() {
        let Some(d) = layer["blob"]["digest"].as_str() else {
            continue;
        };
        let path = cache
            .join("blobs/sha256")
            .join(d.strip_prefix("sha256:").unwrap());
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    let b = project(DOCKERFILE);
    let o = image_build(&b, None)
        .args([
            "--cache-from",
            &format!("type=local,src={}", cache.display()),
        ])
        .ok();
    assert!(
        o.warnings().iter().any(|w| w.contains("missing blobs")),
        "{:?}",
        o.warnings()
    );
    assert_eq!(runs(&o).len(), 7);
    assert_eq!(image_digest(&b), image_digest(&a));
}

#[test]
fn zstd_cache_blobs_import_into_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let a = project(DOCKERFILE);
    image_build(&a, None)
        .args([
            "--cache-to",
            &format!(
                "type=local,dest={},mode=max,compression=zstd",
                cache.display()
            ),
        ])
        .ok();
    let config = local_config(&cache);
    let built: Vec<&Value> = config["layers"]
        .as_object()
        .unwrap()
        .values()
        .filter(|l| l["blob"]["level"].is_number())
        .collect();
    assert!(!built.is_empty());
    assert!(
        built
            .iter()
            .all(|l| l["blob"]["media_type"] == "application/vnd.oci.image.layer.v1.tar+zstd")
    );
    let b = project(DOCKERFILE);
    let o = image_build(&b, None)
        .args([
            "--cache-from",
            &format!("type=local,src={}", cache.display()),
        ])
        .ok();
    assert_eq!(runs(&o), Vec::<String>::new());
    assert_eq!(image_digest(&b), image_digest(&a));
}
