//! [`Registry`]: Debian's `docker-registry` on a free 127.0.0.1 port with
//! filesystem storage in a temp dir, holding the busybox layout as
//! `busybox:latest`; killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Registry {
    /// Starts a registry and pushes `layout:latest` to it as `busybox:latest`.
    pub fn with_busybox(layout: &std::path::Path) -> Registry {
        let registry = Registry::start();
        let out = Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("docker://{}/busybox:latest", registry.addr()))
            .output()
            .expect("cannot run skopeo: install Debian's skopeo");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}\nregistry log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            registry.log()
        );
        registry
    }

    pub fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            storage.display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("cannot start docker-registry: install Debian's docker-registry package");
        let mut registry = Registry { child, dir, port };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited ({status}):\n{}", self.log());
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer on /v2/:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The registry's filesystem storage (`docker/registry/v2/...`).
    pub fn storage(&self) -> std::path::PathBuf {
        self.dir.path().join("storage")
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
