//! The caller's side of one sandboxed run: write the step's /etc files,
//! spawn `EXE __sandbox-init`, send it the request, stream the command's
//! output to the caller as it comes, collect the reports, and let another
//! thread cancel it through a [`CancelToken`].

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::init::{INIT_ARG, InitReport, InitRequest};
use super::plan::ETC_FILES;
use super::{ExecError, RunOutcome, RunSpec, Stream, Stubs};

/// Cancels running sandboxes from another thread: each keeper is killed,
/// its init dies with it and takes every process of the step along. One
/// token may serve several concurrent runs (a whole build's Ctrl-C).
/// Cancelling before a run starts makes that run fail at once.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    state: Arc<Mutex<CancelState>>,
}

#[derive(Debug, Default)]
struct CancelState {
    cancelled: bool,
    keepers: Vec<Pid>,
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Kills the running steps, if any, and marks the token cancelled.
    pub fn cancel(&self) {
        let mut state = self.lock();
        state.cancelled = true;
        for pid in &state.keepers {
            let _ = kill(*pid, Signal::SIGKILL);
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.lock().cancelled
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CancelState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a keeper; kills it at once if already cancelled.
    fn register(&self, pid: Pid) {
        let mut state = self.lock();
        if state.cancelled {
            let _ = kill(pid, Signal::SIGKILL);
        }
        state.keepers.push(pid);
    }

    /// Forgets a keeper before it is reaped, so no kill can hit a reused pid.
    fn unregister(&self, pid: Pid) {
        self.lock().keepers.retain(|p| *p != pid);
    }
}

/// Runs `spec` in a new sandbox by re-executing `exe` (normally
/// `/proc/self/exe`, a binary whose `main` dispatches [`INIT_ARG`] to
/// [`super::init_main`]). Output chunks are passed to `on_output` as they
/// arrive. Blocks until every process of the step is gone.
pub fn run(
    exe: &Path,
    spec: &RunSpec,
    mut on_output: impl FnMut(Stream, &[u8]),
    cancel: &CancelToken,
) -> Result<RunOutcome, ExecError> {
    if cancel.is_cancelled() {
        return Err(ExecError::Cancelled);
    }
    let etc_dir = tempfile::Builder::new()
        .prefix("hoist-run-")
        .tempdir()
        .map_err(|source| ExecError::Io {
            op: "create the step's /etc dir",
            path: std::env::temp_dir(),
            source,
        })?;
    for (name, _) in ETC_FILES {
        let content = match name {
            "hosts" => spec.etc_hosts.clone(),
            "resolv.conf" => spec.resolv_conf.clone(),
            _ => format!("{}\n", spec.hostname),
        };
        let path = etc_dir.path().join(name);
        std::fs::write(&path, content).map_err(|source| ExecError::Io {
            op: "write",
            path,
            source,
        })?;
    }
    let request = InitRequest {
        parent_pid: std::process::id() as i32,
        etc_dir: etc_dir.path().to_path_buf(),
        spec: spec.clone(),
    };
    let request = serde_json::to_vec(&request)
        .map_err(|e| ExecError::Protocol(format!("encoding the request: {e}")))?;

    let (mut ours, theirs) = UnixStream::pair().map_err(|source| ExecError::Io {
        op: "socketpair",
        path: exe.to_path_buf(),
        source,
    })?;
    let child = Command::new(exe)
        .arg(INIT_ARG)
        .env_clear()
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| ExecError::Spawn {
            exe: exe.to_path_buf(),
            source,
        })?;
    let pid = Pid::from_raw(child.id() as i32);
    cancel.register(pid);
    let mut keeper = Keeper {
        child,
        cancel,
        done: false,
    };
    let child = &mut keeper.child;
    let result = (|| {
        // The keeper reads the request to its end before anything else, so
        // this cannot block against a full output pipe.
        // A keeper that is already gone is reported from what it left.
        let sent =
            send_all(&ours, &request).and_then(|()| ours.shutdown(std::net::Shutdown::Write));
        match sent {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => return Err(ExecError::Protocol(format!("sending the request: {e}"))),
        }
        let (stdout, stderr) = match (child.stdout.take(), child.stderr.take()) {
            (Some(o), Some(e)) => (o, e),
            _ => {
                return Err(ExecError::Protocol(
                    "the init's output pipes are missing".into(),
                ));
            }
        };
        pump(stdout, stderr, &mut ours, &mut on_output)
    })();
    if result.is_err() {
        let _ = child.kill();
    }
    cancel.unregister(pid);
    let keeper_status = child.wait();
    keeper.done = true;
    let reports = result?;
    drop(etc_dir);
    outcome(exe, &reports, cancel, keeper_status.ok())
}

/// The spawned keeper; killed and reaped if [`run`] is left early (an
/// error, or a panic in the caller's output callback).
struct Keeper<'a> {
    child: std::process::Child,
    cancel: &'a CancelToken,
    done: bool,
}

impl Drop for Keeper<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.cancel
                .unregister(Pid::from_raw(self.child.id() as i32));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Writes all of `bytes` without risking SIGPIPE, whatever the embedding
/// process does with that signal.
fn send_all(socket: &UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    use nix::sys::socket::{MsgFlags, send};
    while !bytes.is_empty() {
        match send(socket.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(())
}

/// Streams stdout and stderr to `on_output` and collects the report socket
/// until all three are closed, i.e. every process of the step is gone.
fn pump(
    mut stdout: impl Read + AsFd,
    mut stderr: impl Read + AsFd,
    socket: &mut UnixStream,
    on_output: &mut impl FnMut(Stream, &[u8]),
) -> Result<Vec<u8>, ExecError> {
    let mut reports = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut open = [true; 3];
    while open.iter().any(|o| *o) {
        let revents = {
            let sources: [&dyn AsFd; 3] = [&stdout, &stderr, socket];
            let index: Vec<usize> = (0..3).filter(|i| open[*i]).collect();
            let mut polled: Vec<PollFd> = index
                .iter()
                .map(|i| PollFd::new(sources[*i].as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut polled, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(ExecError::Protocol(format!("poll: {e}"))),
            }
            index
                .iter()
                .zip(&polled)
                .map(|(i, p)| (*i, p.revents().unwrap_or(PollFlags::empty())))
                .collect::<Vec<_>>()
        };
        for (i, events) in revents {
            if events.is_empty() {
                continue;
            }
            let read = match i {
                0 => stdout.read(&mut buf),
                1 => stderr.read(&mut buf),
                _ => socket.read(&mut buf),
            };
            match read {
                Ok(0) => open[i] = false,
                Ok(n) => match i {
                    0 => on_output(Stream::Stdout, &buf[..n]),
                    1 => on_output(Stream::Stderr, &buf[..n]),
                    _ => reports.extend_from_slice(&buf[..n]),
                },
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // A peer that exits without reading the whole request (not
                // a hoist init) resets the socket: that is its end too.
                Err(e) if i == 2 && e.kind() == std::io::ErrorKind::ConnectionReset => {
                    open[i] = false;
                }
                Err(e) => {
                    return Err(ExecError::Protocol(format!(
                        "reading from the sandbox: {e}"
                    )));
                }
            }
        }
    }
    Ok(reports)
}

fn outcome(
    exe: &Path,
    reports: &[u8],
    cancel: &CancelToken,
    keeper: Option<std::process::ExitStatus>,
) -> Result<RunOutcome, ExecError> {
    let mut stubs = Stubs::default();
    for line in reports.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let report: InitReport = serde_json::from_slice(line)
            .map_err(|e| ExecError::Protocol(format!("decoding a report: {e}")))?;
        match report {
            InitReport::Ready { stubs: s } => stubs = s,
            InitReport::SetupFailed { message } => return Err(ExecError::Setup { message }),
            InitReport::ExecFailed {
                command,
                not_found: true,
                ..
            } => {
                return Err(ExecError::CommandNotFound { command });
            }
            InitReport::ExecFailed {
                command, message, ..
            } => {
                return Err(ExecError::Exec { command, message });
            }
            InitReport::Exited { status } => {
                return Ok(RunOutcome { status, stubs });
            }
        }
    }
    if cancel.is_cancelled() {
        return Err(ExecError::Cancelled);
    }
    Err(ExecError::InitDied {
        exe: exe.to_path_buf(),
        status: keeper.map_or_else(|| "unknown".to_string(), |s| s.to_string()),
    })
}
