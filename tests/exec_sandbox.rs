//! End-to-end tests of the RUN sandbox (`hoist_builder::exec`): real
//! namespaces, mounts and pivot_root into a busybox rootfs built from the
//! host's /bin/busybox, through the real `hoist __sandbox-init` entry.
//! They need root, like CI gives them.

use std::path::Path;
use std::time::{Duration, Instant};

mod exec_support;

use exec_support::{Overlay, Rootfs, cpu_time, hoist, host_processes_with, run, run_with, tree};
use hoist_builder::exec::{self, CancelToken, ExecError, ExitStatus, MountSpec, Network, Stream};

#[test]
fn run_sees_pid_1_as_its_own_init() {
    let rootfs = Rootfs::new();
    let out = run(&rootfs
        .spec("echo $$ $PPID; tr '\\0' ' ' < /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'"));
    let lines: Vec<&str> = out.ok_stdout().lines().collect();
    assert_eq!(
        lines[0], "2 1",
        "the command is pid 2, child of the sandbox's pid 1"
    );
    assert!(
        lines[1].contains(exec::INIT_ARG),
        "pid 1 is hoist's init: {}",
        lines[1]
    );
    // init, sh, ls, grep at most: no host process is visible.
    let visible: usize = lines[2].trim().parse().unwrap();
    assert!(visible <= 4, "{visible} processes visible");
}

#[test]
fn hostname_is_set_in_uts_namespace() {
    let rootfs = Rootfs::new();
    let out = run(&rootfs.spec("hostname; cat /etc/hostname"));
    assert_eq!(out.ok_stdout(), "buildbox\nbuildbox\n");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "buildbox");
}

fn interfaces(proc_net_dev: &str) -> Vec<String> {
    let mut names: Vec<String> = proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn network_none_has_only_loopback() {
    let rootfs = Rootfs::new();
    let out = run(&rootfs.spec("cat /proc/net/dev; echo ==; ip link show lo; ls /sys/class/net"));
    let (dev, rest) = out.ok_stdout().split_once("==\n").unwrap();
    assert_eq!(interfaces(dev), vec!["lo"]);
    assert!(rest.contains("UP"), "loopback is up: {rest}");
    assert!(
        rest.trim_end().ends_with("lo"),
        "sysfs shows only lo: {rest}"
    );
}

#[test]
fn network_host_sees_host_interfaces() {
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("cat /proc/net/dev");
    spec.network = Network::Host;
    let out = run(&spec);
    let host = std::fs::read_to_string("/proc/net/dev").unwrap();
    assert_eq!(interfaces(out.ok_stdout()), interfaces(&host));
    assert!(interfaces(&host).len() > 1, "this host has only loopback");
}

#[test]
fn user_and_groups_are_applied() {
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("grep -E '^(Uid|Gid|Groups):' /proc/self/status; id -un; touch /tmp/mine; stat -c %u:%g /tmp/mine");
    spec.user = exec::user::resolve(rootfs.path(), "app").unwrap();
    assert_eq!(spec.user.home, "/home/app");
    let out = run(&spec);
    let text = out.ok_stdout();
    let fields: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(fields[0], ["Uid:", "1000", "1000", "1000", "1000"]);
    assert_eq!(fields[1], ["Gid:", "1000", "1000", "1000", "1000"]);
    assert_eq!(fields[2], ["Groups:", "29", "50"]);
    assert_eq!(fields[3], ["app"]);
    assert_eq!(fields[4], ["1000:1000"]);
}

#[test]
fn cwd_is_created_and_owned_by_the_user() {
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("pwd; touch here");
    spec.cwd = "/work/src".into();
    spec.user = exec::user::resolve(rootfs.path(), "app").unwrap();
    let out = run(&spec);
    assert_eq!(out.ok_stdout(), "/work/src\n");
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(rootfs.path().join("work/src")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
    assert!(rootfs.path().join("work/src/here").is_file());
    let created = &out.result.as_ref().unwrap().stubs.created;
    assert!(
        !created.iter().any(|p| p.starts_with("/work")),
        "{created:?}"
    );
}

#[test]
fn exit_code_is_reported() {
    let rootfs = Rootfs::new();
    assert_eq!(run(&rootfs.spec("exit 42")).status(), ExitStatus::Code(42));
    assert_eq!(run(&rootfs.spec("true")).status(), ExitStatus::Code(0));
    assert_eq!(
        run(&rootfs.spec("kill -9 $$")).status(),
        ExitStatus::Signal(9)
    );
}

#[test]
fn output_is_streamed_in_order() {
    let rootfs = Rootfs::new();
    let out = run(&rootfs.spec(
        "echo one; sleep 0.5; echo two >&2; sleep 0.5; echo three; sleep 0.5; echo four >&2",
    ));
    assert_eq!(out.status(), ExitStatus::Code(0));
    let seen: Vec<(Stream, String)> = out
        .chunks
        .iter()
        .map(|(s, b, _)| (*s, String::from_utf8_lossy(b).into_owned()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (Stream::Stdout, "one\n".to_string()),
            (Stream::Stderr, "two\n".to_string()),
            (Stream::Stdout, "three\n".to_string()),
            (Stream::Stderr, "four\n".to_string()),
        ]
    );
    // Each chunk reached the caller while the command was still running.
    let first = out.chunks[0].2;
    let last = out.chunks[3].2;
    assert!(
        last - first >= Duration::from_millis(800),
        "{:?}",
        last - first
    );
}

#[test]
fn background_processes_die_with_the_step() {
    let rootfs = Rootfs::new();
    let started = Instant::now();
    let out = run(&rootfs.spec("sleep 31337 & sleep 31337 & echo started"));
    assert_eq!(out.ok_stdout(), "started\n");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(host_processes_with("sleep 31337"), Vec::<String>::new());
}

#[test]
fn bind_mount_readonly_cannot_be_written() {
    let rootfs = Rootfs::new();
    let ro = tempfile::tempdir().unwrap();
    let rw = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("input"), "from the host\n").unwrap();
    let mut spec = rootfs.spec("cat /ctx/input; echo rw > /out/result; touch /ctx/new");
    spec.mounts = vec![
        MountSpec::Bind {
            source: ro.path().to_path_buf(),
            target: "/ctx".into(),
            readonly: true,
        },
        MountSpec::Bind {
            source: rw.path().to_path_buf(),
            target: "/out".into(),
            readonly: false,
        },
    ];
    let out = run(&spec);
    assert_ne!(out.status(), ExitStatus::Code(0));
    assert_eq!(out.stdout, "from the host\n");
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    assert!(!ro.path().join("new").exists());
    assert_eq!(
        std::fs::read_to_string(rw.path().join("result")).unwrap(),
        "rw\n"
    );
    let created = &out.result.as_ref().unwrap().stubs.created;
    assert!(created.contains(&"/ctx".to_string()) && created.contains(&"/out".to_string()));
}

#[test]
fn tmpfs_mount_is_empty_and_writable() {
    let rootfs = Rootfs::new();
    std::fs::create_dir(rootfs.path().join("cache")).unwrap();
    std::fs::write(rootfs.path().join("cache/old"), "image content").unwrap();
    let mut spec = rootfs.spec(
        "ls -A /cache | wc -l; echo new > /cache/new && cat /cache/new; df -k /cache | tail -1",
    );
    spec.mounts = vec![MountSpec::Tmpfs {
        target: "/cache".into(),
        size: Some(4 << 20),
    }];
    let out = run(&spec);
    let lines: Vec<&str> = out.ok_stdout().lines().collect();
    assert_eq!(lines[0].trim(), "0");
    assert_eq!(lines[1], "new");
    assert!(
        lines[2].split_whitespace().nth(1) == Some("4096"),
        "{}",
        lines[2]
    );
    assert!(!rootfs.path().join("cache/new").exists());
    assert!(rootfs.path().join("cache/old").exists());
}

#[test]
fn etc_hosts_and_resolv_conf_are_provided_but_not_written_to_rootfs() {
    let rootfs = Rootfs::new();
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    for dir in ["", "etc"] {
        let times = std::fs::FileTimes::new()
            .set_accessed(old)
            .set_modified(old);
        let dir = std::fs::File::open(rootfs.path().join(dir)).unwrap();
        dir.set_times(times).unwrap();
    }
    let out = run(&rootfs.spec("cat /etc/hosts /etc/resolv.conf; echo 1.2.3.4 x >> /etc/hosts"));
    assert_ne!(out.status(), ExitStatus::Code(0), "/etc/hosts is read-only");
    assert_eq!(
        out.stdout,
        "127.0.0.1 localhost buildbox\nnameserver 10.0.2.3\n"
    );
    let outcome = out.result.unwrap();
    for stub in ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"] {
        assert!(
            outcome.stubs.created.contains(&stub.to_string()),
            "{:?}",
            outcome.stubs.created
        );
        let on_disk = rootfs.path().join(stub.trim_start_matches('/'));
        assert_eq!(
            std::fs::metadata(&on_disk).unwrap().len(),
            0,
            "{stub} has content in the rootfs"
        );
    }
    let removed = outcome.stubs.remove(rootfs.path()).unwrap();
    assert!(removed.contains(&"/etc/hosts".to_string()));
    for stub in [
        "etc/hosts",
        "etc/resolv.conf",
        "etc/hostname",
        "proc",
        "dev",
        "sys",
    ] {
        assert!(
            !rootfs.path().join(stub).exists(),
            "{stub} left in the rootfs"
        );
    }
    assert!(rootfs.path().join("etc/passwd").exists());
    for dir in ["", "etc"] {
        let mtime = std::fs::metadata(rootfs.path().join(dir))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(mtime, old, "mtime of /{dir} not restored");
    }
}

#[test]
fn dev_null_and_urandom_work() {
    let rootfs = Rootfs::new();
    let out = run(&rootfs.spec(
        "echo gone > /dev/null && head -c 16 /dev/urandom | wc -c; head -c 4 /dev/zero | wc -c; \
         ls /dev | tr '\\n' ' '; echo; echo shm > /dev/shm/x && cat /dev/shm/x; test -c /dev/pts/ptmx && echo pts",
    ));
    let lines: Vec<&str> = out.ok_stdout().lines().collect();
    assert_eq!(lines[0].trim(), "16");
    assert_eq!(lines[1].trim(), "4");
    for dev in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "mqueue", "fd",
    ] {
        assert!(
            lines[2].split_whitespace().any(|d| d == dev),
            "/dev/{dev} missing: {}",
            lines[2]
        );
    }
    assert_eq!(&lines[3..], ["shm", "pts"]);
    assert!(
        !rootfs.path().join("dev/null").exists(),
        "device stubs leaked into the rootfs"
    );
}

#[test]
fn stdin_is_dev_null() {
    let rootfs = Rootfs::new();
    let out = run(&rootfs.spec("cat; readlink /proc/self/fd/0; echo done"));
    assert_eq!(out.ok_stdout(), "/dev/null\ndone\n");
}

#[test]
fn secret_is_mounted_read_only_and_its_stub_reported() {
    let rootfs = Rootfs::new();
    let secrets = tempfile::tempdir().unwrap();
    std::fs::write(secrets.path().join("token"), "s3cr3t").unwrap();
    let mut spec = rootfs.spec("cat /run/secrets/token; echo; echo x > /run/secrets/token");
    spec.mounts = vec![MountSpec::Secret {
        source: secrets.path().join("token"),
        target: "/run/secrets/token".into(),
    }];
    let out = run(&spec);
    assert_ne!(out.status(), ExitStatus::Code(0));
    assert_eq!(out.stdout, "s3cr3t\n");
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(secrets.path().join("token")).unwrap(),
        "s3cr3t"
    );
    let stubs = out.result.unwrap().stubs;
    assert!(stubs.created.contains(&"/run".to_string()));
    assert!(stubs.created.contains(&"/run/secrets/token".to_string()));
    assert_eq!(
        std::fs::metadata(rootfs.path().join("run/secrets/token"))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn ssh_agent_socket_is_bound_into_the_sandbox() {
    let rootfs = Rootfs::new();
    let agent = tempfile::tempdir().unwrap();
    let socket = agent.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let mut spec = rootfs.spec("test -S /run/buildkit/ssh_agent.0 && echo socket");
    spec.mounts = vec![MountSpec::Ssh {
        source: socket,
        target: "/run/buildkit/ssh_agent.0".into(),
    }];
    assert_eq!(run(&spec).ok_stdout(), "socket\n");
}

#[test]
fn readonly_rootfs_cannot_be_written_but_mounts_can() {
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("touch /tmp/x; echo $?; touch /scratch/y && echo ok");
    spec.readonly_rootfs = true;
    spec.mounts = vec![MountSpec::Tmpfs {
        target: "/scratch".into(),
        size: None,
    }];
    let out = run(&spec);
    assert_eq!(out.ok_stdout(), "1\nok\n");
    assert!(!rootfs.path().join("tmp/x").exists());
}

#[test]
fn cancel_kills_running_step() {
    let rootfs = Rootfs::new();
    let spec = rootfs.spec("echo running; sleep 31338; echo not reached");
    let cancel = CancelToken::new();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<()>();
    let canceller = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            // Cancel once the step is surely running (it printed).
            seen_rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            cancel.cancel();
        })
    };
    let started = Instant::now();
    let mut stdout = Vec::new();
    let result = exec::run(
        &hoist(),
        &spec,
        |_, bytes| {
            stdout.extend_from_slice(bytes);
            let _ = seen_tx.send(());
        },
        &cancel,
    );
    canceller.join().unwrap();
    assert!(matches!(result, Err(ExecError::Cancelled)), "{result:?}");
    assert_eq!(stdout, b"running\n");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(host_processes_with("sleep 31338"), Vec::<String>::new());
    // A cancelled token refuses new runs.
    assert!(matches!(
        run_with(&rootfs.spec("true"), &cancel).result,
        Err(ExecError::Cancelled)
    ));
}

#[test]
fn one_token_cancels_concurrent_steps() {
    let rootfs = Rootfs::new();
    let cancel = CancelToken::new();
    let steps: Vec<_> = (0..2)
        .map(|_| {
            let spec = rootfs.spec("echo running; sleep 31340");
            let cancel = cancel.clone();
            std::thread::spawn(move || run_with(&spec, &cancel))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    cancel.cancel();
    for step in steps {
        let out = step.join().unwrap();
        assert!(
            matches!(out.result, Err(ExecError::Cancelled)),
            "{:?}",
            out.result
        );
    }
    assert_eq!(host_processes_with("sleep 31340"), Vec::<String>::new());
}

#[test]
fn a_panicking_output_callback_kills_the_step() {
    let rootfs = Rootfs::new();
    let spec = rootfs.spec("echo hello; exec sleep 31339");
    let cancel = CancelToken::new();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        exec::run(&hoist(), &spec, |_, _| panic!("renderer failed"), &cancel)
    }));
    assert!(panicked.is_err());
    // Without the pipes to drain, the step's death is not waited for: it
    // follows the keeper's within moments.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !host_processes_with("sleep 31339").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(host_processes_with("sleep 31339"), Vec::<String>::new());
}

#[test]
fn signals_start_with_default_dispositions() {
    let rootfs = Rootfs::new();
    let out = run(&rootfs.spec("grep -E '^Sig(Ign|Blk):' /proc/self/status; yes | head -n 1"));
    assert_eq!(
        out.ok_stdout(),
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\ny\n"
    );
}

#[test]
fn overlay_rootfs_keeps_only_the_commands_changes_once_stubs_are_removed() {
    let rootfs = Rootfs::new();
    let cache = tempfile::tempdir().unwrap();
    let overlay = Overlay::new(rootfs.path());
    let mut spec = rootfs.spec("echo built > /tmp/artifact; ls /root/.cache/x > /dev/null");
    spec.rootfs = overlay.merged();
    spec.mounts = vec![MountSpec::Bind {
        source: cache.path().to_path_buf(),
        target: "/root/.cache/x".into(),
        readonly: false,
    }];
    let out = run(&spec);
    assert_eq!(out.status(), ExitStatus::Code(0), "{}", out.stderr);
    let stubs = out.result.unwrap().stubs;
    assert!(
        stubs.created.contains(&"/root/.cache".to_string()),
        "{stubs:?}"
    );
    stubs.remove(&overlay.merged()).unwrap();
    // What stays in the upper dir: the command's file, and directories
    // copied up for stubs, unchanged from the lower ones.
    assert_eq!(
        tree(&overlay.upper()),
        ["etc", "root", "tmp", "tmp/artifact"]
    );
    for dir in ["etc", "root"] {
        let upper = std::fs::metadata(overlay.upper().join(dir)).unwrap();
        let lower = std::fs::metadata(rootfs.path().join(dir)).unwrap();
        assert_eq!(
            upper.modified().unwrap(),
            lower.modified().unwrap(),
            "/{dir}"
        );
    }
}

#[test]
fn env_is_exactly_the_given_list_and_path_finds_the_command() {
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("");
    spec.args = vec!["env".into()];
    spec.env = vec!["PATH=/usr/bin:/bin".into(), "FOO=bar baz".into()];
    assert_eq!(run(&spec).ok_stdout(), "PATH=/usr/bin:/bin\nFOO=bar baz\n");
}

#[test]
fn exec_of_a_non_executable_file_is_reported() {
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("");
    spec.args = vec!["/etc/passwd".into()];
    let err = run(&spec).result.unwrap_err();
    assert!(matches!(err, ExecError::Exec { .. }), "{err:?}");
    assert_eq!(err.to_string(), "exec: /etc/passwd: permission denied");
}

#[test]
fn user_namespaces_cannot_be_created() {
    let rootfs = Rootfs::new();
    let out = run(&rootfs.spec("unshare -U true; echo $?; unshare -m true; echo $?"));
    let lines: Vec<&str> = out.ok_stdout().lines().collect();
    assert_ne!(lines[0], "0", "a user namespace was created");
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.stderr
    );
    // A mount namespace needs CAP_SYS_ADMIN, which the step does not have.
    assert_ne!(lines[1], "0");
}

#[test]
fn missing_command_is_reported() {
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("");
    spec.args = vec!["no-such-command".into(), "arg".into()];
    let out = run(&spec);
    let err = out.result.unwrap_err();
    assert!(matches!(&err, ExecError::CommandNotFound { command } if command == "no-such-command"));
    assert_eq!(err.to_string(), "exec: no-such-command: not found");
    // Through the shell it is the shell's 127.
    assert_eq!(
        run(&rootfs.spec("no-such-command")).status(),
        ExitStatus::Code(127)
    );
}

#[test]
fn an_exe_without_the_init_entry_is_reported() {
    let rootfs = Rootfs::new();
    let err = exec::run(
        Path::new("/bin/true"),
        &rootfs.spec("true"),
        |_, _| {},
        &CancelToken::new(),
    )
    .unwrap_err();
    assert!(matches!(err, ExecError::InitDied { .. }), "{err:?}");
    assert!(err.to_string().contains("/bin/true"), "{err}");
}

#[test]
fn setup_errors_name_the_operation_and_path() {
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("true");
    spec.mounts = vec![MountSpec::Bind {
        source: "/no/such/dir".into(),
        target: "/x".into(),
        readonly: true,
    }];
    let err = run(&spec).result.unwrap_err();
    assert!(err.to_string().contains("/no/such/dir"), "{err}");
}

/// Not a check of speed: prints the per-run cost of `/bin/true` for the
/// record (`cargo test --test exec_sandbox -- --ignored --nocapture`).
#[test]
#[ignore]
fn measure_run_overhead() {
    let rootfs = Rootfs::new();
    let mut spec = rootfs.spec("");
    spec.args = vec!["/bin/true".into()];
    let n = 200;
    let measure = |what: &str, one: &mut dyn FnMut()| {
        let cpu_before = cpu_time();
        let started = Instant::now();
        for _ in 0..n {
            one();
        }
        println!(
            "{what}: {:?} wall, {:?} CPU (all processes) per run",
            started.elapsed() / n,
            (cpu_time() - cpu_before) / n
        );
    };
    let spawn = |args: &[&str]| {
        let status = std::process::Command::new(args[0])
            .args(&args[1..])
            .status()
            .unwrap();
        assert!(status.success());
    };
    measure("plain spawn of /bin/true", &mut || spawn(&["/bin/true"]));
    measure("util-linux unshare -mpui --fork /bin/true", &mut || {
        spawn(&["unshare", "-mpui", "--fork", "/bin/true"])
    });
    for network in [Network::Host, Network::None] {
        spec.network = network;
        measure(&format!("hoist sandbox, network {network:?}"), &mut || {
            assert_eq!(run(&spec).status(), ExitStatus::Code(0))
        });
    }
}
