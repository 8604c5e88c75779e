//! `ADD http://...` against a real HTTP server on 127.0.0.1 (python3's
//! http.server, which sends Last-Modified and answers If-Modified-Since):
//! the file lands at the destination with mode 0600, `--checksum` is
//! verified, and a rebuild with an unchanged URL downloads nothing.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOIST: &str = env!("CARGO_BIN_EXE_hoist");

struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, log: PathBuf) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("python3 is needed for this test");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "http.server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, port, log }
}

fn busybox_layout(dir: &Path) -> PathBuf {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/make-busybox-layout.sh"
    );
    let out = dir.join("busybox");
    let st = Command::new("bash").arg(script).arg(&out).status().unwrap();
    assert!(st.success(), "make-busybox-layout.sh failed");
    out
}

fn hoist(root: &Path, layout: &Path, ctx: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(HOIST)
        .arg("build")
        .arg("--root")
        .arg(root)
        .arg("--build-context")
        .arg(format!("busybox=oci-layout://{}:latest", layout.display()))
        .args(["--progress", "rawjson"])
        .args(extra)
        .arg(ctx)
        .output()
        .unwrap()
}

struct Setup {
    _t: tempfile::TempDir,
    server: Server,
    www: PathBuf,
    layout: PathBuf,
    ctx: PathBuf,
    root: PathBuf,
    out: PathBuf,
    sha: String,
}

fn setup() -> Setup {
    let t = tempfile::tempdir().unwrap();
    let www = t.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("data.txt"), "downloaded\n").unwrap();
    let sum = Command::new("sha256sum")
        .arg(www.join("data.txt"))
        .output()
        .unwrap();
    let sha = format!(
        "sha256:{}",
        String::from_utf8_lossy(&sum.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    );
    let server = serve(&www, t.path().join("server.log"));
    let layout = busybox_layout(t.path());
    let ctx = t.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    Setup {
        root: t.path().join("root"),
        out: t.path().join("out"),
        server,
        www,
        layout,
        ctx,
        sha,
        _t: t,
    }
}

#[test]
fn add_url_puts_the_file_at_dest_with_mode_0600_and_rebuild_downloads_nothing() {
    let s = setup();
    let url = format!("http://127.0.0.1:{}/data.txt", s.server.port);
    std::fs::write(
        s.ctx.join("Dockerfile"),
        format!("FROM busybox\nADD {url} /x\nRUN cat /x > /copy\n"),
    )
    .unwrap();
    let dest = format!("type=local,dest={}", s.out.display());
    let first = hoist(&s.root, &s.layout, &s.ctx, &["-o", &dest]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(s.out.join("x")).unwrap(),
        "downloaded\n"
    );
    assert_eq!(
        std::fs::read_to_string(s.out.join("copy")).unwrap(),
        "downloaded\n"
    );
    let mode = std::fs::metadata(s.out.join("x"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o600);
    // mtime from Last-Modified (http.server sends the file's mtime, whole seconds).
    let served = std::fs::metadata(s.www.join("data.txt"))
        .unwrap()
        .modified()
        .unwrap();
    let got = std::fs::metadata(s.out.join("x"))
        .unwrap()
        .modified()
        .unwrap();
    let secs =
        |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(secs(got), secs(served));

    let again = hoist(&s.root, &s.layout, &s.ctx, &[]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    let started: Vec<String> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "started")
        .map(|v| v["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        started.iter().all(|n| !n.contains("RUN cat")),
        "the RUN after an unchanged ADD ran again: {started:?}"
    );
    let log = std::fs::read_to_string(&s.server.log).unwrap();
    let gets: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("GET /data.txt"))
        .collect();
    assert_eq!(gets.len(), 2, "{log}");
    assert!(gets[0].contains("\" 200 "), "{log}");
    assert!(gets[1].contains("\" 304 "), "{log}");
}

#[test]
fn add_checksum_matching_the_download_succeeds() {
    let s = setup();
    let url = format!("http://127.0.0.1:{}/data.txt", s.server.port);
    std::fs::write(
        s.ctx.join("Dockerfile"),
        format!("FROM busybox\nADD --checksum={} {url} /x\n", s.sha),
    )
    .unwrap();
    let dest = format!("type=local,dest={}", s.out.display());
    let r = hoist(&s.root, &s.layout, &s.ctx, &["-o", &dest]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(
        std::fs::read_to_string(s.out.join("x")).unwrap(),
        "downloaded\n"
    );
}

#[test]
fn add_checksum_mismatch_fails_naming_both_digests() {
    let s = setup();
    let url = format!("http://127.0.0.1:{}/data.txt", s.server.port);
    let wrong = format!("sha256:{}", "0".repeat(64));
    std::fs::write(
        s.ctx.join("Dockerfile"),
        format!("FROM busybox\nADD --checksum={wrong} {url} /x\n"),
    )
    .unwrap();
    let r = hoist(&s.root, &s.layout, &s.ctx, &[]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(stderr.contains("checksum mismatch"), "{stderr}");
    assert!(
        stderr.contains(&wrong) && stderr.contains(&s.sha),
        "{stderr}"
    );
}
