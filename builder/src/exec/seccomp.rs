//! The seccomp filter of a RUN step: a short denylist of what Docker's
//! default profile forbids and the dropped capabilities do not already
//! prevent.
//!
//! - creating user namespaces (`clone`/`unshare` with `CLONE_NEWUSER`),
//!   which would hand the command a full capability set again in a
//!   namespace of its own; `clone3` answers `ENOSYS` (its flags live in
//!   memory a filter cannot read), so libcs fall back to `clone`;
//! - the kernel keyring (`keyctl`, `add_key`, `request_key`), which is not
//!   namespaced;
//! - `userfaultfd`, `perf_event_open`, `bpf` and io_uring, kernel attack
//!   surface no build needs;
//! - on x86_64, the x32 ABI (another numbering of the same calls).
//!
//! Denied calls fail with `EPERM`; a call from a foreign architecture kills
//! the process. Everything else, including what needs a dropped capability
//! (`mount`, `setns`, module loading…), is left to the capability checks.
//! The program is built as data by [`program`] and unit-tested through a
//! small interpreter; only x86_64 and aarch64 get a filter.
//! Hand-written (a few dozen BPF instructions) rather than via
//! `seccompiler`, whose rule language is larger than this need.

use libc::sock_filter;

const CLONE_NEWUSER: u32 = libc::CLONE_NEWUSER as u32;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_003E);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_00B7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

/// Offsets into `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0_LOW: u32 = 16;

const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const RET_KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;

fn ret_errno(errno: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA)
}

/// Calls denied outright.
fn denied() -> Vec<u32> {
    [
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_userfaultfd,
        libc::SYS_perf_event_open,
        libc::SYS_bpf,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ]
    .iter()
    .map(|n| *n as u32)
    .collect()
}

fn stmt(code: u32, k: u32) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

const LD_W_ABS: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
const JEQ: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
const JSET: u32 = libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K;
const RET: u32 = libc::BPF_RET | libc::BPF_K;

/// The filter for the build's architecture, `None` where there is none.
pub fn program() -> Option<Vec<sock_filter>> {
    let arch = AUDIT_ARCH?;
    let mut p = vec![
        stmt(LD_W_ABS, ARCH),
        jump(JEQ, arch, 1, 0),
        stmt(RET, RET_KILL),
        stmt(LD_W_ABS, NR),
    ];
    if cfg!(target_arch = "x86_64") {
        p.push(jump(JSET, X32_SYSCALL_BIT, 0, 1));
        p.push(stmt(RET, ret_errno(libc::ENOSYS)));
    }
    for nr in denied() {
        p.push(jump(JEQ, nr, 0, 1));
        p.push(stmt(RET, ret_errno(libc::EPERM)));
    }
    p.push(jump(JEQ, libc::SYS_clone3 as u32, 0, 1));
    p.push(stmt(RET, ret_errno(libc::ENOSYS)));
    for nr in [libc::SYS_clone, libc::SYS_unshare] {
        // Both take their namespace flags in the first argument.
        p.push(jump(JEQ, nr as u32, 0, 4));
        p.push(stmt(LD_W_ABS, ARG0_LOW));
        p.push(jump(JSET, CLONE_NEWUSER, 0, 1));
        p.push(stmt(RET, ret_errno(libc::EPERM)));
        p.push(stmt(RET, RET_ALLOW));
    }
    p.push(stmt(RET, RET_ALLOW));
    Some(p)
}

/// Installs the filter on the calling thread (and what it execs). Needs
/// CAP_SYS_ADMIN, so it runs before the user is switched.
pub fn install() -> Result<(), String> {
    let Some(program) = program() else {
        return Ok(());
    };
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut sock_filter,
    };
    // SAFETY: fprog points at `program`, alive for the call; the kernel
    // copies the filter.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(format!(
            "installing the seccomp filter failed: {}",
            nix::errno::Errno::last()
        ));
    }
    Ok(())
}

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use super::*;

    /// Runs the subset of classic BPF that [`program`] emits.
    fn verdict(nr: u32, arch: u32, arg0: u64) -> u32 {
        let program = program().unwrap();
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        data[16..24].copy_from_slice(&arg0.to_le_bytes());
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let ins = program[pc];
            let code = ins.code as u32;
            pc += 1;
            if code == LD_W_ABS {
                let at = ins.k as usize;
                acc = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
            } else if code == JEQ || code == JSET {
                let taken = if code == JEQ {
                    acc == ins.k
                } else {
                    acc & ins.k != 0
                };
                pc += if taken { ins.jt } else { ins.jf } as usize;
            } else if code == RET {
                return ins.k;
            } else {
                panic!("unexpected instruction {code:#x}");
            }
        }
    }

    fn native(nr: i64, arg0: u64) -> u32 {
        verdict(nr as u32, AUDIT_ARCH.unwrap(), arg0)
    }

    #[test]
    fn ordinary_calls_are_allowed() {
        for nr in [
            libc::SYS_read,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_setuid,
        ] {
            assert_eq!(native(nr, 0), RET_ALLOW, "syscall {nr}");
        }
    }

    #[test]
    fn keyring_bpf_and_io_uring_are_denied_with_eperm() {
        for nr in [
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_bpf,
            libc::SYS_io_uring_setup,
        ] {
            assert_eq!(native(nr, 0), ret_errno(libc::EPERM), "syscall {nr}");
        }
    }

    #[test]
    fn new_user_namespaces_are_denied_but_other_clones_allowed() {
        let newuser = libc::CLONE_NEWUSER as u64;
        let fork_like = libc::SIGCHLD as u64;
        assert_eq!(native(libc::SYS_unshare, newuser), ret_errno(libc::EPERM));
        assert_eq!(
            native(libc::SYS_clone, newuser | fork_like),
            ret_errno(libc::EPERM)
        );
        assert_eq!(native(libc::SYS_clone, fork_like), RET_ALLOW);
        assert_eq!(
            native(libc::SYS_unshare, libc::CLONE_NEWNS as u64),
            RET_ALLOW
        );
        assert_eq!(native(libc::SYS_clone3, 0), ret_errno(libc::ENOSYS));
    }

    #[test]
    fn a_foreign_architecture_is_killed() {
        assert_eq!(verdict(libc::SYS_read as u32, 0x4000_0003, 0), RET_KILL);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_calls_are_refused() {
        let keyctl_x32 = libc::SYS_keyctl as u32 | X32_SYSCALL_BIT;
        assert_eq!(
            verdict(keyctl_x32, AUDIT_ARCH.unwrap(), 0),
            ret_errno(libc::ENOSYS)
        );
    }
}
