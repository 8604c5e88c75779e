//! The sandbox's own processes, run from a fresh exec of the hoist binary
//! (`hoist __sandbox-init`), so that nothing here runs after a fork of the
//! multi-threaded builder:
//!
//! - **the keeper** (the exec'd process): reads the `InitRequest` from
//!   its stdin (a socket), unshares the namespaces and forks the init; it
//!   waits for the init and is what the caller kills to cancel;
//! - **the init** (pid 1 of the new pid namespace): builds the filesystem
//!   view, sets the hostname, brings up loopback, forks the command, reaps
//!   every orphan and, when the command ends, reports its status and exits,
//!   which makes the kernel kill whatever the command left behind;
//! - **the command** (pid 2): drops to the user, changes directory, execs.
//!
//! Reports go back to the caller as JSON lines on the socket.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid};
use serde::{Deserialize, Serialize};

use super::apply::{LinuxKernel, apply};
use super::plan::plan;
use super::{ExitStatus, Network, RunSpec, Stubs};

/// The first argument that makes the hoist binary run [`init_main`].
pub const INIT_ARG: &str = "__sandbox-init";

/// What the caller sends the keeper.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct InitRequest {
    /// The caller's pid: the keeper exits if it was orphaned before it
    /// could ask to die with its parent.
    pub parent_pid: i32,
    /// Where the caller wrote hosts, resolv.conf and hostname.
    pub etc_dir: PathBuf,
    pub spec: RunSpec,
}

/// What the sandbox tells the caller, one JSON object per line.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum InitReport {
    /// Setup failed; the message names the operation and path.
    SetupFailed { message: String },
    /// The filesystem view is ready; these stubs were created in the rootfs.
    Ready { stubs: Stubs },
    /// The command could not be executed.
    ExecFailed {
        command: String,
        not_found: bool,
        message: String,
    },
    /// The command ended.
    Exited { status: ExitStatus },
}

/// Capabilities a RUN step keeps (Docker's default set); all others are
/// dropped from the bounding set.
const DEFAULT_CAPS: [u32; 14] = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31];

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Entry point of `hoist __sandbox-init`. Never returns.
pub fn init_main() -> ! {
    let code = match keeper() {
        Ok(code) => code,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "hoist sandbox: {message}");
            125
        }
    };
    // SAFETY: _exit only ends the process.
    unsafe { libc::_exit(code) }
}

/// The keeper: returns its exit code, or an error it could not report.
fn keeper() -> Result<i32, String> {
    // Nothing the builder leaked without CLOEXEC reaches the command.
    // SAFETY: close_range only changes flags on our own descriptors.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| format!("reading the request: {e}"))?;
    let request: InitRequest =
        serde_json::from_slice(&input).map_err(|e| format!("decoding the request: {e}"))?;
    // Keep the socket for reports, away from fd 0, closed on exec.
    let socket = nix::fcntl::fcntl(std::io::stdin(), nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))
        .map_err(|e| format!("dup of the report socket: {e}"))?;
    // SAFETY: fcntl just returned this new descriptor; we own it.
    let mut reports = Reporter(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(socket) }));
    let null = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("open /dev/null: {e}"))?;
    nix::unistd::dup2_stdin(&null).map_err(|e| format!("dup2 /dev/null: {e}"))?;
    drop(null);

    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("prctl: {e}"))?;
    if nix::unistd::getppid().as_raw() != request.parent_pid {
        return Ok(125);
    }
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if request.spec.network == Network::None {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    if let Err(errno) = nix::sched::unshare(flags) {
        reports.send(&InitReport::SetupFailed {
            message: format!("unshare of the namespaces failed: {errno}"),
        });
        return Ok(125);
    }
    let keeper_pid = nix::unistd::getpid();
    // SAFETY: this process is single-threaded (a fresh exec that started
    // no threads), so the child may do anything.
    match unsafe { nix::unistd::fork() } {
        Err(errno) => {
            reports.send(&InitReport::SetupFailed {
                message: format!("fork of the sandbox init failed: {errno}"),
            });
            Ok(125)
        }
        Ok(ForkResult::Child) => {
            let code = pid1(&request, keeper_pid, &mut reports);
            // SAFETY: _exit only ends the process.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(reports);
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                    Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                    Ok(_) | Err(Errno::EINTR) => continue,
                    Err(errno) => return Err(format!("waiting for the sandbox init: {errno}")),
                }
            }
        }
    }
}

struct Reporter(std::fs::File);

impl Reporter {
    fn send(&mut self, report: &InitReport) {
        if let Ok(mut line) = serde_json::to_vec(report) {
            line.push(b'\n');
            // The caller gone means nobody is left to tell.
            let _ = self.0.write_all(&line);
        }
    }
}

/// pid 1 of the sandbox. Returns its exit code.
fn pid1(request: &InitRequest, keeper: Pid, reports: &mut Reporter) -> i32 {
    if let Err(message) = setup(request, keeper) {
        reports.send(&InitReport::SetupFailed { message });
        return 125;
    }
    let stubs = match apply(
        &plan(&request.spec, &request.etc_dir),
        &request.spec.rootfs,
        &mut LinuxKernel,
    ) {
        Ok(created) => created,
        Err(e) => {
            reports.send(&InitReport::SetupFailed {
                message: e.to_string(),
            });
            return 125;
        }
    };
    // Sent with the exit status, not now: waking the caller here would only
    // compete with the command for the CPU.
    let ready = InitReport::Ready { stubs };
    // SAFETY: still single-threaded.
    let command = match unsafe { nix::unistd::fork() } {
        Err(errno) => {
            reports.send(&InitReport::SetupFailed {
                message: format!("fork of the command failed: {errno}"),
            });
            return 125;
        }
        Ok(ForkResult::Child) => {
            let report = exec_command(&request.spec);
            reports.send(&report);
            let code = match report {
                InitReport::ExecFailed {
                    not_found: true, ..
                } => 127,
                _ => 126,
            };
            // SAFETY: _exit only ends the process.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    // Reap every orphan until the command itself ends.
    let status = loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == command => break ExitStatus::Code(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == command => {
                break ExitStatus::Signal(sig as i32);
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(errno) => {
                reports.send(&InitReport::SetupFailed {
                    message: format!("waiting for the command failed: {errno}"),
                });
                return 125;
            }
        }
    };
    reports.send(&ready);
    reports.send(&InitReport::Exited { status });
    0
}

/// Process-level setup of pid 1: die with the keeper, own session,
/// hostname, loopback.
fn setup(request: &InitRequest, keeper: Pid) -> Result<(), String> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("prctl: {e}"))?;
    // getppid() is 0 across the pid namespace boundary; the host's /proc
    // (still mounted here) tells who our parent is.
    if host_parent_pid() != Some(keeper.as_raw()) {
        return Err("the sandbox keeper died during setup".to_string());
    }
    nix::unistd::setsid().map_err(|e| format!("setsid failed: {e}"))?;
    nix::unistd::sethostname(&request.spec.hostname)
        .map_err(|e| format!("sethostname {:?} failed: {e}", request.spec.hostname))?;
    if request.spec.network == Network::None {
        loopback_up().map_err(|e| format!("bringing up the loopback interface failed: {e}"))?;
    }
    Ok(())
}

fn host_parent_pid() -> Option<i32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

fn loopback_up() -> Result<(), Errno> {
    // SAFETY: plain socket and ioctl calls on a zeroed ifreq we own; the
    // socket is closed by OwnedFd.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(Errno::last());
        }
        let sock = OwnedFd::from_raw_fd(fd);
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(Errno::last());
        }
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(Errno::last());
        }
    }
    Ok(())
}

/// In the command's process: become the user and exec. Returns only on
/// failure, with the report to send.
fn exec_command(spec: &RunSpec) -> InitReport {
    let command = spec.args.first().cloned().unwrap_or_default();
    let fail = |message: String, not_found: bool| InitReport::ExecFailed {
        command: command.clone(),
        not_found,
        message,
    };
    if command.is_empty() {
        return fail("exec: no command given".to_string(), true);
    }
    reset_signal_dispositions();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    if let Err(e) = become_user(spec) {
        return fail(e, false);
    }
    let cwd = super::plan::workdir(spec);
    if let Err(errno) = nix::unistd::chdir(Path::new(cwd)) {
        return fail(format!("chdir to {cwd} failed: {errno}"), false);
    }
    let to_c = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let argv: Result<Vec<CString>, String> = spec.args.iter().map(|a| to_c(a)).collect();
    let envp: Result<Vec<CString>, String> = spec.env.iter().map(|e| to_c(e)).collect();
    let (argv, envp) = match (argv, envp) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return fail(format!("exec: {command}: {e}"), false),
    };
    let candidates: Vec<PathBuf> = if command.contains('/') {
        vec![PathBuf::from(&command)]
    } else {
        let path = spec
            .env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(&command))
            .collect()
    };
    let mut last = Errno::ENOENT;
    for candidate in candidates {
        let Ok(c) = CString::new(candidate.as_os_str().as_encoded_bytes()) else {
            continue;
        };
        let errno = nix::unistd::execve(&c, &argv, &envp).unwrap_err();
        match errno {
            Errno::ENOENT | Errno::ENOTDIR => {}
            Errno::EACCES => last = Errno::EACCES,
            other => {
                last = other;
                break;
            }
        }
    }
    if last == Errno::ENOENT {
        fail(format!("exec: {command}: not found"), true)
    } else {
        fail(
            format!("exec: {command}: {}", last.desc().to_lowercase()),
            false,
        )
    }
}

/// Every signal back to its default action, as a fresh process expects:
/// Rust ignores SIGPIPE in its processes, and ignored signals survive exec.
/// The raw syscall also reaches the real-time signals libc keeps for itself.
fn reset_signal_dispositions() {
    // The kernel's struct sigaction: handler, flags, restorer, mask; all
    // zero is SIG_DFL with no flags and an empty mask.
    let default = [0u64; 4];
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads the zeroed struct we own and installs
        // no handler; the old action is not asked for.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                default.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
}

fn become_user(spec: &RunSpec) -> Result<(), String> {
    let last_cap: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    for cap in (0..=last_cap).filter(|c| !DEFAULT_CAPS.contains(c)) {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
            let errno = Errno::last();
            if errno != Errno::EINVAL {
                return Err(format!("dropping capability {cap} failed: {errno}"));
            }
        }
    }
    // Before the switch of user, while CAP_SYS_ADMIN is still effective.
    super::seccomp::install()?;
    let user = &spec.user;
    let groups: Vec<Gid> = user
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups)
        .map_err(|e| format!("setgroups {:?} failed: {e}", user.additional_gids))?;
    nix::unistd::setgid(Gid::from_raw(user.gid))
        .map_err(|e| format!("setgid {} failed: {e}", user.gid))?;
    nix::unistd::setuid(Uid::from_raw(user.uid))
        .map_err(|e| format!("setuid {} failed: {e}", user.uid))?;
    Ok(())
}
