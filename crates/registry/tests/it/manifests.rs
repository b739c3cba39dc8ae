use serde_json::json;
use zoll_oci::Digest;

use crate::harness::{OCI_INDEX, OCI_MANIFEST, TestRegistry, image_manifest};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[tokio::test]
async fn push_by_tag_then_get_head_by_tag_and_digest() {
    let reg = TestRegistry::new().await;
    let (d, size) = reg.push_image("app", "v1", b"layer").await;
    for reference in ["v1".to_owned(), d.to_string()] {
        let path = format!("/v2/app/manifests/{reference}");
        let get = reg
            .call("GET", &path, &[("accept", OCI_MANIFEST)], vec![])
            .await;
        assert_eq!(get.status, 200);
        assert_eq!(get.header("content-type"), OCI_MANIFEST);
        assert_eq!(get.header("docker-content-digest"), d.as_str());
        assert_eq!(get.body.len(), size);
        assert_eq!(Digest::sha256(&get.body), d);
        let head = reg.call("HEAD", &path, &[], vec![]).await;
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-length"), size.to_string());
        assert!(head.body.is_empty());
    }
    // A client that only reads Docker manifests is not handed an OCI one.
    let r = reg
        .call(
            "GET",
            "/v2/app/manifests/v1",
            &[("accept", DOCKER_MANIFEST)],
            vec![],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "MANIFEST_UNKNOWN"));
}

#[tokio::test]
async fn manifest_push_errors() {
    let reg = TestRegistry::with(|_, l| l.max_manifest_bytes = 2048).await;
    let c = reg.push_blob("r", b"{}").await;
    let missing = Digest::sha256(b"missing layer");
    let valid = image_manifest(&c, 2, &[], None);
    let valid_bytes = serde_json::to_vec(&valid).unwrap();
    let wrong_digest = Digest::sha256(b"something else");
    let mut wrong_size = valid.clone();
    wrong_size["config"]["size"] = json!(3);
    let mut huge = valid.clone();
    huge["annotations"] = json!({ "pad": "x".repeat(4096) });
    // (reference, content type, body, status, code)
    let cases: Vec<(String, &str, Vec<u8>, u16, &str)> = vec![
        ("t".into(), OCI_MANIFEST, b"{not json".to_vec(), 400, "MANIFEST_INVALID"),
        ("t".into(), OCI_MANIFEST, br#"{"schemaVersion":1}"#.to_vec(), 400, "MANIFEST_INVALID"),
        ("t".into(), DOCKER_MANIFEST, valid_bytes.clone(), 400, "MANIFEST_INVALID"),
        ("t".into(), OCI_MANIFEST, serde_json::to_vec(&image_manifest(&c, 2, &[(&missing, 5)], None)).unwrap(), 400, "MANIFEST_BLOB_UNKNOWN"),
        ("t".into(), OCI_MANIFEST, serde_json::to_vec(&wrong_size).unwrap(), 400, "MANIFEST_INVALID"),
        (wrong_digest.to_string(), OCI_MANIFEST, valid_bytes.clone(), 400, "DIGEST_INVALID"),
        ("t".into(), OCI_MANIFEST, serde_json::to_vec(&huge).unwrap(), 413, "SIZE_INVALID"),
        ("bad$tag".into(), OCI_MANIFEST, valid_bytes.clone(), 400, "MANIFEST_INVALID"),
        ("t".into(), OCI_INDEX, serde_json::to_vec(&json!({"schemaVersion":2,"mediaType":OCI_INDEX,"manifests":[{"mediaType":OCI_MANIFEST,"digest":missing,"size":5}]})).unwrap(), 400, "MANIFEST_BLOB_UNKNOWN"),
    ];
    for (reference, ct, body, status, code) in cases {
        let r = reg
            .call(
                "PUT",
                &format!("/v2/r/manifests/{reference}"),
                &[("content-type", ct)],
                body,
            )
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{reference} {ct}"
        );
    }
    // None of the refused pushes left a tag behind.
    let r = reg.get("/v2/r/manifests/t").await;
    assert_eq!((r.status, r.code().as_str()), (404, "MANIFEST_UNKNOWN"));
}

#[tokio::test]
async fn docker_schema2_and_manifest_list() {
    let reg = TestRegistry::new().await;
    let c = reg.push_blob("d", b"{\"os\":\"linux\"}").await;
    let l = reg.push_blob("d", b"layer").await;
    let m = json!({
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": c, "size": 14},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": l, "size": 5},
                   {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                    "digest": Digest::sha256(b"foreign"), "size": 7, "urls": ["https://example.invalid/x"]}],
    });
    let r = reg.put_manifest("d", "amd64", DOCKER_MANIFEST, &m).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let md = r.header("docker-content-digest").to_owned();
    let list = json!({
        "schemaVersion": 2, "mediaType": DOCKER_LIST,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": md, "size": serde_json::to_vec(&m).unwrap().len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    });
    let r = reg.put_manifest("d", "latest", DOCKER_LIST, &list).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let get = reg
        .call(
            "GET",
            "/v2/d/manifests/latest",
            &[("accept", DOCKER_LIST)],
            vec![],
        )
        .await;
    assert_eq!((get.status, get.header("content-type")), (200, DOCKER_LIST));
}

#[tokio::test]
async fn subject_is_answered_and_need_not_exist() {
    let reg = TestRegistry::new().await;
    let c = reg.push_blob("r", b"{}").await;
    let absent = Digest::sha256(b"not pushed yet");
    let subject = json!({"mediaType": OCI_MANIFEST, "digest": absent, "size": 14});
    let m = image_manifest(&c, 2, &[], Some(subject));
    let bytes = serde_json::to_vec(&m).unwrap();
    let d = Digest::sha256(&bytes);
    let r = reg.put_manifest("r", d.as_str(), OCI_MANIFEST, &m).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.header("oci-subject"), absent.as_str());
    assert_eq!(r.header("location"), format!("/v2/r/manifests/{d}"));
}

#[tokio::test]
async fn delete_tag_then_manifest() {
    let reg = TestRegistry::new().await;
    let (d, _) = reg.push_image("r", "v1", b"l").await;
    let r = reg
        .call(
            "PUT",
            &format!("/v2/r/manifests/{d}?tag=v2&tag=v3"),
            &[("content-type", OCI_MANIFEST)],
            reg.get(&format!("/v2/r/manifests/{d}")).await.body,
        )
        .await;
    assert_eq!((r.status, r.header("oci-tag")), (201, "v2, v3"));

    assert_eq!(
        reg.call("DELETE", "/v2/r/manifests/v1", &[], vec![])
            .await
            .status,
        202
    );
    assert_eq!(reg.get("/v2/r/manifests/v1").await.status, 404);
    assert_eq!(reg.get(&format!("/v2/r/manifests/{d}")).await.status, 200);
    assert_eq!(reg.get("/v2/r/manifests/v2").await.status, 200);

    assert_eq!(
        reg.call("DELETE", &format!("/v2/r/manifests/{d}"), &[], vec![])
            .await
            .status,
        202
    );
    for reference in [d.to_string(), "v2".into(), "v3".into()] {
        let r = reg.get(&format!("/v2/r/manifests/{reference}")).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (404, "MANIFEST_UNKNOWN"),
            "{reference}"
        );
    }
    let r = reg
        .call("DELETE", &format!("/v2/r/manifests/{d}"), &[], vec![])
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "MANIFEST_UNKNOWN"));
}

#[tokio::test]
async fn manifests_survive_a_restart_and_tags_move() {
    let reg = TestRegistry::new().await;
    let (d1, _) = reg.push_image("r", "latest", b"one").await;
    assert_eq!(
        reg.get("/v2/r/manifests/latest")
            .await
            .header("docker-content-digest"),
        d1.as_str()
    );
    let (d2, _) = reg.push_image("r", "latest", b"two").await;
    // The cached tag must follow the move at once.
    assert_eq!(
        reg.get("/v2/r/manifests/latest")
            .await
            .header("docker-content-digest"),
        d2.as_str()
    );
    let reg = reg.restart().await;
    assert_eq!(
        reg.get("/v2/r/manifests/latest")
            .await
            .header("docker-content-digest"),
        d2.as_str()
    );
    assert_eq!(reg.get(&format!("/v2/r/manifests/{d1}")).await.status, 200);
}
