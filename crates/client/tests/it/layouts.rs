use bytes::Bytes;
use zoll_client::{ClientError, Layout, Repository};
use zoll_oci::Reference;
use zoll_testkit::{TarEntry, TestImage, TestServer};

use crate::{open, run, skopeo_copy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_reads_our_layouts_and_we_read_skopeos() {
    let server = TestServer::start().await;
    let src = tempfile::tempdir().unwrap();
    let img = TestImage::new().layer(&[TarEntry::file("a.txt", "hello")]);
    let pushed = img.write_layout(src.path(), "v1").await;

    // skopeo copies our layout into zoll and back out into a layout of its own.
    let remote = format!("docker://{}", server.image_ref("layouts/app:v1"));
    run(skopeo_copy(
        &format!("oci:{}:v1", src.path().display()),
        &remote,
    ))
    .await;
    let out = tempfile::tempdir().unwrap();
    run(skopeo_copy(
        &remote,
        &format!("oci:{}:copied", out.path().display()),
    ))
    .await;

    let theirs = open(&format!("oci:{}:copied", out.path().display()));
    let tag = Reference::parse("copied").unwrap();
    let (desc, bytes) = theirs.fetch_manifest(&tag).await.unwrap();
    assert_eq!(desc.digest, pushed.digest);
    assert_eq!(bytes, img.manifest().0);
    assert_eq!(theirs.tags().await.unwrap(), vec!["copied".to_owned()]);
    // Without a tag, the only image is meant.
    assert_eq!(theirs.resolve(None).await.unwrap().digest, pushed.digest);
}

#[tokio::test]
async fn layout_tags_move_and_referrers_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::Layout(Layout::create(dir.path()).unwrap());
    let a = TestImage::new().layer(&[TarEntry::file("a", "1")]);
    let b = TestImage::new().layer(&[TarEntry::file("b", "2")]);
    let da = a.push(&repo, Some("v1")).await;
    let db = b.push(&repo, Some("v2")).await;
    b.push(&repo, Some("v1")).await; // v1 moves to b
    let v1 = repo
        .resolve(Some(&Reference::parse("v1").unwrap()))
        .await
        .unwrap();
    assert_eq!(v1.digest, db.digest);
    let mut tags = repo.tags().await.unwrap();
    tags.sort();
    assert_eq!(tags, vec!["v1", "v2"]);
    let many = repo.resolve(None).await.unwrap_err();
    assert!(many.to_string().contains("holds 2 images"), "{many}");
    // The untagged image stays readable by digest.
    let by_digest = Reference::Digest(da.digest.clone());
    assert_eq!(
        repo.fetch_manifest(&by_digest).await.unwrap().0.digest,
        da.digest
    );

    let empty = Bytes::from_static(b"{}");
    let cfg = repo
        .push_blob_bytes("application/vnd.oci.empty.v1+json", empty)
        .await
        .unwrap();
    let sig = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.sig",
        "config": cfg,
        "layers": [],
        "subject": {"mediaType": da.media_type, "digest": da.digest, "size": da.size},
    });
    let bytes = Bytes::from(serde_json::to_vec(&sig).unwrap());
    let sd = repo
        .push_manifest("application/vnd.oci.image.manifest.v1+json", bytes, None)
        .await
        .unwrap();
    let found = repo.referrers(&da.digest, None).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digest, sd.digest);
    assert_eq!(
        found[0].artifact_type.as_deref(),
        Some("application/vnd.example.sig")
    );
    assert!(repo.referrers(&db.digest, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn damaged_layout_blobs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let img = TestImage::new().layer(&[TarEntry::file("x", vec![5u8; 10_000])]);
    let top = img.write_layout(dir.path(), "v1").await;
    let (_, blobs) = img.manifest();
    let layer = &blobs[1];
    let path = dir.path().join("blobs/sha256").join(layer.digest.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[600] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let repo = open(&format!("oci:{}", dir.path().display()));
    let err = repo.fetch_blob_bytes(layer, 1 << 20).await.unwrap_err();
    assert!(err.to_string().contains("failed verification"), "{err}");

    // A damaged manifest is refused as a digest mismatch.
    let mpath = dir.path().join("blobs/sha256").join(top.digest.hex());
    let mut m = std::fs::read(&mpath).unwrap();
    m[10] = b' ';
    std::fs::write(&mpath, &m).unwrap();
    let err = repo
        .fetch_manifest(&Reference::parse("v1").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::DigestMismatch { .. }), "{err}");

    let missing = open("oci:/nonexistent/zoll-layout:v1");
    let err = missing.resolve(None).await.unwrap_err();
    assert!(err.to_string().contains("not an OCI image layout"), "{err}");
}
