//! End-to-end tests of `hoist build`'s outputs (`type=local`, `type=tar`)
//! and of a base image pulled from a real registry (Debian's
//! `docker-registry` on 127.0.0.1, plain HTTP for loopback).

mod build_support;

use build_support::registry::Registry;
use build_support::{Project, busybox_layout, sh};

const APP: &str = "FROM busybox\nWORKDIR /app\nCOPY a.txt .\nRUN echo built > /app/built\n";

#[test]
fn output_local_writes_the_filesystem_to_a_directory() {
    let p = Project::new(APP);
    p.write("a.txt", "a\n");
    p.build().ok();
    assert_eq!(p.read_out("app/a.txt"), "a\n");
    assert_eq!(p.read_out("app/built"), "built\n");
    assert!(
        p.out().join("bin/busybox").is_file(),
        "the base image is included"
    );
}

#[test]
fn output_tar_writes_an_archive_of_the_filesystem() {
    let p = Project::new(APP);
    p.write("a.txt", "a\n");
    let tar = p.dir.path().join("fs.tar");
    p.build()
        .output(format!("type=tar,dest={}", tar.display()))
        .ok();
    let listing = sh(&format!("tar -tf {}", tar.display()));
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/'))
        .collect();
    for want in ["app/a.txt", "app/built", "bin/busybox", "etc/passwd"] {
        assert!(names.contains(&want), "{want} missing from:\n{listing}");
    }
    let content = sh(&format!(
        "tar -xOf {} app/built 2>/dev/null || tar -xOf {} ./app/built",
        tar.display(),
        tar.display()
    ));
    assert_eq!(content, "built\n");
}

#[test]
fn base_image_from_a_loopback_registry() {
    let registry = Registry::with_busybox(busybox_layout());
    let p = Project::new(&format!(
        "FROM {}/busybox\nRUN echo from-registry > /r && busybox | head -1 > /version\n",
        registry.addr()
    ));
    let o = p.build().ok();
    assert_eq!(p.read_out("r"), "from-registry\n");
    assert!(p.read_out("version").starts_with("BusyBox"));
    assert!(
        o.started().iter().any(|n| n.contains(&registry.addr())),
        "{}",
        o.stderr
    );
    // Pulled once: the rebuild needs no registry at all.
    drop(registry);
    let o = p.build().ok();
    assert!(o.steps_run().is_empty(), "{}", o.stderr);
    assert_eq!(p.read_out("r"), "from-registry\n");
}
