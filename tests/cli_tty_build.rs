//! `hoist build --progress tty` under a pseudo-terminal (`script` from
//! util-linux): the live view renders every step and ends cleanly, with the
//! build's exit code.

use std::path::{Path, PathBuf};
use std::process::Command;

const HOIST: &str = env!("CARGO_BIN_EXE_hoist");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn busybox_layout(dir: &Path) -> PathBuf {
    let out = dir.join("busybox");
    let st = Command::new(repo().join("examples/make-busybox-layout.sh"))
        .arg(&out)
        .output()
        .expect("run examples/make-busybox-layout.sh (needs busybox-static and umoci)");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    out
}

/// Runs `hoist build ARGS` on a terminal; returns (exit status text, output).
fn on_a_terminal(args: &str) -> String {
    let cmd = format!("{HOIST} build {args}; echo \"EXIT=$?\"");
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("NO_COLOR")
        .output()
        .expect("script (util-linux)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tty_progress_shows_every_step_finished_and_ends_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    let args = format!(
        "--root {root} --progress tty --build-context busybox=oci-layout://{layout}:latest -o type=local,dest={out} {ctx}",
        root = tmp.path().join("root").display(),
        layout = layout.display(),
        out = tmp.path().join("out").display(),
        ctx = repo().join("examples/hello").display(),
    );
    let out = on_a_terminal(&args);
    assert!(out.contains("EXIT=0"), "{out}");
    for step in [
        "[build 4/4] RUN mkdir",
        "[stage-1 4/4] RUN hello",
        "exporting to local",
    ] {
        let done = out
            .rfind(step)
            .unwrap_or_else(|| panic!("{step} never shown: {out}"));
        // The last time a step is drawn it carries the finished mark.
        let line_start = out[..done].rfind(['\n', '\r']).map_or(0, |i| i + 1);
        assert!(
            out[line_start..done].contains('✔'),
            "{step} not shown finished: {out}"
        );
    }
    // Nothing is drawn after the build's exit code.
    let tail = &out[out.find("EXIT=0").unwrap()..];
    assert!(
        !tail.contains('✔'),
        "drawing continued after exit: {tail:?}"
    );
    assert!(tmp.path().join("out/hello.out").is_file());
}

#[test]
fn tty_progress_of_a_failing_build_prints_the_step_log_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo first-line; echo second-line; exit 7\n",
    )
    .unwrap();
    let args = format!(
        "--root {root} --progress tty --build-context busybox=oci-layout://{layout}:latest {ctx}",
        root = tmp.path().join("root").display(),
        layout = layout.display(),
        ctx = ctx.display(),
    );
    let out = on_a_terminal(&args);
    assert!(out.contains("EXIT=1"), "{out}");
    assert!(
        out.contains("first-line") && out.contains("second-line"),
        "{out}"
    );
    assert!(out.contains("exit code: 7"), "{out}");
}
