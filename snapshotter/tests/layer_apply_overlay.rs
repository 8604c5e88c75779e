//! Overlay-whiteout mode against the kernel: layers applied each into its own
//! dir (`WhiteoutMode::Overlay`, lower dirs given) and mounted as a real
//! overlayfs must show the same tree as the same layers applied in sequence
//! into one dir (`WhiteoutMode::Remove`).
//!
//! Needs root and overlayfs (`mount -t overlay`).

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use common::tree::assert_trees_equal;
use hoist_snapshotter::layer::apply::{ApplyOptions, WhiteoutMode, apply_layer};
use tar::{EntryType, Header};

struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }

    fn add(
        mut self,
        kind: EntryType,
        path: &str,
        mode: u32,
        data: &[u8],
        link: Option<&str>,
    ) -> Layer {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_mtime(1_600_000_000 + path.len() as u64);
        h.set_size(data.len() as u64);
        match link {
            Some(target) => self.0.append_link(&mut h, path, target).unwrap(),
            None => self.0.append_data(&mut h, path, data).unwrap(),
        }
        self
    }

    fn dir(self, path: &str) -> Layer {
        self.add(EntryType::Directory, path, 0o755, b"", None)
    }

    fn file(self, path: &str, data: &[u8]) -> Layer {
        self.add(EntryType::Regular, path, 0o644, data, None)
    }

    fn hardlink(self, path: &str, target: &str) -> Layer {
        self.add(EntryType::Link, path, 0o644, b"", Some(target))
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// Unmounts on drop, so a failing assertion does not leave a mount behind.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn layers() -> Vec<Vec<u8>> {
    let base = Layer::new()
        .dir("etc")
        .file("etc/a", b"a")
        .file("etc/b", b"b")
        .hardlink("etc/hb", "etc/b")
        .dir("usr")
        .dir("usr/lib")
        .file("usr/lib/x", b"x")
        .dir("usr/lib/sub")
        .file("usr/lib/sub/y", b"y")
        .dir("gone")
        .file("gone/inside", b"i")
        .dir("opt")
        .file("opt/z", b"z")
        .dir("re")
        .file("re/old", b"old")
        .dir("re2")
        .file("re2/old", b"old")
        .bytes();
    let top = Layer::new()
        .file(".wh.gone", b"")
        .dir("etc")
        .file("etc/.wh.a", b"")
        .file("etc/c", b"c")
        .dir("usr")
        .dir("usr/lib")
        .file("usr/lib/.wh..wh..opq", b"")
        .file("usr/lib/new", b"new")
        .dir("opt")
        .hardlink("opt/z2", "opt/z")
        .file(".wh.re", b"")
        .dir("re")
        .file("re/new", b"new")
        .dir("re2")
        .file("re2/new", b"new")
        .file(".wh.re2", b"")
        .bytes();
    vec![base, top]
}

#[test]
fn overlay_mode_layers_mount_to_the_same_tree_as_sequential_apply() {
    let t = tempfile::tempdir().unwrap();
    let merged_by_us = t.path().join("sequential");
    fs::create_dir(&merged_by_us).unwrap();
    for layer in layers() {
        apply_layer(&layer[..], &merged_by_us, &ApplyOptions::default()).unwrap();
    }

    let mut dirs: Vec<PathBuf> = Vec::new();
    for (i, layer) in layers().iter().enumerate() {
        let dir = t.path().join(format!("layer{i}"));
        fs::create_dir(&dir).unwrap();
        let opts = ApplyOptions {
            whiteouts: WhiteoutMode::Overlay,
            lowers: dirs.iter().rev().cloned().collect(),
            ..ApplyOptions::default()
        };
        apply_layer(&layer[..], &dir, &opts).unwrap();
        dirs.push(dir);
    }
    let lowerdir: Vec<String> = dirs.iter().rev().map(|d| d.display().to_string()).collect();
    let mnt = t.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let out = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o"])
        .arg(format!("ro,lowerdir={}", lowerdir.join(":")))
        .arg(&mnt)
        .output()
        .expect("mount(8) is needed");
    assert!(
        out.status.success(),
        "mount overlay failed (root and overlayfs needed): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _mount = Mount(mnt.clone());

    assert!(!mnt.join("gone").exists());
    assert!(!mnt.join("etc/a").exists());
    assert!(!mnt.join("usr/lib/x").exists());
    assert!(mnt.join("usr/lib/new").exists());
    for d in ["re", "re2"] {
        assert!(!mnt.join(d).join("old").exists(), "{d}/old shows through");
        assert!(mnt.join(d).join("new").exists());
    }
    assert_trees_equal(&mnt, &merged_by_us);
}
