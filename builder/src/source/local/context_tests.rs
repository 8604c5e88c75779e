//! Tests of [`Context`]: source selection, checksums and the stat cache, on real
//! directories.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use super::*;

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// A context with a few files: `src/main.rs`, `src/lib/util.rs`, `a.txt`, `b.txt`,
/// `conf/app.json`, `README.md`.
fn sample() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "src/main.rs", "fn main() {}\n");
    write(root, "src/lib/util.rs", "pub fn util() {}\n");
    write(root, "a.txt", "a\n");
    write(root, "b.txt", "b\n");
    write(root, "conf/app.json", "{}\n");
    write(root, "README.md", "# readme\n");
    settle();
    dir
}

/// Waits out the racy window, so freshly written files may be cached.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(60));
}

fn open(root: &Path) -> Context {
    Context::open(root, Patterns::default(), None).unwrap()
}

fn paths(selection: &Selection) -> Vec<&str> {
    selection
        .entries
        .iter()
        .map(|e| e.rel_path.as_str())
        .collect()
}

fn sum(root: &Path, source: &str) -> String {
    let ctx = open(root);
    let sel = ctx.select(source, &SelectOptions::default()).unwrap();
    ctx.checksum(&sel, &ChecksumOptions::default()).unwrap()
}

#[test]
fn dot_selects_the_whole_context() {
    let dir = sample();
    let ctx = open(dir.path());
    let sel = ctx.select(".", &SelectOptions::default()).unwrap();
    assert_eq!(sel.roots, ["."]);
    assert_eq!(sel.entries.len(), ctx.entries().len());
    assert_eq!(ctx.select("./", &SelectOptions::default()).unwrap(), {
        let mut s = sel.clone();
        s.source = "./".into();
        s
    });
}

#[test]
fn directory_source_selects_the_dir_and_everything_below() {
    let dir = sample();
    let ctx = open(dir.path());
    for source in ["src", "src/", "./src", "/src"] {
        let sel = ctx.select(source, &SelectOptions::default()).unwrap();
        assert_eq!(sel.roots, ["src"], "{source}");
        assert_eq!(
            paths(&sel),
            ["src", "src/lib", "src/lib/util.rs", "src/main.rs"]
        );
    }
}

#[test]
fn wildcard_source_selects_each_match() {
    let dir = sample();
    let ctx = open(dir.path());
    let sel = ctx.select("*.txt", &SelectOptions::default()).unwrap();
    assert_eq!(sel.roots, ["a.txt", "b.txt"]);
    let sel = ctx
        .select("conf/*.json", &SelectOptions::default())
        .unwrap();
    assert_eq!(paths(&sel), ["conf/app.json"]);
    let sel = ctx.select("[ab].t?t", &SelectOptions::default()).unwrap();
    assert_eq!(sel.roots, ["a.txt", "b.txt"]);
    let sel = ctx.select("[^a].txt", &SelectOptions::default()).unwrap();
    assert_eq!(sel.roots, ["b.txt"]);
    // `*` does not cross `/`.
    let sel = ctx.select("*.rs", &SelectOptions::default());
    assert!(matches!(sel, Err(ContextError::NoSourceFiles { .. })));
}

#[test]
fn wildcard_matching_nothing_is_an_error_naming_the_pattern() {
    let dir = sample();
    let err = open(dir.path())
        .select("*.go", &SelectOptions::default())
        .unwrap_err();
    assert!(matches!(&err, ContextError::NoSourceFiles { pattern } if pattern == "*.go"));
    assert!(err.to_string().contains("no source files were specified"));
}

#[test]
fn missing_source_is_not_found_naming_the_path() {
    let dir = sample();
    let ctx = open(dir.path());
    for source in ["nope.txt", "src/nope.rs", "a.txt/inside"] {
        let err = ctx.select(source, &SelectOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), format!("\"{source}\": not found"));
    }
}

#[test]
fn ignored_source_is_not_found() {
    let dir = sample();
    let patterns = Patterns::parse("*.txt\n").unwrap();
    let ctx = Context::open(dir.path(), patterns, None).unwrap();
    let err = ctx.select("a.txt", &SelectOptions::default()).unwrap_err();
    assert!(matches!(err, ContextError::NotFound { .. }));
}

#[test]
fn source_escaping_the_context_is_an_error_naming_it() {
    let dir = sample();
    let ctx = open(dir.path());
    for source in ["../x", "..", "src/../../x"] {
        let err = ctx.select(source, &SelectOptions::default()).unwrap_err();
        assert!(
            matches!(&err, ContextError::EscapesContext { path } if path == source),
            "{source}: {err}"
        );
    }
    // Lexical `..` that stays inside is fine; absolute paths resolve inside the root.
    assert_eq!(
        ctx.select("src/../a.txt", &SelectOptions::default())
            .unwrap()
            .roots,
        ["a.txt"]
    );
    assert_eq!(
        ctx.select("/../a.txt", &SelectOptions::default())
            .unwrap()
            .roots,
        ["a.txt"]
    );
}

#[test]
fn source_through_a_symlinked_parent_is_an_error_naming_it() {
    let dir = sample();
    symlink("src", dir.path().join("link")).unwrap();
    symlink("/etc", dir.path().join("etc")).unwrap();
    let ctx = open(dir.path());
    for (source, via) in [
        ("link/main.rs", "link"),
        ("etc/passwd", "etc"),
        ("link/*.rs", "link"),
    ] {
        let err = ctx.select(source, &SelectOptions::default()).unwrap_err();
        assert!(
            matches!(&err, ContextError::ThroughSymlink { path, symlink } if path == source && symlink == via),
            "{source}: {err}"
        );
    }
}

#[test]
fn symlink_source_is_selected_as_a_symlink() {
    let dir = sample();
    symlink("src", dir.path().join("link")).unwrap();
    let ctx = open(dir.path());
    let sel = ctx.select("link", &SelectOptions::default()).unwrap();
    assert_eq!(paths(&sel), ["link"]);
    assert_eq!(
        sel.entries[0].kind,
        EntryKind::Symlink {
            target: "src".into()
        }
    );
}

#[test]
fn exclude_option_drops_matches_relative_to_the_source_dir() {
    let dir = sample();
    let ctx = open(dir.path());
    let opts = SelectOptions {
        exclude: Some(Patterns::new(["lib"]).unwrap()),
    };
    assert_eq!(
        paths(&ctx.select("src", &opts).unwrap()),
        ["src", "src/main.rs"]
    );
    let opts = SelectOptions {
        exclude: Some(Patterns::new(["*.txt"]).unwrap()),
    };
    let sel = ctx.select(".", &opts).unwrap();
    assert!(!paths(&sel).contains(&"a.txt") && paths(&sel).contains(&"README.md"));
    let opts = SelectOptions {
        exclude: Some(Patterns::new(["b.*"]).unwrap()),
    };
    assert_eq!(ctx.select("*.txt", &opts).unwrap().roots, ["a.txt"]);
    let opts = SelectOptions {
        exclude: Some(Patterns::new(["*.txt"]).unwrap()),
    };
    assert!(matches!(
        ctx.select("*.txt", &opts),
        Err(ContextError::NoSourceFiles { .. })
    ));
    // A literal source is copied even if its own name matches.
    assert_eq!(ctx.select("a.txt", &opts).unwrap().roots, ["a.txt"]);
}

#[test]
fn dockerfile_and_ignore_file_listed_in_dockerignore_stay_readable_but_are_not_copied() {
    let dir = sample();
    write(dir.path(), "Dockerfile", "FROM scratch\n");
    write(dir.path(), ".dockerignore", "Dockerfile\n.dockerignore\n");
    let patterns = IgnoreFile::load(dir.path(), &dir.path().join("Dockerfile")).unwrap();
    assert_eq!(patterns.rules().len(), 2);
    let ctx = Context::open(dir.path(), patterns, None).unwrap();
    let sel = ctx.select(".", &SelectOptions::default()).unwrap();
    assert!(!paths(&sel).contains(&"Dockerfile"));
    assert!(!paths(&sel).contains(&".dockerignore"));
    assert!(matches!(
        ctx.select("Dockerfile", &SelectOptions::default()),
        Err(ContextError::NotFound { .. })
    ));
}

#[test]
fn checksum_has_the_sha256_form_and_is_stable() {
    let dir = sample();
    let a = sum(dir.path(), ".");
    assert!(a.starts_with("sha256:") && a.len() == 7 + 64, "{a}");
    assert_eq!(a, sum(dir.path(), "."));
}

#[test]
fn checksum_ignores_mtime_and_owner() {
    let dir = sample();
    let before = sum(dir.path(), ".");
    let file = dir.path().join("src/main.rs");
    filetime::set_file_mtime(&file, filetime::FileTime::from_unix_time(1_000_000, 0)).unwrap();
    filetime::set_file_mtime(dir.path().join("src"), filetime::FileTime::zero()).unwrap();
    assert_eq!(sum(dir.path(), "."), before, "mtime changed the checksum");
    std::os::unix::fs::chown(&file, Some(4242), Some(4343)).unwrap();
    assert_eq!(sum(dir.path(), "."), before, "owner changed the checksum");
}

#[test]
fn checksum_changes_with_content() {
    let dir = sample();
    let before = sum(dir.path(), "src");
    write(dir.path(), "src/main.rs", "fn main() { }\n");
    assert_ne!(sum(dir.path(), "src"), before);
}

#[test]
fn checksum_changes_with_mode_bits_including_setuid() {
    let dir = sample();
    let file = dir.path().join("a.txt");
    let base = sum(dir.path(), "a.txt");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
    let exec = sum(dir.path(), "a.txt");
    assert_ne!(exec, base);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o4755)).unwrap();
    assert_ne!(sum(dir.path(), "a.txt"), exec);
}

#[test]
fn checksum_ignores_mode_with_the_chmod_option() {
    let dir = sample();
    let chmod = ChecksumOptions { ignore_mode: true };
    let sum_chmod = |root: &Path| {
        let ctx = open(root);
        let sel = ctx.select("src", &SelectOptions::default()).unwrap();
        ctx.checksum(&sel, &chmod).unwrap()
    };
    let before = sum_chmod(dir.path());
    fs::set_permissions(
        dir.path().join("src/main.rs"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    fs::set_permissions(
        dir.path().join("src/lib"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    assert_eq!(sum_chmod(dir.path()), before);
    write(dir.path(), "src/main.rs", "changed\n");
    assert_ne!(sum_chmod(dir.path()), before);
}

#[test]
fn checksum_changes_with_symlink_target_and_path() {
    let dir = sample();
    symlink("a.txt", dir.path().join("link")).unwrap();
    let before = sum(dir.path(), ".");
    fs::remove_file(dir.path().join("link")).unwrap();
    symlink("b.txt", dir.path().join("link")).unwrap();
    assert_ne!(sum(dir.path(), "."), before);

    let dir = sample();
    let before = sum(dir.path(), ".");
    fs::rename(dir.path().join("a.txt"), dir.path().join("c.txt")).unwrap();
    assert_ne!(
        sum(dir.path(), "."),
        before,
        "a rename must change the checksum"
    );
}

#[test]
fn stat_cache_reuses_hashes_across_runs_without_reading_content() {
    let dir = sample();
    let cache = tempfile::tempdir().unwrap();
    let run = || {
        let ctx = Context::open(dir.path(), Patterns::default(), Some(cache.path())).unwrap();
        let sel = ctx.select(".", &SelectOptions::default()).unwrap();
        let digest = ctx.checksum(&sel, &ChecksumOptions::default()).unwrap();
        ctx.save_cache().unwrap();
        (digest, ctx.files_hashed())
    };
    let (cold, hashed_cold) = run();
    assert_eq!(hashed_cold, 6);
    let (warm, hashed_warm) = run();
    assert_eq!(warm, cold);
    assert_eq!(
        hashed_warm, 0,
        "an unchanged context must not read any file"
    );

    write(dir.path(), "a.txt", "new content\n");
    let (changed, hashed) = run();
    assert_ne!(changed, cold);
    assert_eq!(hashed, 1, "only the changed file is read again");
}

#[test]
fn freshly_changed_file_is_hashed_but_not_cached_until_it_settles() {
    let dir = sample();
    write(dir.path(), "a.txt", "just written\n");
    let ctx = open(dir.path());
    let sel = ctx.select("a.txt", &SelectOptions::default()).unwrap();
    let first = ctx.checksum(&sel, &ChecksumOptions::default()).unwrap();
    assert_eq!(
        ctx.checksum(&sel, &ChecksumOptions::default()).unwrap(),
        first
    );
    assert_eq!(
        ctx.files_hashed(),
        2,
        "a racily clean file must be read again"
    );
    settle();
    let ctx = open(dir.path());
    let sel = ctx.select("a.txt", &SelectOptions::default()).unwrap();
    ctx.checksum(&sel, &ChecksumOptions::default()).unwrap();
    ctx.checksum(&sel, &ChecksumOptions::default()).unwrap();
    assert_eq!(ctx.files_hashed(), 1);
}

#[test]
fn in_memory_cache_serves_repeated_checksums_without_a_cache_dir() {
    let dir = sample();
    let ctx = open(dir.path());
    let sel = ctx.select(".", &SelectOptions::default()).unwrap();
    let a = ctx.checksum(&sel, &ChecksumOptions::default()).unwrap();
    let b = ctx.checksum(&sel, &ChecksumOptions::default()).unwrap();
    assert_eq!((a, ctx.files_hashed()), (b, 6));
    ctx.save_cache().unwrap();
}

#[test]
fn same_size_rewrite_with_restored_mtime_is_still_detected_through_ctime() {
    // The cache trusts (dev, inode, size, mtime, ctime). Restoring mtime after a same-size
    // rewrite defeats an mtime-only cache; ctime moves anyway and cannot be set back.
    let dir = sample();
    let cache = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.txt");
    let first = {
        let ctx = Context::open(dir.path(), Patterns::default(), Some(cache.path())).unwrap();
        let sel = ctx.select("a.txt", &SelectOptions::default()).unwrap();
        let d = ctx.checksum(&sel, &ChecksumOptions::default()).unwrap();
        ctx.save_cache().unwrap();
        d
    };
    let mtime = filetime::FileTime::from_last_modification_time(&fs::metadata(&file).unwrap());
    fs::write(&file, "z\n").unwrap();
    filetime::set_file_mtime(&file, mtime).unwrap();
    let ctx = Context::open(dir.path(), Patterns::default(), Some(cache.path())).unwrap();
    let sel = ctx.select("a.txt", &SelectOptions::default()).unwrap();
    assert_ne!(
        ctx.checksum(&sel, &ChecksumOptions::default()).unwrap(),
        first
    );
    assert_eq!(ctx.files_hashed(), 1);
}

#[test]
fn saving_the_cache_drops_records_of_removed_files() {
    let dir = sample();
    let cache = tempfile::tempdir().unwrap();
    let ctx = Context::open(dir.path(), Patterns::default(), Some(cache.path())).unwrap();
    ctx.checksum(
        &ctx.select(".", &SelectOptions::default()).unwrap(),
        &ChecksumOptions::default(),
    )
    .unwrap();
    ctx.save_cache().unwrap();
    fs::remove_file(dir.path().join("a.txt")).unwrap();
    let ctx = Context::open(dir.path(), Patterns::default(), Some(cache.path())).unwrap();
    ctx.save_cache().unwrap();
    let file = stat_cache::StatCache::file_for(cache.path(), ctx.root());
    assert_eq!(stat_cache::StatCache::load(&file).unwrap().len(), 5);
}

#[test]
fn non_utf8_file_name_is_an_error_naming_it() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"bad\xffname");
    fs::write(dir.path().join(name), b"x").unwrap();
    let err = Context::open(dir.path(), Patterns::default(), None).unwrap_err();
    assert!(matches!(err, ContextError::NonUtf8Name { .. }), "{err}");
}

#[test]
fn missing_context_root_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("absent");
    let err = Context::open(&root, Patterns::default(), None).unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
}
