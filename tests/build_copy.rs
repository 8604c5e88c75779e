//! End-to-end tests of `hoist build`'s build context (`.dockerignore`,
//! `Dockerfile.dockerignore`) and of COPY/ADD: directory rules, wildcards,
//! destinations, `--chown`, `--chmod`, `--from`, `--link`, `--exclude`,
//! `--parents`, archive extraction, symlinks, heredocs, paths outside the
//! context, and which context changes keep the cache.

use std::os::unix::fs::MetadataExt;

mod build_support;

use build_support::{Project, sh};

#[test]
fn dockerignore_excludes_files_and_exceptions_reinclude_them() {
    let p = Project::new("FROM busybox\nCOPY . /ctx/\n");
    p.write(".dockerignore", "*.log\n!keep.log\nsecret/\n")
        .write("a.txt", "a")
        .write("b.log", "b")
        .write("keep.log", "k")
        .write("secret/x", "x");
    p.build().ok();
    assert!(p.out_has("ctx/a.txt") && p.out_has("ctx/keep.log"));
    assert!(!p.out_has("ctx/b.log"), "*.log is ignored");
    assert!(!p.out_has("ctx/secret"), "secret/ is ignored");
}

#[test]
fn editing_an_ignored_file_keeps_the_cache() {
    let p = Project::new("FROM busybox\nCOPY . /ctx/\nRUN ls /ctx > /listing\n");
    p.write(".dockerignore", "*.log\n")
        .write("a.txt", "a")
        .write("b.log", "b1");
    p.build().ok();
    p.write("b.log", "b2 changed");
    let o = p.build().ok();
    assert!(o.steps_run().is_empty(), "{}", o.stderr);
    assert!(!p.read_out("listing").contains("b.log"));
}

#[test]
fn dockerfile_specific_dockerignore_is_preferred() {
    let p = Project::new("FROM busybox\nCOPY . /ctx/\n");
    p.write(".dockerignore", "a.txt\n")
        .write("Dockerfile.dockerignore", "b.txt\n")
        .write("a.txt", "a")
        .write("b.txt", "b");
    let dockerfile = p.context().join("Dockerfile");
    p.build()
        .arg("-f")
        .arg(dockerfile.display().to_string())
        .ok();
    assert!(p.out_has("ctx/a.txt"), ".dockerignore is not used");
    assert!(!p.out_has("ctx/b.txt"), "Dockerfile.dockerignore is used");
}

#[test]
fn copy_dir_copies_contents_not_the_dir_itself() {
    let p = Project::new("FROM busybox\nCOPY dir /dst/\n");
    p.write("dir/x", "x").write("dir/sub/y", "y");
    p.build().ok();
    assert_eq!(p.read_out("dst/x"), "x");
    assert_eq!(p.read_out("dst/sub/y"), "y");
    assert!(!p.out_has("dst/dir"));
}

#[test]
fn copy_of_several_sources_needs_a_directory_destination() {
    let p = Project::new("FROM busybox\nCOPY a.txt b.txt /dst\n");
    p.write("a.txt", "a").write("b.txt", "b");
    let o = p.build().fails();
    assert!(o.stderr.contains("/dst"), "{}", o.stderr);
}

#[test]
fn copy_wildcards_match_context_files() {
    let p = Project::new("FROM busybox\nCOPY *.txt /w/\n");
    p.write("a.txt", "a").write("b.txt", "b").write("c.md", "c");
    p.build().ok();
    assert!(p.out_has("w/a.txt") && p.out_has("w/b.txt"));
    assert!(!p.out_has("w/c.md"));
}

#[test]
fn copy_relative_destination_is_under_workdir() {
    let p = Project::new("FROM busybox\nWORKDIR /app\nCOPY a.txt sub/\nCOPY a.txt renamed\n");
    p.write("a.txt", "a");
    p.build().ok();
    assert_eq!(p.read_out("app/sub/a.txt"), "a");
    assert_eq!(p.read_out("app/renamed"), "a");
}

#[test]
fn copy_chown_takes_names_from_the_image_and_numbers() {
    let p = Project::new(
        "FROM busybox\nCOPY --chown=nobody:nogroup a.txt /named\n\
         COPY --chown=123:456 a.txt /numbered\nCOPY --chown=nobody a.txt /user-only\n\
         RUN stat -c '%u:%g' /named /numbered /user-only > /owners\n",
    );
    p.write("a.txt", "a");
    p.build().ok();
    assert_eq!(p.read_out("owners"), "65534:65534\n123:456\n65534:65534\n");
}

#[test]
fn copy_chmod_sets_the_mode() {
    let p = Project::new(
        "FROM busybox\nCOPY --chmod=0640 a.txt /m\nCOPY --chmod=755 dir /d/\n\
         RUN stat -c '%a' /m /d/x > /modes\n",
    );
    p.write("a.txt", "a").write("dir/x", "x");
    p.build().ok();
    assert_eq!(p.read_out("modes"), "640\n755\n");
}

#[test]
fn copy_from_a_stage_and_from_an_image() {
    let p = Project::new(
        "FROM busybox AS build\nRUN mkdir /out && echo built > /out/result\n\
         FROM busybox\nCOPY --from=build /out /from-stage/\n\
         COPY --from=busybox /etc/passwd /from-image-passwd\n",
    );
    p.build().ok();
    assert_eq!(p.read_out("from-stage/result"), "built\n");
    assert!(p.read_out("from-image-passwd").starts_with("root:x:0:0:"));
}

#[test]
fn copy_link_places_the_files() {
    let p = Project::new(
        "FROM busybox\nRUN echo under > /under\nCOPY --link a.txt /l/a.txt\nRUN cat /l/a.txt /under > /both\n",
    );
    p.write("a.txt", "linked\n");
    p.build().ok();
    assert_eq!(p.read_out("both"), "linked\nunder\n");
}

#[test]
fn copy_exclude_leaves_out_matching_files() {
    let p = Project::new("FROM busybox\nCOPY --exclude=*.md --exclude=skip/ . /e/\n");
    p.write("a.txt", "a")
        .write("b.md", "b")
        .write("skip/c", "c")
        .write("keep/d.md", "d");
    p.build().ok();
    assert!(p.out_has("e/a.txt"));
    assert!(!p.out_has("e/b.md") && !p.out_has("e/skip"));
}

#[test]
fn copy_parents_keeps_the_source_directories() {
    let p = Project::new("FROM busybox\nCOPY --parents x/a/f.txt y/*/g.txt /p/\n");
    p.write("x/a/f.txt", "f").write("y/b/g.txt", "g");
    p.build().ok();
    assert_eq!(p.read_out("p/x/a/f.txt"), "f");
    assert_eq!(p.read_out("p/y/b/g.txt"), "g");
}

#[test]
fn add_extracts_a_local_tar_gz() {
    let p = Project::new("FROM busybox\nADD arch.tar.gz /ex/\nCOPY arch.tar.gz /raw/\n");
    p.write("src/inner/file", "inside\n");
    sh(&format!(
        "cd {} && tar czf arch.tar.gz -C src inner && rm -r src",
        p.context().display()
    ));
    p.build().ok();
    assert_eq!(p.read_out("ex/inner/file"), "inside\n");
    assert!(p.out_has("raw/arch.tar.gz"), "COPY does not extract");
}

#[test]
fn context_symlinks_are_copied_as_symlinks() {
    let p = Project::new("FROM busybox\nCOPY dir /d/\n");
    p.write("dir/a.txt", "a");
    std::os::unix::fs::symlink("a.txt", p.context().join("dir/link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", p.context().join("dir/abs")).unwrap();
    p.build().ok();
    let link = p.out().join("d/link");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap().to_str(), Some("a.txt"));
    assert_eq!(
        std::fs::read_link(p.out().join("d/abs")).unwrap().to_str(),
        Some("/etc/passwd")
    );
}

#[test]
fn copy_from_outside_the_context_is_an_error_naming_the_path() {
    let p = Project::new("FROM busybox\nCOPY ../x /x\n");
    std::fs::write(p.dir.path().join("x"), "outside").unwrap();
    let o = p.build().fails();
    assert!(o.stderr.contains("../x"), "{}", o.stderr);
    assert!(!p.out_has("x"));
}

#[test]
fn exported_files_keep_their_owner() {
    let p = Project::new("FROM busybox\nCOPY --chown=123:456 a.txt /a\n");
    p.write("a.txt", "a");
    p.build().ok();
    let meta = std::fs::metadata(p.out().join("a")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (123, 456));
}

#[test]
fn touching_a_context_file_without_changing_it_keeps_the_cache() {
    let p = Project::new("FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy\n");
    p.write("a.txt", "same\n");
    p.build().ok();
    let f = std::fs::File::options()
        .write(true)
        .open(p.context().join("a.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    drop(f);
    let o = p.build().ok();
    assert!(o.steps_run().is_empty(), "{}", o.stderr);
}

#[test]
fn copy_chown_to_an_unknown_user_is_an_error_naming_it() {
    let p = Project::new("FROM busybox\nCOPY --chown=nosuchuser a.txt /a\n");
    p.write("a.txt", "a");
    let o = p.build().fails();
    assert!(o.stderr.contains("nosuchuser"), "{}", o.stderr);
}

#[test]
fn heredocs_are_a_run_script_and_a_copied_file() {
    let p = Project::new(
        "FROM busybox\nRUN <<EOF\necho one > /one\necho two > /two\nEOF\nCOPY <<EOT /greeting\nhello\nEOT\n",
    );
    p.build().ok();
    assert_eq!(p.read_out("one"), "one\n");
    assert_eq!(p.read_out("two"), "two\n");
    assert_eq!(p.read_out("greeting"), "hello\n");
}
