//! `hoist prune`: the build cache goes, tagged images stay whole, cache
//! mounts go only with `--all`, and `--filter until=` keeps what is newer.

mod build_support;

use std::process::Command;

use build_support::Project;

fn prune(p: &Project, extra: &[&str]) -> String {
    p.command_ok("prune", extra)
}

const DOCKERFILE: &str = "FROM busybox\n\
    RUN --mount=type=cache,target=/cache echo kept >> /cache/log; cp /cache/log /log\n\
    RUN echo done > /done\n";

#[test]
fn prune_clears_the_build_cache_but_keeps_tagged_images() {
    let p = Project::new(DOCKERFILE);
    p.build().args(["-t", "kept:1"]).output("type=image").ok();
    let before = prune(&p, &["--filter", "until=1h"]);
    assert!(before.contains("Removed 0 cache records"), "{before}");

    let out = prune(&p, &[]);
    assert!(!out.contains("Removed 0 cache records"), "{out}");
    // The tagged image is whole: it can still be saved and read back.
    let archive = p.root().join("kept.tar");
    p.command_ok("save", &["kept:1", "-o", &archive.display().to_string()]);
    let skopeo = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}", archive.display()))
        .output()
        .unwrap();
    assert!(
        skopeo.status.success(),
        "{}",
        String::from_utf8_lossy(&skopeo.stderr)
    );

    // The steps run again, and the cache mount survived (no --all).
    let again = p.build().ok();
    assert!(again.ran("RUN echo done"), "{:?}", again.steps_run());
    assert_eq!(p.read_out("log"), "kept\nkept\n");

    prune(&p, &["--all"]);
    p.build().ok();
    assert_eq!(p.read_out("log"), "kept\n", "--all removed the cache mount");
}
