//! End-to-end tests of `hoist build`'s solver: the scheduler (concurrency,
//! `--target` pruning, deduplication, cancellation on failure) and the cache
//! (rebuilds, context changes, `--no-cache`, `--no-cache-filter`, concurrent
//! processes, a killed build, damaged records). They run the real binary as
//! root with a fresh `--root` per test.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

mod build_support;

use build_support::Project;

#[test]
fn independent_stages_run_concurrently() {
    let p = Project::new(
        "FROM busybox AS a\nRUN sleep 1 && echo a > /a\n\
         FROM busybox AS b\nRUN sleep 1 && echo b > /b\n\
         FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
    );
    let o = p.build().args(["--jobs", "4"]).ok();
    let start_a = o.position("started", "echo a >").unwrap();
    let start_b = o.position("started", "echo b >").unwrap();
    let done_a = o.position("done", "echo a >").unwrap();
    let done_b = o.position("done", "echo b >").unwrap();
    assert!(
        start_a < done_b && start_b < done_a,
        "both RUNs start before either finishes:\n{}",
        o.stderr
    );
    assert_eq!(p.read_out("a"), "a\n");
    assert_eq!(p.read_out("b"), "b\n");
}

#[test]
fn target_builds_only_the_stages_it_needs() {
    let p = Project::new(
        "FROM busybox AS base\nRUN echo in-base > /base\n\
         FROM base AS a\nRUN echo in-a > /a\n\
         FROM busybox AS b\nRUN echo stage-b > /b\n",
    );
    let o = p.build().args(["--target", "a"]).ok();
    assert!(o.ran("echo in-base") && o.ran("echo in-a"), "{}", o.stderr);
    assert!(
        !o.ran("echo stage-b"),
        "stage b is not needed:\n{}",
        o.stderr
    );
    assert_eq!(p.read_out("a"), "in-a\n");
    assert!(p.out_has("base") && !p.out_has("b"));
}

#[test]
fn identical_steps_of_two_stages_run_once() {
    let p = Project::new(
        "FROM busybox AS x\nRUN echo same > /same\nRUN echo x > /x\n\
         FROM busybox AS y\nRUN echo same > /same\nRUN echo y > /y\n\
         FROM busybox\nCOPY --from=x /x /same /\nCOPY --from=y /y /\n",
    );
    let o = p.build().ok();
    let runs = o
        .started()
        .iter()
        .filter(|n| n.contains("echo same"))
        .count();
    assert_eq!(runs, 1, "{}", o.stderr);
    assert_eq!(p.read_out("same"), "same\n");
    assert_eq!(p.read_out("x"), "x\n");
    assert_eq!(p.read_out("y"), "y\n");
}

#[test]
fn first_failure_cancels_running_siblings_and_names_the_instruction() {
    let p = Project::new(
        "FROM busybox AS slow\nRUN sleep 30 && touch /slow\n\
         FROM busybox AS bad\nRUN sleep 0.3 && echo broken-step && exit 3\n\
         FROM busybox\nCOPY --from=slow /slow /\nCOPY --from=bad / /bad\n",
    );
    let started = Instant::now();
    let o = p.build().args(["--jobs", "4"]).fails();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the sleeping sibling was not cancelled"
    );
    assert!(o.ran("sleep 30"), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("Dockerfile:4:1: [bad 2/2] RUN sleep 0.3 && echo broken-step && exit 3")
            && o.stderr.contains("exit code: 3"),
        "the error names the failed instruction:\n{}",
        o.stderr
    );
    let slow_done = &o.events[o.position("done", "sleep 30").unwrap()];
    assert_eq!(slow_done["error"], "cancelled", "{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
}

const CHAIN: &str = "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy-a\n\
                     COPY b.txt /b.txt\nRUN cat /b.txt > /copy-b\n";

fn chain() -> Project {
    let p = Project::new(CHAIN);
    p.write("a.txt", "A1\n").write("b.txt", "B1\n");
    p
}

#[test]
fn rebuild_with_nothing_changed_runs_no_step() {
    let p = chain();
    let first = p.build().ok();
    assert_eq!(first.steps_run().len(), 5, "{}", first.stderr);
    let second = p.build().ok();
    assert_eq!(
        second.steps_run(),
        Vec::<String>::new(),
        "{}",
        second.stderr
    );
    assert!(second.cached().len() >= 5, "{}", second.stderr);
    assert_eq!(p.read_out("copy-b"), "B1\n");
}

#[test]
fn changed_context_file_reruns_from_the_copy_that_reads_it() {
    let p = chain();
    p.build().ok();
    p.write("b.txt", "B2\n");
    let o = p.build().ok();
    let ran = o.steps_run();
    assert_eq!(ran.len(), 2, "only COPY b.txt and what follows: {ran:?}");
    assert!(ran[0].contains("COPY b.txt") && ran[1].contains("cat /b.txt"));
    assert_eq!(p.read_out("copy-b"), "B2\n");
    assert_eq!(p.read_out("copy-a"), "A1\n");

    p.write("a.txt", "A2\n");
    let o = p.build().ok();
    assert_eq!(o.steps_run().len(), 4, "{:?}", o.steps_run());
    assert!(!o.ran("echo one"));
    assert_eq!(p.read_out("copy-a"), "A2\n");
}

#[test]
fn no_cache_reruns_every_step() {
    let p = chain();
    p.build().ok();
    let o = p.build().arg("--no-cache").ok();
    assert_eq!(o.steps_run().len(), 5, "{}", o.stderr);
    assert_eq!(p.read_out("copy-a"), "A1\n");
}

#[test]
fn no_cache_result_replaces_the_cached_one() {
    let p = Project::new("FROM busybox\nRUN cat /proc/sys/kernel/random/uuid > /stamp\n");
    p.build().ok();
    let first = p.read_out("stamp");
    p.build().arg("--no-cache").ok();
    let second = p.read_out("stamp");
    assert_ne!(first, second, "--no-cache exports the new run's result");
    let o = p.build().ok();
    assert!(o.steps_run().is_empty(), "{}", o.stderr);
    assert_eq!(
        p.read_out("stamp"),
        second,
        "the cache now holds the newest run"
    );
}

#[test]
fn no_cache_filter_reruns_only_that_stage() {
    let p = Project::new(
        "FROM busybox AS a\nRUN echo in-a > /a\n\
         FROM busybox AS b\nRUN echo in-b > /b\n\
         FROM busybox\nCOPY --from=a /a /\nCOPY --from=b /b /\n",
    );
    p.build().ok();
    let o = p.build().args(["--no-cache-filter", "b"]).ok();
    assert!(o.ran("echo in-b"), "{}", o.stderr);
    assert!(!o.ran("echo in-a"), "stage a stays cached:\n{}", o.stderr);
    assert_eq!(p.read_out("b"), "in-b\n");
}

#[test]
fn two_processes_on_one_root_both_succeed() {
    let p = chain();
    let out1 = p.dir.path().join("out1");
    let out2 = p.dir.path().join("out2");
    let mut c1 = p
        .build()
        .output(format!("type=local,dest={}", out1.display()))
        .command();
    let mut c2 = p
        .build()
        .output(format!("type=local,dest={}", out2.display()))
        .command();
    let h1 = c1.stderr(Stdio::piped()).spawn().unwrap();
    let h2 = c2.stderr(Stdio::piped()).spawn().unwrap();
    let o1 = h1.wait_with_output().unwrap();
    let o2 = h2.wait_with_output().unwrap();
    for (o, out) in [(o1, &out1), (o2, &out2)] {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read_to_string(out.join("copy-a")).unwrap(), "A1\n");
        assert_eq!(std::fs::read_to_string(out.join("copy-b")).unwrap(), "B1\n");
        assert_eq!(std::fs::read_to_string(out.join("one")).unwrap(), "one\n");
    }
}

/// Pids of host processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(marker)
        {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[test]
fn build_killed_mid_run_leaves_a_root_the_next_build_can_use() {
    let marker = format!("killed-build-{}", std::process::id());
    let p = Project::new(&format!(
        "FROM busybox\nRUN echo before > /before\n\
         RUN echo partial > /partial && sleep 5 && echo done > /done # {marker}\n"
    ));
    let mut child = p.build().command().stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.contains("\"started\"") && line.contains("sleep 5") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        processes_with(&marker),
        Vec::<String>::new(),
        "the step's processes die with hoist"
    );
    let o = p.build().ok();
    assert!(o.ran("sleep 5"), "the killed step reruns:\n{}", o.stderr);
    assert_eq!(p.read_out("done"), "done\n");
    assert_eq!(p.read_out("partial"), "partial\n");
    assert_eq!(p.read_out("before"), "before\n");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = p.root().display().to_string();
    assert!(
        !mounts.contains(&root),
        "mounts of the killed build are left behind:\n{mounts}"
    );
}

#[test]
fn damaged_cache_record_is_a_miss_with_a_warning() {
    let p = chain();
    p.build().ok();
    let records = p.root().join("cache/records");
    let mut damaged = 0;
    for entry in std::fs::read_dir(&records).unwrap() {
        std::fs::write(entry.unwrap().path(), b"{\"layers\": [not json").unwrap();
        damaged += 1;
    }
    assert!(damaged > 0, "no cache records under {}", records.display());
    let o = p.build().ok();
    assert!(
        !o.warnings().is_empty(),
        "a warning names the damaged record:\n{}",
        o.stderr
    );
    assert_eq!(o.steps_run().len(), 5, "{}", o.stderr);
    assert_eq!(p.read_out("copy-a"), "A1\n");
    assert_eq!(p.read_out("copy-b"), "B1\n");
    // And the rewritten records serve the next build.
    let o = p.build().ok();
    assert!(o.steps_run().is_empty(), "{}", o.stderr);
}
