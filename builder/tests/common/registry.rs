//! [`TestRegistry`]: Debian's `docker-registry serve CONFIG` on a free
//! 127.0.0.1 port with filesystem storage in a temp dir, optionally behind
//! htpasswd basic auth and optionally writing an access log
//! ([`TestRegistry::requests`]); killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hoist_snapshotter::digest::Digest;

use super::skopeo_copy;

/// How to start a [`TestRegistry`].
#[derive(Debug, Clone, Default)]
pub struct RegistrySetup {
    /// `(user, password)`: htpasswd basic auth.
    pub credentials: Option<(String, String)>,
    /// Log every request (read back with [`TestRegistry::requests`]).
    pub access_log: bool,
}

/// One line of the registry's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
}

pub struct TestRegistry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    /// `Some((user, password))` when started with htpasswd auth.
    pub credentials: Option<(String, String)>,
}

impl TestRegistry {
    /// An anonymous registry.
    pub fn start() -> TestRegistry {
        Self::start_with(RegistrySetup::default())
    }

    /// A registry that wants `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_auth(user: &str, password: &str) -> TestRegistry {
        Self::start_with(RegistrySetup {
            credentials: Some((user.to_string(), password.to_string())),
            ..RegistrySetup::default()
        })
    }

    /// A registry set up as `setup` says.
    pub fn start_with(setup: RegistrySetup) -> TestRegistry {
        let credentials = setup.credentials;
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: {}\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            !setup.access_log,
            storage.display()
        );
        if let Some((user, password)) = &credentials {
            let hash = bcrypt::hash(password, 4).unwrap();
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: hoist-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
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
        let mut registry = TestRegistry {
            child,
            dir,
            port,
            credentials,
        };
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

    /// The requests of the access log (empty unless started with
    /// `access_log`), oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log()
            .lines()
            .filter(|line| line.starts_with("127.0.0.1 "))
            .filter_map(|line| {
                // `... "PUT /v2/x/blobs/uploads/..?digest=.. HTTP/1.1" 201 0 ...`
                let (_, rest) = line.split_once('"')?;
                let (request, rest) = rest.split_once('"')?;
                let mut words = request.split(' ');
                let method = words.next()?.to_string();
                let path = words.next()?.to_string();
                let status = rest.split_whitespace().next()?.parse().ok()?;
                Some(LoggedRequest {
                    method,
                    path,
                    status,
                })
            })
            .collect()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps the bytes of blob `digest`.
    pub fn blob_data_path(&self, digest: &Digest) -> PathBuf {
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&digest.hex()[..2])
            .join(digest.hex())
            .join("data")
    }

    /// Pushes `layout:tag` as `repo:dest_tag` (with `--all` for indexes).
    pub fn push_layout(&self, layout: &Path, tag: &str, repo: &str, dest_tag: &str) {
        let creds = self.credentials.as_ref().map(|(u, p)| format!("{u}:{p}"));
        let mut extra = vec!["--all"];
        if let Some(c) = &creds {
            extra.push("--dest-creds");
            extra.push(c);
        }
        skopeo_copy(
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://{}/{repo}:{dest_tag}", self.addr()),
            &extra,
        );
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
