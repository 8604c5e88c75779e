//! Multi-platform builds (`--platform linux/amd64,linux/arm64`): one graph
//! for both platforms whose shared steps run once, an image index pushed to
//! a real registry and read back with skopeo, one directory per platform
//! for `type=local`, `type=docker` refused, a second build fully cached,
//! and `RUN` in an arm64 image under QEMU user emulation.
//!
//! The arm64 busybox is Debian's `busybox-static:arm64` (see
//! `build_support::arm64`); the amd64 one is the host's /bin/busybox.

mod build_support;

use std::path::Path;
use std::process::Command;

use build_support::arm64::{arm64_busybox, arm64_busybox_layout, is_aarch64_elf};
use build_support::registry::Registry;
use build_support::{Outcome, Project, hoist, sh};

const TWO: &str = "linux/amd64,linux/arm64";

/// The final stage copies the busybox of its TARGETARCH.
const PER_ARCH_BUSYBOX: &str = "FROM scratch\n\
    ARG TARGETARCH\n\
    COPY busybox-$TARGETARCH /bin/busybox\n\
    COPY --chmod=644 note.txt /note-$TARGETARCH.txt\n";

fn per_arch_project() -> Project {
    let p = Project::new(PER_ARCH_BUSYBOX);
    std::fs::copy("/bin/busybox", p.context().join("busybox-amd64")).unwrap();
    std::fs::copy(arm64_busybox(), p.context().join("busybox-arm64")).unwrap();
    p.write("note.txt", "hello\n");
    p
}

fn sha256_of(path: &Path) -> String {
    sh(&format!("sha256sum '{}'", path.display()))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// How many `started` events name a vertex containing `needle`.
fn times_started(o: &Outcome, needle: &str) -> usize {
    o.started().iter().filter(|n| n.contains(needle)).count()
}

#[test]
fn multi_platform_push_is_an_index_with_each_platforms_busybox() {
    let registry = Registry::start();
    let name = format!("{}/multi:v1", registry.addr());
    let p = per_arch_project();
    let meta = p.dir.path().join("meta.json");
    p.build()
        .args(["--platform", TWO, "-t", &name])
        .args(["--metadata-file", meta.to_str().unwrap()])
        .output("type=registry")
        .ok();
    let raw_file = p.dir.path().join("index.raw");
    sh(&format!(
        "skopeo inspect --tls-verify=false --raw docker://{name} > {}",
        raw_file.display()
    ));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
    assert_eq!(
        meta["containerimage.digest"],
        format!("sha256:{}", sha256_of(&raw_file)),
        "--metadata-file names the pushed index"
    );

    let raw = sh(&format!(
        "skopeo inspect --tls-verify=false --raw docker://{name}"
    ));
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{raw}"
    );
    let platforms: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["os"].as_str().unwrap().to_string(),
                m["platform"]["architecture"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        platforms,
        [
            ("linux".to_string(), "amd64".to_string()),
            ("linux".to_string(), "arm64".to_string())
        ],
        "{raw}"
    );

    let arm = sh(&format!(
        "skopeo inspect --tls-verify=false --override-arch arm64 docker://{name}"
    ));
    let arm: serde_json::Value = serde_json::from_str(&arm).unwrap();
    assert_eq!(arm["Architecture"], "arm64", "{arm}");
    assert_eq!(arm["Os"], "linux");

    // Each platform's layer holds its own busybox.
    for (arch, expected) in [
        ("amd64", Path::new("/bin/busybox")),
        ("arm64", arm64_busybox()),
    ] {
        let dir = tempfile::tempdir().unwrap();
        sh(&format!(
            "skopeo copy -q --src-tls-verify=false --override-arch {arch} docker://{name} oci:{}/img:x",
            dir.path().display()
        ));
        let root = dir.path().join("root");
        sh(&format!(
            "umoci raw unpack --rootless --image {}/img:x {}",
            dir.path().display(),
            root.display()
        ));
        assert_eq!(
            sha256_of(&root.join("bin/busybox")),
            sha256_of(expected),
            "{arch} image has the {arch} busybox"
        );
        assert_eq!(
            std::fs::read_to_string(root.join(format!("note-{arch}.txt"))).unwrap(),
            "hello\n"
        );
    }
}

#[test]
fn multi_platform_local_output_writes_one_directory_per_platform() {
    let p = per_arch_project();
    p.build().args(["--platform", TWO]).ok();
    assert_eq!(
        sha256_of(&p.out().join("linux_amd64/bin/busybox")),
        sha256_of(Path::new("/bin/busybox"))
    );
    assert!(is_aarch64_elf(&p.out().join("linux_arm64/bin/busybox")));
    assert!(p.out_has("linux_arm64/note-arm64.txt"));
    assert!(!p.out_has("linux_arm64/note-amd64.txt"));

    let tar = p.dir.path().join("fs.tar");
    p.build()
        .args(["--platform", TWO])
        .output(format!("type=tar,dest={}", tar.display()))
        .ok();
    let listing = sh(&format!("tar -tf '{}'", tar.display()));
    for entry in [
        "linux_amd64/bin/busybox",
        "linux_arm64/bin/busybox",
        "linux_arm64/note-arm64.txt",
    ] {
        assert!(
            listing.lines().any(|l| l == entry),
            "{entry} in:\n{listing}"
        );
    }
}

#[test]
fn multi_platform_oci_output_is_a_layout_with_a_nested_index() {
    let p = per_arch_project();
    let dest = p.dir.path().join("layout");
    p.build()
        .args(["--platform", TWO, "-t", "multi:oci"])
        .args(["--annotation", "index:org.opencontainers.image.title=multi"])
        .output(format!("type=oci,dest={},tar=false", dest.display()))
        .ok();
    let top: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dest.join("index.json")).unwrap()).unwrap();
    let entry = &top["manifests"][0];
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let hex = entry["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let nested: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dest.join("blobs/sha256").join(hex)).unwrap(),
    )
    .unwrap();
    assert_eq!(nested["manifests"].as_array().unwrap().len(), 2);
    assert_eq!(
        nested["annotations"]["org.opencontainers.image.title"], "multi",
        "index: annotations go on the index"
    );
    // skopeo reads each platform out of the layout.
    for arch in ["amd64", "arm64"] {
        let json = sh(&format!(
            "skopeo inspect --override-arch {arch} oci:{}:oci",
            dest.display()
        ));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["Architecture"], arch, "{json}");
    }
}

#[test]
fn multi_platform_docker_output_is_refused_clearly() {
    let p = per_arch_project();
    let o = p
        .build()
        .args(["--platform", TWO])
        .output(format!(
            "type=docker,dest={}",
            p.dir.path().join("d.tar").display()
        ))
        .fails();
    assert!(o.stderr.contains("docker exporter"), "{}", o.stderr);
    assert!(o.stderr.contains("type=oci"), "{}", o.stderr);
}

/// A builder stage on the build platform makes both platforms' files once;
/// each platform's final stage takes its own.
const CROSS: &str = "FROM --platform=$BUILDPLATFORM busybox AS build\n\
    ARG BUILDARCH\n\
    RUN mkdir /out && echo amd64-bin > /out/amd64 && echo arm64-bin > /out/arm64 \\\n\
     && echo \"built on $BUILDARCH\" > /out/log\n\
    FROM scratch AS final-amd64\n\
    COPY --from=build /out/amd64 /app\n\
    FROM scratch AS final-arm64\n\
    COPY --from=build /out/arm64 /app\n\
    FROM final-${TARGETARCH}\n\
    ARG TARGETPLATFORM\n\
    COPY --from=build /out/log /log\n";

#[test]
fn cross_compile_builder_stage_runs_once_for_two_platforms() {
    let p = Project::new(CROSS);
    let o = p.build().args(["--platform", TWO]).ok();
    assert_eq!(
        times_started(&o, "RUN mkdir /out"),
        1,
        "the build-platform stage ran once: {:#?}",
        o.started()
    );
    assert_eq!(p.read_out("linux_amd64/app"), "amd64-bin\n");
    assert_eq!(p.read_out("linux_arm64/app"), "arm64-bin\n");
    assert_eq!(p.read_out("linux_arm64/log"), "built on amd64\n");
    // The per-platform steps are named with their platform.
    let names = o.started();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("[linux/arm64 ") && n.contains("COPY --from=build /out/arm64")),
        "{names:#?}"
    );
}

#[test]
fn second_multi_platform_build_is_fully_cached() {
    let p = Project::new(CROSS);
    p.build().args(["--platform", TWO]).ok();
    let again = p.build().args(["--platform", TWO]).ok();
    assert!(
        again.steps_run().is_empty(),
        "every step cached the second time, ran: {:#?}",
        again.steps_run()
    );
    assert!(again.cached().iter().any(|n| n.contains("RUN mkdir /out")));
    assert_eq!(p.read_out("linux_arm64/app"), "arm64-bin\n");
}

#[test]
fn min_cache_of_a_multi_platform_build_holds_every_platforms_image() {
    let cache = tempfile::tempdir().unwrap();
    let dest = cache.path().join("cache");
    let a = per_arch_project();
    a.build()
        .args(["--platform", TWO])
        .args(["--cache-to", &format!("type=local,dest={}", dest.display())])
        .ok();
    // Another data root, the same files: every step of both platforms is
    // found in the mode=min cache, not only the first platform's.
    let b = per_arch_project();
    let built = b
        .build()
        .args(["--platform", TWO])
        .args([
            "--cache-from",
            &format!("type=local,src={}", dest.display()),
        ])
        .ok();
    assert!(
        built.steps_run().is_empty(),
        "ran: {:#?}\nwarnings: {:#?}\ncache: {}",
        built.steps_run(),
        built.warnings(),
        std::fs::read_to_string(dest.join("index.json")).unwrap_or_default()
    );
    assert!(is_aarch64_elf(&b.out().join("linux_arm64/bin/busybox")));
}

#[test]
fn base_image_without_the_platform_is_an_error_naming_what_it_has() {
    let p = Project::new("FROM busybox\nRUN true\n");
    let o = p.build().args(["--platform", TWO]).fails();
    assert!(o.stderr.contains("linux/arm64"), "{}", o.stderr);
    assert!(o.stderr.contains("it has: linux/amd64"), "{}", o.stderr);
}

/// Registers the qemu interpreters with `hoist binfmt --install` when they
/// are not yet. `Err` only when the kernel refuses binfmt_misc (mounting it
/// or writing its register file is not permitted here); anything else
/// missing fails the test.
fn ensure_binfmt() -> Result<(), String> {
    let status = Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64");
    let usable = |t: &str| {
        t.lines().any(|l| l == "enabled") && t.contains("flags: ") && {
            t.lines()
                .find_map(|l| l.strip_prefix("flags: "))
                .is_some_and(|f| f.contains('F'))
        }
    };
    if std::fs::read_to_string(status).is_ok_and(|t| usable(&t)) {
        return Ok(());
    }
    assert!(
        Path::new("/usr/bin/qemu-aarch64-static").exists(),
        "qemu-user-static is not installed (apt-get install qemu-user-static; see .ci/packages)"
    );
    let out = Command::new(hoist())
        .args(["binfmt", "--install"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let refused = [
            "Operation not permitted",
            "Permission denied",
            "EPERM",
            "ENODEV",
            "No such device",
        ]
        .iter()
        .any(|m| stderr.contains(m));
        if refused {
            return Err(stderr.into_owned());
        }
        panic!("hoist binfmt --install failed: {stderr}");
    }
    let text = std::fs::read_to_string(status).unwrap_or_default();
    assert!(
        usable(&text),
        "qemu-aarch64 not usable after install:\n{text}"
    );
    Ok(())
}

#[test]
fn run_in_an_arm64_image_runs_under_qemu_and_sees_aarch64() {
    // RUN for linux/arm64 on this (amd64) host needs binfmt_misc to send
    // arm64 binaries to qemu-aarch64-static, registered with the F flag so
    // the interpreter is usable inside the build's new root.
    if let Err(why) = ensure_binfmt() {
        eprintln!("skipped: this kernel refuses binfmt_misc registration: {why}");
        return;
    }
    let p = Project::new("FROM bbarm\nRUN uname -m > /arch && busybox true\n");
    let o = p
        .build()
        .args([
            "--platform",
            "linux/arm64",
            "--build-context",
            &format!(
                "bbarm=oci-layout://{}:latest",
                arm64_busybox_layout().display()
            ),
        ])
        .ok();
    assert_eq!(p.read_out("arch"), "aarch64\n");
    assert!(
        o.started()
            .iter()
            .any(|n| n.contains("RUN uname -m") && n.ends_with("(emulated linux/arm64)")),
        "the emulated step says so: {:#?}",
        o.started()
    );
}

#[test]
fn multi_platform_image_in_the_store_is_listed_inspected_saved_pushed_and_survives_prune() {
    let p = per_arch_project();
    // No -o: the local store, under the -t name.
    let build = p.build().args(["--platform", TWO, "-t", "multi:store"]);
    let out = Command::new(hoist())
        .args(&build.args)
        .arg(p.context())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let root = p.root();
    let hoist_cmd = |args: &[&str]| {
        let out = Command::new(hoist())
            .args(args)
            .arg("--root")
            .arg(&root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hoist {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed = hoist_cmd(&["images"]);
    assert!(listed.contains("multi"), "{listed}");
    let inspect = hoist_cmd(&["inspect", "multi:store"]);
    assert!(
        inspect.contains("amd64"),
        "inspect shows the host's image: {inspect}"
    );
    hoist_cmd(&["prune", "--all"]);
    let tar = p.dir.path().join("multi.tar");
    hoist_cmd(&[
        "save",
        "--format",
        "oci",
        "-o",
        tar.to_str().unwrap(),
        "multi:store",
    ]);
    for arch in ["amd64", "arm64"] {
        let json = sh(&format!(
            "skopeo inspect --override-arch {arch} oci-archive:{}",
            tar.display()
        ));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["Architecture"], arch, "{json}");
    }

    // `hoist push` sends the whole index.
    let registry = Registry::start();
    let target = format!("{}/multi:pushed", registry.addr());
    hoist_cmd(&["push", "multi:store", &target]);
    let raw = sh(&format!(
        "skopeo inspect --tls-verify=false --raw docker://{target}"
    ));
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{raw}");
    let arm = sh(&format!(
        "skopeo inspect --tls-verify=false --override-arch arm64 docker://{target}"
    ));
    assert!(arm.contains("\"Architecture\": \"arm64\""), "{arm}");
}

#[test]
fn base_image_is_picked_from_its_index_for_each_platform() {
    // A two-platform busybox layout made by hoist itself...
    let base = per_arch_project();
    let layout = base.dir.path().join("layout");
    base.build()
        .args(["--platform", TWO, "-t", "bb:multi"])
        .output(format!("type=oci,dest={},tar=false", layout.display()))
        .ok();
    // ...is the base of a second build, each platform taking its own image.
    let p = Project::new("FROM bb\nCOPY extra.txt /extra.txt\n");
    p.write("extra.txt", "x\n");
    p.build()
        .args(["--platform", TWO])
        .args([
            "--build-context",
            &format!("bb=oci-layout://{}:multi", layout.display()),
        ])
        .ok();
    assert_eq!(
        sha256_of(&p.out().join("linux_amd64/bin/busybox")),
        sha256_of(Path::new("/bin/busybox"))
    );
    assert!(is_aarch64_elf(&p.out().join("linux_arm64/bin/busybox")));
    assert!(p.out_has("linux_arm64/extra.txt"));
}
