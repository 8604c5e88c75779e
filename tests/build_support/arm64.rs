//! The arm64 busybox of the multi-platform tests: Debian's
//! `busybox-static:arm64` (`apt-get download busybox-static:arm64`, which
//! needs `dpkg --add-architecture arm64` and `apt-get update` first, as
//! `.ci/run` does), extracted once into a cache dir under the target
//! directory; and an arm64 busybox OCI layout made from it with umoci, like
//! `examples/make-busybox-layout.sh` does for amd64.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where the extracted package is kept between test runs.
fn cache_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_TARGET_TMPDIR"), "/busybox-arm64"))
}

fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `path` is an ELF executable for aarch64 (e_machine 0xb7).
pub fn is_aarch64_elf(path: &Path) -> bool {
    std::fs::read(path)
        .map(|b| b.len() > 20 && b.starts_with(b"\x7fELF") && b[18] == 0xb7 && b[19] == 0)
        .unwrap_or(false)
}

/// A `busybox-static_*_arm64.deb`: from apt's archive cache, else
/// downloaded into `dir`.
fn find_or_fetch_deb(dir: &Path) -> Result<PathBuf, String> {
    let find = |d: &Path| -> Option<PathBuf> {
        std::fs::read_dir(d)
            .ok()?
            .filter_map(Result::ok)
            .find_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                (n.starts_with("busybox-static_") && n.ends_with("_arm64.deb")).then(|| e.path())
            })
    };
    if let Some(deb) = find(Path::new("/var/cache/apt/archives")).or_else(|| find(dir)) {
        return Ok(deb);
    }
    run(
        Command::new("apt-get")
            .args(["download", "busybox-static:arm64"])
            .current_dir(dir),
        "apt-get download busybox-static:arm64 (it needs `dpkg --add-architecture arm64 && \
         apt-get update` first; see .ci/run)",
    )?;
    find(dir).ok_or_else(|| "apt-get download wrote no busybox-static_*_arm64.deb".to_string())
}

/// The arm64 busybox binary (found or fetched once, then cached).
/// Panics with the reason when it cannot be had.
pub fn arm64_busybox() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = cache_dir();
        let bin = dir.join("root/bin/busybox");
        if is_aarch64_elf(&bin) {
            return bin;
        }
        std::fs::create_dir_all(&dir).unwrap();
        let deb = find_or_fetch_deb(&dir).unwrap_or_else(|e| panic!("arm64 busybox: {e}"));
        // Extract next to the cache and rename into place, so concurrent
        // test binaries never see a half-written tree.
        let tmp = tempfile::tempdir_in(&dir).unwrap();
        run(
            Command::new("dpkg-deb").arg("-x").arg(&deb).arg(tmp.path()),
            "dpkg-deb -x",
        )
        .unwrap_or_else(|e| panic!("arm64 busybox: {e}"));
        let extracted = tmp.path().join("bin/busybox");
        assert!(
            is_aarch64_elf(&extracted),
            "{} holds no aarch64 /bin/busybox",
            deb.display()
        );
        let _ = std::fs::rename(tmp.keep(), dir.join("root"));
        assert!(
            is_aarch64_elf(&bin),
            "{} missing after extraction",
            bin.display()
        );
        bin
    })
}

/// An OCI layout (tag `latest`, architecture arm64) holding the arm64
/// busybox with its applet links, /etc/passwd, /etc/group and /tmp; made
/// once per test binary.
pub fn arm64_busybox_layout() -> &'static Path {
    static LAYOUT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &LAYOUT
        .get_or_init(|| {
            let busybox = arm64_busybox();
            let dir = tempfile::tempdir().unwrap();
            let layout = dir.path().join("busybox-arm64");
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/make-busybox-layout.sh"
            );
            run(
                Command::new("bash")
                    .arg(script)
                    .arg(&layout)
                    .env("BUSYBOX", busybox)
                    .env("ARCH", "arm64"),
                "making the arm64 busybox layout with examples/make-busybox-layout.sh",
            )
            .unwrap_or_else(|e| panic!("{e}"));
            (dir, layout)
        })
        .1
}
