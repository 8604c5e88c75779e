//! End-to-end tests of `RUN --mount` in `hoist build`: cache (kept between
//! builds, `sharing=locked`), bind (from a stage, the context, rw writes
//! discarded), tmpfs, secret (file and env forms, `required`) and ssh (a real
//! `ssh-agent` socket forwarded).

use std::process::{Child, Command};
use std::time::{Duration, Instant};

mod build_support;

use build_support::{Outcome, Project};

#[test]
fn cache_mount_keeps_its_content_between_builds() {
    let p = Project::new(
        "FROM busybox\nRUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log > /count\n",
    );
    p.build().ok();
    assert_eq!(p.read_out("count").trim(), "1");
    p.build().arg("--no-cache").ok();
    assert_eq!(p.read_out("count").trim(), "2");
    assert!(!p.out_has("cache/log"), "the cache is not in the layer");
}

#[test]
fn cache_mount_sharing_locked_serialises_concurrent_steps() {
    let step = |name: &str| {
        format!(
            "FROM busybox AS {name}\nRUN --mount=type=cache,id=shared,target=/c,sharing=locked \
             if [ -e /c/busy ]; then echo clash > /{name}; else echo alone > /{name}; fi; \
             touch /c/busy; sleep 1; rm /c/busy\n"
        )
    };
    let p = Project::new(&format!(
        "{}{}FROM busybox\nCOPY --from=a /a /\nCOPY --from=b /b /\n",
        step("a"),
        step("b")
    ));
    p.build().args(["--jobs", "4"]).ok();
    assert_eq!(p.read_out("a"), "alone\n");
    assert_eq!(p.read_out("b"), "alone\n");
}

#[test]
fn bind_mount_from_a_stage_discards_rw_writes() {
    let p = Project::new(
        "FROM busybox AS src\nRUN mkdir /data && echo bound > /data/f\n\
         FROM busybox\n\
         RUN --mount=type=bind,from=src,source=/data,target=/mnt cat /mnt/f > /got\n\
         RUN --mount=type=bind,from=src,source=/data,target=/mnt,rw echo changed > /mnt/f && cat /mnt/f > /got-rw\n\
         RUN --mount=type=bind,from=src,source=/data,target=/mnt cat /mnt/f > /got-after\n\
         RUN --mount=type=bind,target=/ctx cat /ctx/a.txt > /got-ctx\n",
    );
    p.write("a.txt", "from context\n");
    p.build().ok();
    assert_eq!(p.read_out("got"), "bound\n");
    assert_eq!(p.read_out("got-rw"), "changed\n");
    assert_eq!(
        p.read_out("got-after"),
        "bound\n",
        "rw writes are discarded"
    );
    assert_eq!(p.read_out("got-ctx"), "from context\n");
    assert!(!p.out_has("mnt/f") && !p.out_has("ctx"));
}

#[test]
fn bind_mount_without_rw_is_read_only() {
    let p = Project::new(
        "FROM busybox\nRUN --mount=type=bind,target=/ctx (touch /ctx/new 2>/dev/null && echo writable || echo readonly) > /mode\n",
    );
    p.build().ok();
    assert_eq!(p.read_out("mode"), "readonly\n");
}

#[test]
fn tmpfs_mount_is_a_tmpfs_left_out_of_the_layer() {
    let p = Project::new(
        "FROM busybox\nRUN --mount=type=tmpfs,target=/t grep ' /t ' /proc/mounts > /t-mount && echo x > /t/file\n",
    );
    p.build().ok();
    assert!(
        p.read_out("t-mount").contains("tmpfs"),
        "{}",
        p.read_out("t-mount")
    );
    assert!(!p.out_has("t"), "no /t in the layer");
}

fn secret_project(dockerfile: &str) -> (Project, String) {
    let p = Project::new(dockerfile);
    let file = p.dir.path().join("secret.txt");
    std::fs::write(&file, "s3cret-value").unwrap();
    (p, file.display().to_string())
}

fn assert_secret_absent(p: &Project) {
    let out = build_support::sh(&format!(
        "grep -r -l s3cret-value {} || true",
        p.out().display()
    ));
    assert_eq!(out, "", "the secret is in the exported filesystem");
    assert!(!p.out_has("run/secrets/x"));
}

#[test]
fn secret_is_readable_at_run_secrets_and_absent_from_the_output() {
    let (p, file) = secret_project(
        "FROM busybox\nRUN --mount=type=secret,id=x test \"$(cat /run/secrets/x)\" = s3cret-value && echo ok > /secret-ok\n\
         RUN --mount=type=secret,id=x,target=/etc/app-secret test \"$(cat /etc/app-secret)\" = s3cret-value && echo ok > /target-ok\n",
    );
    p.build()
        .args(["--secret", &format!("id=x,src={file}")])
        .ok();
    assert_eq!(p.read_out("secret-ok"), "ok\n");
    assert_eq!(p.read_out("target-ok"), "ok\n");
    assert!(!p.out_has("etc/app-secret"));
    assert_secret_absent(&p);
}

#[test]
fn missing_required_secret_is_an_error() {
    let p = Project::new("FROM busybox\nRUN --mount=type=secret,id=nope,required=true true\n");
    let o = p.build().fails();
    assert!(o.stderr.contains("nope"), "names the secret:\n{}", o.stderr);
}

#[test]
fn missing_optional_secret_is_skipped() {
    let p = Project::new(
        "FROM busybox\nRUN --mount=type=secret,id=nope (test -e /run/secrets/nope && echo there || echo absent) > /r\n",
    );
    p.build().ok();
    assert_eq!(p.read_out("r"), "absent\n");
}

#[test]
fn secret_env_forms_reach_the_step() {
    let (p, file) = secret_project(
        "FROM busybox\nRUN --mount=type=secret,id=x,env=MY_SECRET test \"$MY_SECRET\" = s3cret-value && echo ok > /env-ok\n\
         RUN --mount=type=secret,id=fromenv test \"$(cat /run/secrets/fromenv)\" = s3cret-value && echo ok > /host-env-ok\n",
    );
    let mut cmd = p
        .build()
        .args(["--secret", &format!("id=x,src={file}")])
        .args(["--secret", "id=fromenv,env=HOIST_TEST_SECRET"])
        .command();
    cmd.env("HOIST_TEST_SECRET", "s3cret-value");
    let o = Outcome::from_output(cmd.output().unwrap());
    assert!(o.success(), "{}", o.stderr);
    assert_eq!(p.read_out("env-ok"), "ok\n");
    assert_eq!(p.read_out("host-env-ok"), "ok\n");
    assert_secret_absent(&p);
}

struct SshAgent(Child);

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(p: &Project, name: &str) -> (SshAgent, std::path::PathBuf) {
    let sock = p.dir.path().join(name);
    let agent = SshAgent(
        Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("cannot start ssh-agent: install Debian's openssh-client"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "ssh-agent did not create its socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (agent, sock)
}

#[test]
fn two_ssh_mounts_get_their_own_sockets() {
    let p = Project::new(
        "FROM busybox\nRUN --mount=type=ssh --mount=type=ssh,id=other \
         for s in /run/buildkit/ssh_agent.0 /run/buildkit/ssh_agent.1; do test -S $s && echo $s; done > /socks && echo $SSH_AUTH_SOCK > /auth\n",
    );
    let (_a, sock_a) = start_agent(&p, "a.sock");
    let (_b, sock_b) = start_agent(&p, "b.sock");
    p.build()
        .args(["--ssh", &format!("default={}", sock_a.display())])
        .args(["--ssh", &format!("other={}", sock_b.display())])
        .ok();
    assert_eq!(
        p.read_out("socks"),
        "/run/buildkit/ssh_agent.0\n/run/buildkit/ssh_agent.1\n"
    );
    assert_eq!(p.read_out("auth"), "/run/buildkit/ssh_agent.0\n");
}

#[test]
fn ssh_mount_forwards_the_agent_socket() {
    let p = Project::new(
        "FROM busybox\nRUN --mount=type=ssh ls -l $SSH_AUTH_SOCK > /ssh-ls && test -S $SSH_AUTH_SOCK && echo socket > /ssh-ok\n",
    );
    let (_agent, sock) = start_agent(&p, "agent.sock");
    p.build()
        .args(["--ssh", &format!("default={}", sock.display())])
        .ok();
    assert_eq!(p.read_out("ssh-ok"), "socket\n");
    assert!(
        p.read_out("ssh-ls").starts_with('s'),
        "{}",
        p.read_out("ssh-ls")
    );
}

#[test]
fn required_ssh_mount_without_ssh_flag_is_an_error() {
    let p = Project::new("FROM busybox\nRUN --mount=type=ssh,required=true true\n");
    let o = p.build().fails();
    assert!(o.stderr.contains("--ssh"), "{}", o.stderr);
}

#[test]
fn optional_ssh_mount_without_ssh_flag_is_skipped() {
    let p = Project::new("FROM busybox\nRUN --mount=type=ssh echo \"[$SSH_AUTH_SOCK]\" > /sock\n");
    p.build().ok();
    assert_eq!(p.read_out("sock"), "[]\n");
}

#[test]
fn ssh_key_file_is_served_through_an_agent_hoist_starts() {
    let p = Project::new(
        "FROM busybox\nRUN --mount=type=ssh test -S $SSH_AUTH_SOCK && echo socket > /ssh-ok\n",
    );
    let key = p.dir.path().join("id_test");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .expect("cannot run ssh-keygen: install Debian's openssh-client");
    assert!(
        keygen.status.success(),
        "{}",
        String::from_utf8_lossy(&keygen.stderr)
    );
    p.build()
        .args(["--ssh", &format!("default={}", key.display())])
        .ok();
    assert_eq!(p.read_out("ssh-ok"), "socket\n");
    assert!(
        !p.out_has("id_test") && !p.out_has("root/.ssh"),
        "the key never reaches the image"
    );

    // Something that is not a key: ssh-add refuses it, the build names it.
    let bogus = p.dir.path().join("not-a-key");
    std::fs::write(&bogus, "hello\n").unwrap();
    let o = p
        .build()
        .args(["--ssh", &format!("default={}", bogus.display())])
        .fails();
    assert!(o.stderr.contains("not-a-key"), "{}", o.stderr);
}
