//! Ctrl-C during `hoist build`: the running step is killed, its snapshot
//! unmounted, and hoist exits with 130; the next build on the same data root
//! works.

mod build_support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use build_support::Project;

fn mounts_under(root: &std::path::Path) -> Vec<String> {
    let root = std::fs::canonicalize(root).unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&*root.to_string_lossy()))
        .collect()
}

#[test]
fn ctrl_c_cancels_the_running_step_and_exits_130() {
    let p = Project::new("FROM busybox\nRUN sleep 30 && echo finished > /late\n");
    let mut child = p
        .build()
        .command()
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines
            .next()
            .expect("build ended before the step started")
            .unwrap();
        if line.contains("\"started\"") && line.contains("RUN sleep 30") {
            break;
        }
        assert!(Instant::now() < deadline, "the RUN step never started");
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let started = Instant::now();
    for _ in lines.by_ref() {}
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the step was not killed: hoist waited for it"
    );
    assert!(
        mounts_under(&p.root()).is_empty(),
        "{:?}",
        mounts_under(&p.root())
    );

    let p2 = Project::new("FROM busybox\nRUN echo again > /again\n");
    // The same data root as the interrupted build.
    let mut b = p2.build();
    let i = b.args.iter().position(|a| a == "--root").unwrap();
    b.args[i + 1] = p.root().display().to_string();
    b.ok();
    assert_eq!(p2.read_out("again"), "again\n");
}
