//! `type=oci` and `type=docker` outputs, read back by skopeo and umoci;
//! empty diffs; compression and media-type options; reproducible output.

mod export_support;

use export_support::*;

#[test]
fn oci_archive_is_read_by_skopeo_inspect_and_copy() {
    let w = Work::new(HELLO);
    let tar = w.path("out.tar");
    let out = w.build(&[
        "-t",
        "app:v1",
        "-o",
        &format!("type=oci,dest={}", tar.display()),
    ]);
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    ok(out);
    // The plain log shows the export's byte counts: each layer compressed
    // and the archive written, with their sizes.
    let size = std::fs::metadata(&tar).unwrap().len();
    let written = log
        .lines()
        .find(|l| l.contains(&format!("writing {} ", tar.display())))
        .unwrap_or_else(|| panic!("no line for the archive written: {log}"));
    assert!(written.contains(" done"), "{written}");
    assert!(
        size > 1_000_000 && written.contains("MB"),
        "{size} bytes: {written}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains(" layer sha256:") && l.contains(" done")),
        "{log}"
    );
    let reference = format!("oci-archive:{}", tar.display());
    let info = skopeo_inspect(&reference, false);
    assert_eq!(info["Layers"].as_array().unwrap().len(), 4, "{info}");
    assert_eq!(info["Os"], "linux");
    let config = skopeo_inspect(&reference, true);
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["hello"]));
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 4);
    let copied = w.path("copied");
    tool(
        "skopeo",
        &["copy", &reference, &format!("dir:{}", copied.display())],
    );
    assert!(copied.join("manifest.json").is_file());
}

#[test]
fn docker_archive_is_read_by_skopeo_with_repo_tags() {
    let w = Work::new(HELLO);
    let tar = w.path("docker.tar");
    ok(w.build(&[
        "-t",
        "app:v1",
        "-o",
        &format!("type=docker,dest={}", tar.display()),
    ]));
    let info = skopeo_inspect(&format!("docker-archive:{}", tar.display()), false);
    assert_eq!(info["Layers"].as_array().unwrap().len(), 4, "{info}");
    let listing = tool("tar", &["-xOf", tar.to_str().unwrap(), "manifest.json"]);
    let manifest: serde_json::Value = serde_json::from_str(&listing).unwrap();
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["app:v1"]));
    // Docker media types by default for type=docker.
    let inner = tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("docker-archive:{}", tar.display()),
        ],
    );
    assert!(
        inner.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{inner}"
    );
}

#[test]
fn oci_layout_directory_unpacks_with_umoci() {
    let w = Work::new(HELLO);
    let layout = w.path("layout");
    ok(w.build(&[
        "-t",
        "app:v1",
        "-o",
        &format!("type=oci,dest={},tar=false", layout.display()),
    ]));
    let bundle = w.path("bundle");
    tool(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:v1", layout.display()),
            bundle.to_str().unwrap(),
        ],
    );
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("hello.out")).unwrap(),
        "Hello from hoist!\n"
    );
    assert!(rootfs.join("usr/local/bin/hello").is_file());
    assert!(rootfs.join("bin/busybox").is_file());
}

#[test]
fn run_that_changes_nothing_adds_no_layer_and_an_empty_layer_history_entry() {
    // The first RUN also leaves the /dev, /proc and /sys mount points the
    // busybox base lacks (as BuildKit does); the second changes nothing.
    let w = Work::new("FROM busybox\nRUN echo hi > /x\nRUN true\n");
    let tar = w.path("out.tar");
    ok(w.build(&["-o", &format!("type=oci,dest={}", tar.display())]));
    let reference = format!("oci-archive:{}", tar.display());
    let info = skopeo_inspect(&reference, false);
    assert_eq!(info["Layers"].as_array().unwrap().len(), 2, "{info}");
    let config = skopeo_inspect(&reference, true);
    let history = config["history"].as_array().unwrap();
    let run_true = history
        .iter()
        .find(|h| {
            h["created_by"]
                .as_str()
                .unwrap_or("")
                .contains("RUN /bin/sh -c true")
        })
        .unwrap();
    assert_eq!(run_true["empty_layer"], true, "{config}");
    let layered = history.iter().filter(|h| h["empty_layer"] != true).count();
    assert_eq!(
        layered,
        config["rootfs"]["diff_ids"].as_array().unwrap().len()
    );
}

#[test]
fn compression_and_media_type_options_shape_the_manifest() {
    let w = Work::new(HELLO);
    let zstd = w.path("zstd.tar");
    ok(w.build(&[
        "-o",
        &format!(
            "type=oci,dest={},compression=zstd,force-compression=true,annotation.org.opencontainers.image.title=hi",
            zstd.display()
        ),
    ]));
    let raw = tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci-archive:{}", zstd.display()),
        ],
    );
    let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
    for l in m["layers"].as_array().unwrap() {
        assert_eq!(
            l["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd",
            "{m}"
        );
    }
    assert_eq!(m["annotations"]["org.opencontainers.image.title"], "hi");
    let docker = w.path("docker-types.tar");
    ok(w.build(&[
        "-o",
        &format!("type=oci,dest={},oci-mediatypes=false", docker.display()),
    ]));
    let raw = tool(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci-archive:{}", docker.display()),
        ],
    );
    let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        m["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    let types = |m: &serde_json::Value| -> Vec<String> {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["mediaType"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        types(&m)
            .iter()
            .all(|t| t == "application/vnd.docker.image.rootfs.diff.tar.gzip"),
        "{m}"
    );
    // The base layer keeps its blob when no other compression is asked.
    let base = std::fs::read_to_string(busybox().join("index.json")).unwrap();
    let base: serde_json::Value = serde_json::from_str(&base).unwrap();
    let base_manifest = base["manifests"][0]["digest"].as_str().unwrap();
    let base_manifest = std::fs::read_to_string(
        busybox()
            .join("blobs/sha256")
            .join(&base_manifest["sha256:".len()..]),
    )
    .unwrap();
    let base_manifest: serde_json::Value = serde_json::from_str(&base_manifest).unwrap();
    assert_eq!(
        m["layers"][0]["digest"],
        base_manifest["layers"][0]["digest"]
    );
    // An explicit other compression recompresses every layer.
    let plain = w.path("plain.tar");
    ok(w.build(&[
        "-o",
        &format!("type=oci,dest={},compression=uncompressed", plain.display()),
    ]));
    let reference = format!("oci-archive:{}", plain.display());
    let raw = tool("skopeo", &["inspect", "--raw", &reference]);
    let p: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert!(
        types(&p)
            .iter()
            .all(|t| t == "application/vnd.oci.image.layer.v1.tar"),
        "{p}"
    );
    let zstd_config = skopeo_inspect(&format!("oci-archive:{}", zstd.display()), true);
    let plain_config = skopeo_inspect(&reference, true);
    assert_eq!(zstd_config["rootfs"], plain_config["rootfs"]);
}

#[test]
fn source_date_epoch_gives_the_same_manifest_digest_on_two_empty_roots() {
    let w = Work::new(HELLO);
    let digest = |root: &str, args: &[&str], env: &[(&str, &str)]| {
        let meta = w.path(&format!("{root}.json"));
        let mut all = vec!["-t", "app", "--metadata-file", meta.to_str().unwrap()];
        all.extend_from_slice(args);
        ok(w.build_in(&w.path(root), &all, env));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
        v["containerimage.digest"].as_str().unwrap().to_string()
    };
    let a = digest("a", &[], &[("SOURCE_DATE_EPOCH", "1700000000")]);
    // Files get different mtimes in the second build.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = digest("b", &[], &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_eq!(a, b);
    let c = digest("c", &["--build-arg", "SOURCE_DATE_EPOCH=1700000000"], &[]);
    assert_eq!(a, c);
    let d = digest("d", &[], &[]);
    assert_ne!(a, d);
    let out = std::process::Command::new(HOIST)
        .args(["inspect", "app", "--root"])
        .arg(w.path("a"))
        .output()
        .unwrap();
    let inspect: serde_json::Value = serde_json::from_str(&ok(out)).unwrap();
    assert_eq!(inspect["Config"]["created"], "2023-11-14T22:13:20Z");
    assert!(
        inspect["Config"]["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["comment"] == "buildkit.dockerfile.v0")
            .all(|h| h["created"] == "2023-11-14T22:13:20Z"),
        "{inspect}"
    );
}

#[test]
fn oci_to_stdout_carries_annotations_and_labels() {
    let w = Work::new(HELLO);
    let out = w.build(&[
        "--annotation",
        "org.opencontainers.image.source=https://example.com/app",
        "--annotation",
        "manifest:com.example.level=m",
        "--label",
        "team=core",
        "-o",
        "type=oci,dest=-",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tar = w.path("stdout.tar");
    std::fs::write(&tar, &out.stdout).unwrap();
    let reference = format!("oci-archive:{}", tar.display());
    let raw = tool("skopeo", &["inspect", "--raw", &reference]);
    let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        m["annotations"]["org.opencontainers.image.source"],
        "https://example.com/app"
    );
    assert_eq!(m["annotations"]["com.example.level"], "m");
    let config = skopeo_inspect(&reference, true);
    assert_eq!(config["config"]["Labels"]["team"], "core");
}

#[test]
fn rewrite_timestamp_clamps_file_times_of_base_layers_too() {
    let w = Work::new("FROM busybox\nRUN echo hi > /x\n");
    let tar = w.path("rewritten.tar");
    ok(w.build(&[
        "--build-arg=SOURCE_DATE_EPOCH=1000",
        "-o",
        &format!("type=oci,dest={},rewrite-timestamp=true", tar.display()),
    ]));
    let dir = w.path("unpacked");
    tool(
        "skopeo",
        &[
            "copy",
            &format!("oci-archive:{}", tar.display()),
            &format!("dir:{}", dir.display()),
        ],
    );
    // Every layer's entries are at most the epoch.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    for layer in manifest["layers"].as_array().unwrap() {
        let digest = layer["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        let listing = tool(
            "tar",
            &[
                "--numeric-owner",
                "--full-time",
                "-tvzf",
                &dir.join(digest).display().to_string(),
            ],
        );
        for line in listing.lines() {
            assert!(line.contains("1970-01-01 00:16:40"), "not clamped: {line}");
        }
    }
}
