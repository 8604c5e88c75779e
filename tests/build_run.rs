//! End-to-end tests of RUN in `hoist build`: the sandbox (pid and uts
//! namespaces, `--network=none`, USER, WORKDIR, environment, SHELL), failure
//! reports, no surviving background processes, and what a RUN layer must not
//! contain (resolv.conf, device nodes, mount-point stubs).

use std::time::{Duration, Instant};

mod build_support;

use build_support::Project;

#[test]
fn run_has_its_own_pid_namespace() {
    let p = Project::new(
        "FROM busybox\nRUN echo $$ > /pid && tr '\\0' ' ' < /proc/1/cmdline > /init && ls /proc | grep -c '^[0-9]' > /nprocs\n",
    );
    p.build().ok();
    let pid: u32 = p.read_out("pid").trim().parse().unwrap();
    assert!(pid <= 3, "the shell is one of the first pids: {pid}");
    let visible: u32 = p.read_out("nprocs").trim().parse().unwrap();
    assert!(
        visible <= 5,
        "{visible} processes visible: host processes leak in"
    );
}

#[test]
fn run_has_its_own_hostname() {
    let p = Project::new("FROM busybox\nRUN hostname > /h && cat /etc/hostname >> /h\n");
    p.build().ok();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let h = p.read_out("h");
    let lines: Vec<&str> = h.lines().collect();
    assert_eq!(lines, vec!["hoist", "hoist"]);
    assert_ne!(host.trim(), "hoist");
}

#[test]
fn run_network_none_has_only_loopback() {
    let p = Project::new("FROM busybox\nRUN --network=none cat /proc/net/dev > /netdev\n");
    p.build().ok();
    let mut names: Vec<String> = p
        .read_out("netdev")
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .collect();
    names.sort();
    assert_eq!(names, vec!["lo"]);
}

const USERS: &str = "FROM busybox\n\
    RUN echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd \
     && printf 'app:x:1000:\\naudio:x:29:app\\nstaff:x:50:app\\n' >> /etc/group \
     && mkdir -p /home/app && chown app /home/app\n";

#[test]
fn run_user_by_name_gets_its_supplementary_groups() {
    let p = Project::new(&format!(
        "{USERS}USER app\nRUN id > /tmp/id && echo $HOME > /tmp/home\n"
    ));
    p.build().ok();
    assert_eq!(
        p.read_out("tmp/id").trim(),
        // Like Docker: the groups that list the user; the primary group only
        // when /etc/group lists the user in it.
        "uid=1000(app) gid=1000(app) groups=29(audio),50(staff)"
    );
    assert_eq!(p.read_out("tmp/home").trim(), "/home/app");
}

#[test]
fn run_user_by_number_and_group() {
    let p = Project::new(&format!(
        "{USERS}USER 1000\nRUN id -u > /tmp/u && id -g >> /tmp/u\nUSER 4242:50\nRUN id -u > /tmp/v && id -g >> /tmp/v\n"
    ));
    p.build().ok();
    assert_eq!(p.read_out("tmp/u"), "1000\n1000\n");
    assert_eq!(p.read_out("tmp/v"), "4242\n50\n");
}

#[test]
fn workdir_is_created_if_missing() {
    let p = Project::new("FROM busybox\nWORKDIR /new/deep\nRUN pwd > /tmp/pwd\n");
    p.build().ok();
    assert_eq!(p.read_out("tmp/pwd"), "/new/deep\n");
    assert!(p.out().join("new/deep").is_dir());
}

#[test]
fn run_env_is_image_env_plus_build_args_in_scope() {
    let p = Project::new(
        "ARG GLOBAL=global-value\nFROM busybox AS first\nARG FOO=foo-default\nARG DEFAULTED=d\nENV BAR=bar\n\
         RUN env > /env-first\n\
         FROM busybox\nCOPY --from=first /env-first /\nRUN env > /env-second\n",
    );
    p.build().args(["--build-arg", "FOO=given"]).ok();
    let first = p.read_out("env-first");
    let lines: Vec<&str> = first.lines().collect();
    for want in [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "BAR=bar",
        "FOO=given",
        "DEFAULTED=d",
    ] {
        assert!(lines.contains(&want), "{want} missing from:\n{first}");
    }
    assert!(
        !first.contains("GLOBAL"),
        "a global ARG is not in scope without ARG:\n{first}"
    );
    let second = p.read_out("env-second");
    assert!(
        !second.contains("FOO=") && !second.contains("BAR="),
        "{second}"
    );
}

#[test]
fn shell_applies_to_shell_form_only() {
    let p = Project::new(
        "FROM busybox\nRUN printf '#!/bin/sh\\necho \"$@\" >> /shell-args\\n' > /myshell && chmod +x /myshell\n\
         SHELL [\"/myshell\", \"-x\"]\nRUN hello world\n\
         RUN [\"/bin/sh\", \"-c\", \"echo exec-form > /exec-form\"]\n",
    );
    p.build().ok();
    assert_eq!(p.read_out("shell-args"), "-x hello world\n");
    assert_eq!(p.read_out("exec-form"), "exec-form\n");
}

const FAILING: &str = "FROM busybox\nRUN true\nRUN echo first-line && echo last-words >&2 && exit 7\nRUN echo never > /never\n";

#[test]
fn failing_run_reports_instruction_line_exit_code_and_output() {
    let p = Project::new(FAILING);
    let o = p.build().fails();
    let err = &o.stderr;
    assert!(
        err.contains("Dockerfile:3:1: [3/4] RUN echo first-line"),
        "names the file, line and instruction:\n{err}"
    );
    assert!(err.contains("exit code: 7"), "{err}");
    assert_eq!(o.log_of("exit 7"), "first-line\nlast-words\n", "{err}");
    assert!(!o.ran("echo never"));
}

#[test]
fn failing_run_in_quiet_mode_prints_the_last_lines_of_output() {
    let p = Project::new(FAILING);
    let o = p.build().progress("quiet").fails();
    let err = &o.stderr;
    assert!(err.contains("first-line\nlast-words\n"), "{err}");
    assert!(
        err.contains("Dockerfile:3:1") && err.contains("exit code: 7"),
        "{err}"
    );
}

#[test]
fn no_background_process_survives_its_step() {
    let marker = format!("bg-marker-{}", std::process::id());
    let p = Project::new(&format!(
        "FROM busybox\nRUN sh -c 'sleep 20; : {marker}' > /dev/null 2>&1 &\nRUN echo after > /after\n"
    ));
    let started = Instant::now();
    p.build().ok();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the build waited for the background process"
    );
    assert_eq!(p.read_out("after"), "after\n");
    let mut survivors = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline"))
            && String::from_utf8_lossy(&cmdline).contains(&marker)
        {
            survivors.push(entry.file_name());
        }
    }
    assert!(
        survivors.is_empty(),
        "background processes survived: {survivors:?}"
    );
}

#[test]
fn run_layer_has_no_resolv_conf_device_nodes_or_mount_stubs() {
    let p = Project::new(
        "FROM busybox\nRUN --mount=type=tmpfs,target=/newdir true\n\
         RUN --mount=type=cache,target=/var/cachedir echo x > /var/cachedir/f && echo ran > /tmp/ran\n",
    );
    p.build().ok();
    assert_eq!(p.read_out("tmp/ran"), "ran\n");
    for absent in [
        "newdir",
        "var/cachedir",
        "etc/resolv.conf",
        "etc/hosts",
        "etc/hostname",
    ] {
        assert!(
            !p.out_has(absent),
            "/{absent} is in the exported filesystem"
        );
    }
    let mut devices = vec![];
    walk(&p.out(), &mut |path, meta| {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() || t.is_block_device() || t.is_fifo() || t.is_socket() {
            devices.push(path.to_path_buf());
        }
    });
    assert!(devices.is_empty(), "device nodes in the layer: {devices:?}");
}

#[test]
fn run_leaves_the_images_resolv_conf_and_hosts_unchanged() {
    let p = Project::new(
        "FROM busybox\nCOPY resolv.conf hosts /etc/\n\
         RUN cat /etc/resolv.conf > /seen-resolv && echo ran > /ran\n\
         RUN --network=none cat /etc/hosts > /seen-hosts\n",
    );
    p.write("resolv.conf", "nameserver 192.0.2.53\n")
        .write("hosts", "192.0.2.1 image-host\n");
    p.build().ok();
    assert_eq!(p.read_out("ran"), "ran\n");
    assert_eq!(p.read_out("etc/resolv.conf"), "nameserver 192.0.2.53\n");
    assert_eq!(p.read_out("etc/hosts"), "192.0.2.1 image-host\n");
    assert!(
        p.read_out("seen-hosts").contains("localhost"),
        "the step sees hoist's hosts file"
    );
}

#[test]
fn run_with_secret_and_tmpfs_mounts_leaves_no_stub_directories() {
    let p = Project::new(
        "FROM busybox\nRUN --mount=type=secret,id=s --mount=type=tmpfs,target=/scratch/deep echo ok > /ok\n",
    );
    let secret = p.dir.path().join("s");
    std::fs::write(&secret, "x").unwrap();
    p.build()
        .args(["--secret", &format!("id=s,src={}", secret.display())])
        .ok();
    assert_eq!(p.read_out("ok"), "ok\n");
    for absent in ["run", "scratch"] {
        assert!(
            !p.out_has(absent),
            "/{absent} is in the exported filesystem"
        );
    }
    // The sandbox's own mount points stay as empty directories when the
    // image lacks them, as BuildKit leaves them (see tests/golden/README.md).
    for kept in ["dev", "proc", "sys"] {
        let dir = p.out().join(kept);
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("/{kept}: {e}"))
            .collect();
        assert!(entries.is_empty(), "/{kept} is not empty: {entries:?}");
    }
}

fn walk(dir: &std::path::Path, f: &mut dyn FnMut(&std::path::Path, &std::fs::Metadata)) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let meta = entry.path().symlink_metadata().unwrap();
        f(&entry.path(), &meta);
        if meta.is_dir() {
            walk(&entry.path(), f);
        }
    }
}
