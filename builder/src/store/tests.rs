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
