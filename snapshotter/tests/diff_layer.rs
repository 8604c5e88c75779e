//! Diff → tar → compressed blob, against a real overlay upper dir, real
//! `tar`, `gzip` and `zstd` commands and the content store. Needs root.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::digest::Digest;
use hoist_snapshotter::layer::compress::{Encoding, write_layer, write_layer_observed};
use hoist_snapshotter::layer::diff::{DiffOptions, DiffSource, write_tar};
use hoist_snapshotter::snapshot::{ActiveSnapshot, Driver, SnapshotStore};

const LONG: &str = "zzlllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll";

struct Setup {
    _dir: tempfile::TempDir,
    _store: SnapshotStore,
    snap: ActiveSnapshot,
}

fn lower(d: &Path) -> std::io::Result<()> {
    fs::write(d.join("f1"), "one")?;
    fs::write(d.join("f2"), "two")?;
    fs::create_dir_all(d.join("dd/sub"))?;
    fs::write(d.join("dd/a"), "a")?;
    fs::write(d.join("dd/sub/b"), "b")?;
    fs::create_dir(d.join("rep"))?;
    fs::write(d.join("rep/x"), "x")?;
    fs::create_dir(d.join("op"))?;
    fs::write(d.join("op/old"), "old")?;
    fs::write(d.join("owned"), "o")?;
    Ok(())
}

/// A lower layer and, in an overlay over it, every kind of change.
fn changed_overlay() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path().join("snapshots")).unwrap();
    let l = store.ensure_layer(&Digest::of(b"lower"), lower).unwrap();
    let snap = store.prepare(&[l], Driver::Overlay).unwrap();
    let r = snap.root();
    fs::write(r.join("new"), "fresh").unwrap();
    fs::write(r.join("f1"), "one, modified").unwrap();
    fs::remove_file(r.join("f2")).unwrap();
    fs::remove_dir_all(r.join("dd")).unwrap();
    fs::remove_dir_all(r.join("rep")).unwrap();
    fs::write(r.join("rep"), "a file now").unwrap();
    fs::remove_dir_all(r.join("op")).unwrap();
    fs::create_dir(r.join("op")).unwrap();
    fs::write(r.join("op/new"), "n").unwrap();
    fs::hard_link(r.join("new"), r.join("new2")).unwrap();
    std::os::unix::fs::symlink("f1", r.join("sl")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        r.join("pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        r.join("null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(1, 3),
    )
    .unwrap();
    fs::write(r.join("suid"), "s").unwrap();
    fs::set_permissions(r.join("suid"), fs::Permissions::from_mode(0o4755)).unwrap();
    std::os::unix::fs::chown(r.join("owned"), Some(1234), Some(5678)).unwrap();
    fs::write(r.join("x-attr"), "x").unwrap();
    rustix::fs::setxattr(
        r.join("x-attr"),
        "user.test",
        b"hello",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::create_dir(r.join(LONG)).unwrap();
    fs::write(r.join(LONG).join("file"), "long").unwrap();
    // Sandbox mount-point stubs, to be excluded.
    fs::write(r.join("stub"), "").unwrap();
    fs::create_dir_all(r.join("mnt/inner")).unwrap();
    Setup {
        _dir: dir,
        _store: store,
        snap,
    }
}

fn opts(epoch: Option<i64>) -> DiffOptions {
    DiffOptions {
        source_date_epoch: epoch,
        exclude: vec!["/stub".into(), "mnt".into()],
    }
}

fn tar_of(snap: &ActiveSnapshot, epoch: Option<i64>) -> Vec<u8> {
    write_tar(&snap.diff().unwrap(), &opts(epoch), Vec::new()).unwrap()
}

#[test]
fn diff_of_an_overlay_upper_is_an_oci_layer_with_whiteouts() {
    let s = changed_overlay();
    let bytes = tar_of(&s.snap, None);
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut names = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let h = e.header().clone();
        assert_eq!(h.username_bytes(), Some(&b""[..]), "{name}");
        assert_eq!(h.groupname_bytes(), Some(&b""[..]), "{name}");
        match name.as_str() {
            "new2" => {
                assert_eq!(h.entry_type(), tar::EntryType::Link);
                assert_eq!(e.link_name_bytes().unwrap().as_ref(), b"new");
            }
            "sl" => {
                assert_eq!(h.entry_type(), tar::EntryType::Symlink);
                assert_eq!(e.link_name_bytes().unwrap().as_ref(), b"f1");
            }
            "pipe" => assert_eq!(h.entry_type(), tar::EntryType::Fifo),
            "null" => {
                assert_eq!(h.entry_type(), tar::EntryType::Char);
                assert_eq!(
                    (h.device_major().unwrap(), h.device_minor().unwrap()),
                    (Some(1), Some(3))
                );
            }
            "suid" => assert_eq!(h.mode().unwrap(), 0o4755),
            "owned" => assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (1234, 5678)),
            "x-attr" => {
                let pax: Vec<(String, Vec<u8>)> = e
                    .pax_extensions()
                    .unwrap()
                    .unwrap()
                    .map(|x| {
                        let x = x.unwrap();
                        (x.key().unwrap().to_string(), x.value_bytes().to_vec())
                    })
                    .collect();
                assert_eq!(
                    pax,
                    [("SCHILY.xattr.user.test".to_string(), b"hello".to_vec())]
                );
            }
            "f1" => {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                assert_eq!(s, "one, modified");
            }
            n if n.contains(".wh.") => {
                assert_eq!(h.entry_type(), tar::EntryType::Regular);
                assert_eq!(h.size().unwrap(), 0);
            }
            _ => {}
        }
        names.push(name);
    }
    let long_dir = format!("{LONG}/");
    let long_file = format!("{LONG}/file");
    assert_eq!(
        names,
        [
            ".wh.dd",
            "f1",
            ".wh.f2",
            "new",
            "new2",
            "null",
            "op/",
            "op/.wh..wh..opq",
            "op/new",
            "owned",
            "pipe",
            "rep",
            "sl",
            "suid",
            "x-attr",
            &long_dir,
            &long_file,
        ]
    );
}

#[test]
fn gnu_tar_lists_the_layer() {
    let s = changed_overlay();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("layer.tar");
    fs::write(&file, tar_of(&s.snap, Some(1_000_000))).unwrap();
    let out = Command::new("tar").arg("-tvf").arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(listing.contains("op/.wh..wh..opq"), "{listing}");
    assert!(listing.contains(&format!("{LONG}/file")), "{listing}");
    assert!(listing.contains("new2 link to new"), "{listing}");
    assert!(listing.contains("sl -> f1"), "{listing}");
    assert!(listing.contains("-rwsr-xr-x 0/0"), "{listing}");
    assert!(listing.contains("1234/5678"), "{listing}");
    assert!(
        listing.contains("1970-01-12"),
        "mtimes not clamped: {listing}"
    );
    assert!(
        !listing.contains("stub") && !listing.contains("mnt"),
        "{listing}"
    );
}

fn touch_all(root: &Path, secs: i64) {
    let t = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: t,
        last_modification: t,
    };
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        rustix::fs::utimensat(
            rustix::fs::CWD,
            e.path(),
            &times,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }
}

#[test]
fn diff_is_byte_identical_across_runs_and_mtime_changes_with_source_date_epoch() {
    let a = changed_overlay();
    let b = changed_overlay();
    let epoch = Some(1_000_000);
    let first = tar_of(&a.snap, epoch);
    assert_eq!(
        first,
        tar_of(&a.snap, epoch),
        "two diffs of one upper differ"
    );
    assert_eq!(
        first,
        tar_of(&b.snap, epoch),
        "two runs of the same step differ"
    );

    let without = tar_of(&a.snap, None);
    let DiffSource::OverlayUpper(upper) = a.snap.diff().unwrap() else {
        panic!()
    };
    touch_all(&upper, 5_000_000);
    assert_ne!(
        without,
        tar_of(&a.snap, None),
        "mtimes are not in the stream at all"
    );
    assert_eq!(first, tar_of(&a.snap, epoch), "clamped mtimes still leak");
}

fn sha256_hex(bytes: &[u8]) -> String {
    Digest::of(bytes).hex().to_string()
}

fn decompress(cmd: &str, blob: &Path) -> Vec<u8> {
    let out = Command::new(cmd).arg("-dc").arg(blob).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn compressed_layers_decompress_to_the_tar_whose_sha256_is_the_diff_id() {
    let s = changed_overlay();
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path().join("content")).unwrap();
    let source = s.snap.diff().unwrap();
    let o = opts(Some(1_000_000));
    let tar = write_tar(&source, &o, Vec::new()).unwrap();
    for (encoding, cmd, media) in [
        (
            Encoding::gzip(6),
            Some("gzip"),
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
        (
            Encoding::zstd(3),
            Some("zstd"),
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
        (
            Encoding::none(),
            None,
            "application/vnd.oci.image.layer.v1.tar",
        ),
    ] {
        let blob = write_layer(&source, &o, encoding, &store).unwrap();
        assert_eq!(blob.media_type, media);
        assert_eq!(blob.diff_id.hex(), sha256_hex(&tar), "{encoding:?}");
        let path = store.path(&blob.digest);
        let stored = fs::read(&path).unwrap();
        assert_eq!(stored.len() as u64, blob.size);
        assert_eq!(sha256_hex(&stored), blob.digest.hex(), "{encoding:?}");
        let plain = match cmd {
            Some(cmd) => decompress(cmd, &path),
            None => stored.clone(),
        };
        assert!(plain == tar, "{encoding:?} does not decompress to the tar");
        if cmd == Some("gzip") {
            assert_eq!(&stored[3..8], &[0, 0, 0, 0, 0], "gzip flags/mtime not zero");
            assert_eq!(stored[9], 255, "gzip OS byte");
        }
        let again = write_layer(&source, &o, encoding, &store).unwrap();
        assert_eq!(again, blob, "{encoding:?} output is not deterministic");
        // The observed variant reports the tar's bytes as they are compressed.
        let seen = std::cell::Cell::new(0u64);
        let observed =
            write_layer_observed(&source, &o, encoding, &store, &|n| seen.set(n)).unwrap();
        assert_eq!(observed, blob);
        assert_eq!(seen.get(), tar.len() as u64, "{encoding:?}");
    }
    assert_eq!(
        fs::read_dir(store.root().join("ingest")).unwrap().count(),
        0
    );
}

/// Bytes that do not compress away, so the stream spans many chunks.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn large_layer_streams_through_both_codecs() {
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path().join("upper");
    fs::create_dir(&upper).unwrap();
    fs::write(upper.join("big"), noise(3 << 20)).unwrap();
    fs::write(upper.join("zeros"), vec![0u8; 2 << 20]).unwrap();
    let store = ContentStore::open(dir.path().join("content")).unwrap();
    let source = DiffSource::OverlayUpper(upper.clone());
    let o = DiffOptions::default();
    let tar = write_tar(&source, &o, Vec::new()).unwrap();
    for (encoding, cmd) in [(Encoding::zstd(3), "zstd"), (Encoding::gzip(6), "gzip")] {
        let blob = write_layer(&source, &o, encoding, &store).unwrap();
        assert_eq!(blob.diff_id, Digest::of(&tar));
        assert!(blob.size < tar.len() as u64);
        assert!(
            decompress(cmd, &store.path(&blob.digest)) == tar,
            "{encoding:?}"
        );
    }
}

#[test]
fn failed_layer_write_names_the_path_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ContentStore::open(dir.path().join("content")).unwrap();
    let missing = dir.path().join("no-such-upper");
    let err = write_layer(
        &DiffSource::OverlayUpper(missing.clone()),
        &DiffOptions::default(),
        Encoding::gzip(6),
        &store,
    )
    .unwrap_err();
    assert!(err.to_string().contains(missing.to_str().unwrap()), "{err}");
    assert!(store.list().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(store.root().join("ingest")).unwrap().count(),
        0
    );
}

#[test]
fn empty_diff_is_an_empty_tar() {
    let dir = tempfile::tempdir().unwrap();
    let tar = write_tar(
        &DiffSource::OverlayUpper(dir.path().to_path_buf()),
        &DiffOptions::default(),
        Vec::new(),
    )
    .unwrap();
    assert_eq!(tar, vec![0u8; 1024]);
}

#[test]
#[ignore = "debug aid: writes the sample layer to $HOIST_DUMP_LAYER"]
fn dump_sample_layer() {
    let Ok(path) = std::env::var("HOIST_DUMP_LAYER") else {
        return;
    };
    let s = changed_overlay();
    fs::write(path, tar_of(&s.snap, None)).unwrap();
}

#[test]
fn pax_records_carry_long_link_targets_big_ids_and_non_ascii_names() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path();
    let target = "t".repeat(150);
    std::os::unix::fs::symlink(&target, up.join("long-link")).unwrap();
    fs::write(up.join("big-ids"), "x").unwrap();
    std::os::unix::fs::chown(up.join("big-ids"), Some(3_000_000), Some(4_000_000)).unwrap();
    fs::write(up.join("café"), "c").unwrap();
    let tar = write_tar(
        &DiffSource::OverlayUpper(up.to_path_buf()),
        &DiffOptions::default(),
        Vec::new(),
    )
    .unwrap();
    let mut seen = Vec::new();
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        match name.as_str() {
            "long-link" => {
                assert_eq!(e.link_name_bytes().unwrap().as_ref(), target.as_bytes());
            }
            "big-ids" => {
                let pax: Vec<String> = e
                    .pax_extensions()
                    .unwrap()
                    .unwrap()
                    .map(|x| {
                        let x = x.unwrap();
                        format!("{}={}", x.key().unwrap(), x.value().unwrap())
                    })
                    .collect();
                assert_eq!(pax, ["gid=4000000", "uid=3000000"]);
            }
            "café" => {}
            other => panic!("unexpected entry {other:?}"),
        }
        seen.push(name);
    }
    assert_eq!(seen, ["big-ids", "café", "long-link"]);
    // GNU tar agrees on all three.
    let file = dir.path().join("l.tar");
    fs::write(&file, &tar).unwrap();
    let out = Command::new("tar")
        .arg("--numeric-owner")
        .arg("-tvf")
        .arg(&file)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{listing}");
    assert!(listing.contains("3000000/4000000"), "{listing}");
    assert!(
        listing.contains(&format!("long-link -> {target}")),
        "{listing}"
    );
}

#[test]
fn changes_list_is_filtered_by_exclude_and_sorted() {
    use hoist_snapshotter::layer::diff::Change;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("b/c")).unwrap();
    fs::write(root.join("b/c/f"), "f").unwrap();
    fs::create_dir(root.join("proc")).unwrap();
    let source = DiffSource::Changes {
        root: root.to_path_buf(),
        changes: vec![
            Change::Present("b/c/f".into()),
            Change::Deleted("a".into()),
            Change::Present("b".into()),
            Change::Opaque("b/c".into()),
            Change::Present("proc".into()),
        ],
    };
    let opts = DiffOptions {
        exclude: vec!["proc".into()],
        ..DiffOptions::default()
    };
    let tar = write_tar(&source, &opts, Vec::new()).unwrap();
    let names: Vec<String> = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
        .collect();
    assert_eq!(names, [".wh.a", "b/", "b/c/", "b/c/.wh..wh..opq", "b/c/f"]);
}

#[test]
fn failure_in_mid_stream_commits_no_truncated_blob() {
    use hoist_snapshotter::layer::diff::Change;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("a"), noise(1 << 20)).unwrap();
    let store = ContentStore::open(dir.path().join("content")).unwrap();
    let source = DiffSource::Changes {
        root: root.clone(),
        changes: vec![
            Change::Present("a".into()),
            Change::Present("vanished".into()),
        ],
    };
    for encoding in [Encoding::gzip(6), Encoding::zstd(3), Encoding::none()] {
        let err = write_layer(&source, &DiffOptions::default(), encoding, &store).unwrap_err();
        assert!(err.to_string().contains("vanished"), "{err}");
    }
    assert!(store.list().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(store.root().join("ingest")).unwrap().count(),
        0
    );
}
