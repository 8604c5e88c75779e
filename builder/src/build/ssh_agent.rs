//! `--ssh ID=KEYFILE[,KEYFILE…]`: private key files are served to RUN
//! steps through an agent, as BuildKit does. hoist starts OpenSSH's
//! `ssh-agent` on a socket in the data root's tmp dir, loads the keys with
//! `ssh-add`, forwards that socket like any other agent, and stops the agent
//! when the build ends. The key material never enters the sandbox.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running private agent holding some keys; stopped on drop.
pub struct KeyAgent {
    child: Child,
    _dir: tempfile::TempDir,
    pub socket: PathBuf,
}

impl KeyAgent {
    /// Starts an agent with `keys` loaded; `id` names the `--ssh` entry in errors.
    pub fn start(id: &str, keys: &[PathBuf], tmp: &Path) -> Result<KeyAgent, String> {
        let dir = tempfile::Builder::new()
            .prefix("ssh-agent-")
            .tempdir_in(tmp)
            .map_err(|e| format!("--ssh {id}: creating a directory in {}: {e}", tmp.display()))?;
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .args(["-D", "-a"])
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("--ssh {id}: key files need ssh-agent (Debian package openssh-client): {e}")
            })?;
        let mut agent = KeyAgent {
            child,
            _dir: dir,
            socket,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !agent.socket.exists() {
            if let Ok(Some(status)) = agent.child.try_wait() {
                return Err(format!("--ssh {id}: ssh-agent exited ({status})"));
            }
            if Instant::now() > deadline {
                return Err(format!("--ssh {id}: ssh-agent did not create its socket"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for key in keys {
            let out = Command::new("ssh-add")
                .arg(key)
                .env("SSH_AUTH_SOCK", &agent.socket)
                .env_remove("DISPLAY")
                .env_remove("SSH_ASKPASS")
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("--ssh {id}: running ssh-add: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "--ssh {id}: cannot load key {}: {}",
                    key.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(agent)
    }
}

impl Drop for KeyAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True if `p` is a Unix socket (an agent), as opposed to a key file.
pub fn is_socket(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}
