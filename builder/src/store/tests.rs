use super::*;

fn store() -> (tempfile::TempDir, ImageStore) {
    let d = tempfile::tempdir().unwrap();
    let root = DataRoot::open(d.path()).unwrap();
    let s = ImageStore::open(&root).unwrap();
    (d, s)
}

fn manifest(n: u8) -> Descriptor {
    Descriptor {
        media_type: crate::source::image::manifest::OCI_MANIFEST.into(),
        digest: Digest::of(&[n]),
        size: 1,
        platform: None,
        annotations: BTreeMap::new(),
        urls: Vec::new(),
    }
}

fn names(s: &ImageStore) -> Vec<Option<String>> {
    s.list().unwrap().into_iter().map(|e| e.name).collect()
}

#[test]
fn tag_normalises_names_and_moves_an_existing_name() {
    let (_d, s) = store();
    s.tag(&manifest(1), &["app".into(), "x/y:2".into()])
        .unwrap();
    assert_eq!(
        names(&s),
        [
            Some("docker.io/library/app:latest".to_string()),
            Some("docker.io/x/y:2".to_string())
        ]
    );
    s.tag(&manifest(2), &["app:latest".into()]).unwrap();
    let e = s.lookup("app").unwrap();
    assert_eq!(e.descriptor.digest, Digest::of(&[2]));
    assert_eq!(s.list().unwrap().len(), 2);
}

#[test]
fn unnamed_image_is_kept_once_and_dropped_when_named() {
    let (_d, s) = store();
    s.tag(&manifest(1), &[]).unwrap();
    s.tag(&manifest(1), &[]).unwrap();
    assert_eq!(names(&s), [None]);
    s.tag(&manifest(1), &["app".into()]).unwrap();
    assert_eq!(
        names(&s),
        [Some("docker.io/library/app:latest".to_string())]
    );
}

#[test]
fn remove_by_name_keeps_other_names() {
    let (_d, s) = store();
    s.tag(&manifest(1), &["a".into(), "b".into()]).unwrap();
    assert_eq!(s.remove("a").unwrap(), ["docker.io/library/a:latest"]);
    assert_eq!(names(&s), [Some("docker.io/library/b:latest".to_string())]);
    assert!(matches!(s.remove("a"), Err(StoreError::NotFound(_))));
}

#[test]
fn concurrent_taggers_lose_no_tag() {
    let (_d, s) = store();
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let s = s.clone();
            scope.spawn(move || {
                for i in 0..10u8 {
                    s.tag(&manifest(t), &[format!("img{t}-{i}")]).unwrap();
                }
            });
        }
    });
    assert_eq!(s.list().unwrap().len(), 40);
}

#[test]
fn remove_by_digest_removes_every_name_of_the_image() {
    let (_d, s) = store();
    s.tag(&manifest(1), &["a".into(), "b".into()]).unwrap();
    s.tag(&manifest(2), &["c".into()]).unwrap();
    let hex = Digest::of(&[1]).hex().to_string();
    let removed = s.remove(&hex[..12]).unwrap();
    assert_eq!(removed.len(), 2);
    assert_eq!(names(&s), [Some("docker.io/library/c:latest".to_string())]);
}

/// Writes an image (config + manifest) to the store's content; returns its
/// manifest descriptor with `platform`.
fn stored_image(s: &ImageStore, arch: &str) -> (Descriptor, ImageManifest) {
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#
    );
    let config_digest = s
        .content()
        .write_bytes(config.as_bytes(), None, "t")
        .unwrap();
    let m = ImageManifest {
        schema_version: 2,
        media_type: Some(crate::source::image::manifest::OCI_MANIFEST.into()),
        config: Descriptor {
            media_type: crate::source::image::manifest::OCI_CONFIG.into(),
            digest: config_digest,
            size: config.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        },
        layers: vec![],
        annotations: BTreeMap::new(),
    };
    let bytes = serde_json::to_vec(&m).unwrap();
    let digest = s.content().write_bytes(&bytes, None, "t").unwrap();
    let mut d = manifest(0);
    d.digest = digest;
    d.size = bytes.len() as u64;
    d.platform = Some(Platform::new("linux", arch, ""));
    (d, m)
}

#[test]
fn index_entry_details_are_the_host_image_and_every_platform_is_referenced() {
    let (_d, s) = store();
    let host = Platform::host().architecture;
    let other = if host == "arm64" { "amd64" } else { "arm64" };
    let (a, am) = stored_image(&s, other);
    let (b, bm) = stored_image(&s, &host);
    let index = ImageIndex {
        schema_version: 2,
        media_type: Some(OCI_INDEX.into()),
        manifests: vec![a.clone(), b.clone()],
        annotations: BTreeMap::new(),
    };
    let bytes = serde_json::to_vec(&index).unwrap();
    let mut idx = manifest(0);
    idx.media_type = OCI_INDEX.into();
    idx.digest = s.content().write_bytes(&bytes, None, "t").unwrap();
    idx.size = bytes.len() as u64;
    s.tag(&idx, &["multi".into()]).unwrap();

    let entry = s.lookup("multi").unwrap();
    let details = s.details(&entry.descriptor).unwrap();
    assert_eq!(details.descriptor.digest, b.digest, "the host's image");
    assert_eq!(details.config.architecture, host);
    let images = s.platform_images(&entry.descriptor).unwrap().unwrap();
    assert_eq!(
        images,
        vec![(a.clone(), am.clone()), (b.clone(), bm.clone())]
    );
    let referenced = s.referenced_blobs().unwrap();
    for d in [
        &idx.digest,
        &a.digest,
        &b.digest,
        &am.config.digest,
        &bm.config.digest,
    ] {
        assert!(referenced.contains(d), "{d} referenced");
    }
}
