//! The local image store through the binary: a build without `-o` lands in
//! it; `images`, `inspect`, `tag`, `rm`, `save`, `load`, `du`; `-q`,
//! `--iidfile` and `--metadata-file`.

mod export_support;

use export_support::*;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn build_without_output_stores_the_image_and_reports_its_id() {
    let w = Work::new(HELLO);
    let iid = w.path("iid");
    let meta = w.path("meta.json");
    let out = ok(w.build(&[
        "-q",
        "-t",
        "app:v1",
        "-t",
        "localhost:5000/team/app",
        "--iidfile",
        iid.to_str().unwrap(),
        "--metadata-file",
        meta.to_str().unwrap(),
    ]));
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert_eq!(out.trim(), id);
    let meta = json(&std::fs::read_to_string(&meta).unwrap());
    assert_eq!(meta["containerimage.config.digest"], id.as_str());
    assert_eq!(
        meta["image.name"],
        "docker.io/library/app:v1,localhost:5000/team/app:latest"
    );
    let manifest_digest = meta["containerimage.digest"].as_str().unwrap().to_string();

    let images = json(&ok(w.hoist(&["images", "--format", "json"])));
    let rows = images.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{images}");
    assert!(rows.iter().all(|r| r["id"] == id.as_str()));
    assert!(rows.iter().all(|r| r["digest"] == manifest_digest.as_str()));
    assert!(
        rows.iter()
            .any(|r| r["repository"] == "app" && r["tag"] == "v1")
    );
    assert!(
        rows.iter()
            .any(|r| r["repository"] == "localhost:5000/team/app" && r["tag"] == "latest")
    );
    let table = ok(w.hoist(&["images"]));
    assert!(table.starts_with("REPOSITORY"), "{table}");
    assert!(table.contains(&id["sha256:".len()..][..12]), "{table}");

    let inspect = json(&ok(w.hoist(&["inspect", "app:v1"])));
    assert_eq!(inspect["Id"], id.as_str());
    assert_eq!(inspect["Digest"], manifest_digest.as_str());
    assert_eq!(
        inspect["Config"]["config"]["Cmd"],
        serde_json::json!(["hello"])
    );
    assert_eq!(inspect["Manifest"]["layers"].as_array().unwrap().len(), 4);
    // By id prefix too.
    let by_id = json(&ok(w.hoist(&["inspect", &id["sha256:".len()..][..12]])));
    assert_eq!(by_id["Id"], id.as_str());
}

#[test]
fn tag_rm_save_load_round_trip() {
    let w = Work::new(HELLO);
    ok(w.build(&["-t", "app:v1"]));
    ok(w.hoist(&["tag", "app:v1", "app:v2"]));
    let id = json(&ok(w.hoist(&["inspect", "app:v2"])))["Id"].clone();
    let docker_tar = w.path("app-docker.tar");
    let oci_tar = w.path("app-oci.tar");
    ok(w.hoist(&["save", "app:v1", "-o", docker_tar.to_str().unwrap()]));
    ok(w.hoist(&[
        "save",
        "app:v2",
        "--format",
        "oci",
        "-o",
        oci_tar.to_str().unwrap(),
    ]));
    // Other tools read what save wrote.
    skopeo_inspect(&format!("docker-archive:{}", docker_tar.display()), false);
    skopeo_inspect(&format!("oci-archive:{}", oci_tar.display()), false);

    let removed = ok(w.hoist(&["rm", "app:v1", "app:v2"]));
    assert!(removed.contains("Untagged: app:v1") && removed.contains("Untagged: app:v2"));
    assert!(!w.hoist(&["inspect", "app:v1"]).status.success());
    let images = json(&ok(w.hoist(&["images", "--format", "json"])));
    assert_eq!(images.as_array().unwrap().len(), 0, "{images}");

    let loaded = ok(w.hoist(&["load", "-i", docker_tar.to_str().unwrap()]));
    assert!(loaded.contains("Loaded image: app:v1"), "{loaded}");
    let loaded = ok(w.hoist(&["load", "-i", oci_tar.to_str().unwrap()]));
    assert!(loaded.contains("Loaded image: app:v2"), "{loaded}");
    assert_eq!(json(&ok(w.hoist(&["inspect", "app:v1"])))["Id"], id);
    assert_eq!(json(&ok(w.hoist(&["inspect", "app:v2"])))["Id"], id);

    // A fresh data root loads the archive with every blob.
    let other = Work::new(HELLO);
    ok(other.hoist(&["load", "-i", docker_tar.to_str().unwrap()]));
    assert_eq!(json(&ok(other.hoist(&["inspect", "app:v1"])))["Id"], id);
    let du = json(&ok(other.hoist(&["du", "--format", "json"])));
    assert!(du["content"].as_u64().unwrap() > 1_000_000, "{du}");
}

#[test]
fn second_export_reuses_the_compressed_layers() {
    let w = Work::new(HELLO);
    let a = w.path("a.tar");
    let b = w.path("b.tar");
    ok(w.build(&["-o", &format!("type=oci,dest={}", a.display())]));
    let records = w.root().join("cache/layers");
    let before = walk_files(&records);
    assert_eq!(before.len(), 3, "one memo record per built layer");
    std::thread::sleep(std::time::Duration::from_millis(20));
    ok(w.build(&["-o", &format!("type=oci,dest={}", b.display())]));
    assert_eq!(walk_files(&records), before, "records were not rewritten");
    let ra = skopeo_inspect(&format!("oci-archive:{}", a.display()), false);
    let rb = skopeo_inspect(&format!("oci-archive:{}", b.display()), false);
    assert_eq!(ra["Layers"], rb["Layers"]);
}

/// Every file below `dir` with its modification time, sorted.
fn walk_files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, std::time::SystemTime)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            let modified = p.metadata().unwrap().modified().unwrap();
            out.push((p, modified));
        }
    }
    out.sort();
    out
}
