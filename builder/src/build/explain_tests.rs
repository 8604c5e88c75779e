//! The wording of cache-miss explanations and the step identity.

use super::*;

fn record() -> StepInputs {
    StepInputs {
        version: RECORD_VERSION,
        name: "[build 2/4] RUN make".into(),
        cache_key: "sha256:k1".into(),
        instruction: "sha256:op".into(),
        env: vec!["PATH=/bin".into(), "VERSION=1.0".into()],
        build_args: vec!["VERSION".into()],
        inputs: vec![InputRecord {
            name: "[build 1/4] FROM busybox".into(),
            cache_key: "sha256:in".into(),
            image: Some(ImageRecord {
                reference: "busybox".into(),
                pin: Some(format!("sha256:{}", "a".repeat(64))),
            }),
            context: false,
            url: None,
        }],
        context_files: BTreeMap::new(),
    }
}

fn changed(f: impl FnOnce(&mut StepInputs)) -> String {
    let before = record();
    let mut after = record();
    after.cache_key = "sha256:k2".into();
    f(&mut after);
    explain(&before, &after)
}

#[test]
fn build_arg_change_shows_old_and_new_value() {
    let r = changed(|r| r.env[1] = "VERSION=1.1".into());
    assert_eq!(r, "build arg VERSION changed (1.0 → 1.1)");
}

#[test]
fn env_change_names_the_variable_without_values() {
    let r = changed(|r| r.env[0] = "PATH=/usr/bin".into());
    assert_eq!(r, "env PATH changed");
}

#[test]
fn env_added_and_removed_are_named() {
    assert_eq!(
        changed(|r| r.env.push("HOME=/root".into())),
        "env HOME added"
    );
    assert_eq!(changed(|r| r.env.remove(0).clear()), "env PATH removed");
}

#[test]
fn base_image_change_shows_short_digests() {
    let r = changed(|r| {
        r.inputs[0].cache_key = "sha256:other".into();
        r.inputs[0].image.as_mut().unwrap().pin = Some(format!("sha256:{}", "b".repeat(64)));
    });
    assert_eq!(
        r,
        "base image changed (sha256:aaaaaaaaaaaa… → sha256:bbbbbbbbbbbb…)"
    );
}

#[test]
fn parent_step_change_names_the_parent() {
    let before = StepInputs {
        inputs: vec![InputRecord {
            name: "[build 2/4] RUN make".into(),
            cache_key: "sha256:a".into(),
            image: None,
            context: false,
            url: None,
        }],
        ..record()
    };
    let mut after = before.clone();
    after.inputs[0].cache_key = "sha256:b".into();
    assert_eq!(
        explain(&before, &after),
        "parent step [build 2/4] RUN make changed"
    );
}

#[test]
fn instruction_change_wins_over_everything_else() {
    let r = changed(|r| {
        r.instruction = "sha256:other".into();
        r.env[1] = "VERSION=2".into();
    });
    assert_eq!(r, "the instruction changed");
}

#[test]
fn context_files_changed_added_and_removed_are_named() {
    let mut before = record();
    before.context_files = BTreeMap::from([
        ("a/b.txt".to_string(), "file 644 sha256:1".to_string()),
        ("gone".to_string(), "file 644 sha256:2".to_string()),
    ]);
    let mut after = before.clone();
    after.cache_key = "sha256:k2".into();
    after
        .context_files
        .insert("a/b.txt".into(), "file 644 sha256:3".into());
    after.context_files.remove("gone");
    after
        .context_files
        .insert("new".into(), "file 644 sha256:4".into());
    assert_eq!(
        explain(&before, &after),
        "context file a/b.txt changed; context file new added; context file gone removed"
    );
}

#[test]
fn many_changed_files_are_summarised() {
    let before = record();
    let mut after = record();
    for i in 0..5 {
        after
            .context_files
            .insert(format!("f{i}"), "file 644 sha256:x".into());
    }
    assert_eq!(
        explain(&before, &after),
        "context files f0, f1, f2 and 2 more added"
    );
}

#[test]
fn step_number_is_read_from_the_display_name() {
    assert_eq!(step_number("[build 2/4] RUN make"), Some(2));
    assert_eq!(step_number("[ 3/12] COPY . /"), Some(3));
    assert_eq!(step_number("[internal] heredoc EOF"), None);
}

#[test]
fn changed_download_names_the_url() {
    let before = StepInputs {
        inputs: vec![InputRecord {
            name: "[internal] load remote http://h/f".into(),
            cache_key: "sha256:a".into(),
            image: None,
            context: false,
            url: Some("http://h/f".into()),
        }],
        ..record()
    };
    let mut after = before.clone();
    after.inputs[0].cache_key = "sha256:b".into();
    assert_eq!(explain(&before, &after), "remote file http://h/f changed");
}
