use serde_json::json;
use zoll_oci::Digest;

use crate::harness::{OCI_MANIFEST, TestRegistry, image_manifest};

#[tokio::test]
async fn tags_list_paginates_with_link() {
    let reg = TestRegistry::new().await;
    for tag in ["c", "a", "b", "d"] {
        reg.push_image("r", tag, b"same").await;
    }
    // (query, tags, Link)
    let cases: &[(&str, &[&str], Option<&str>)] = &[
        ("", &["a", "b", "c", "d"], None),
        (
            "?n=2",
            &["a", "b"],
            Some("</v2/r/tags/list?n=2&last=b>; rel=\"next\""),
        ),
        ("?n=2&last=b", &["c", "d"], None),
        ("?last=c", &["d"], None),
        ("?n=0", &[], None),
    ];
    for (q, tags, link) in cases {
        let r = reg.get(&format!("/v2/r/tags/list{q}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({"name": "r", "tags": tags}), "{q}");
        assert_eq!(
            r.headers.get("link").map(|v| v.to_str().unwrap()),
            *link,
            "{q}"
        );
    }
    let r = reg.get("/v2/nope/tags/list").await;
    assert_eq!((r.status, r.code().as_str()), (404, "NAME_UNKNOWN"));
}

#[tokio::test]
async fn catalog_paginates() {
    let reg = TestRegistry::new().await;
    for repo in ["b/x", "a", "c"] {
        reg.push_image(repo, "t", b"l").await;
    }
    reg.push_blob("only-blobs", b"x").await;
    let r = reg.get("/v2/_catalog").await;
    assert_eq!(r.json(), json!({"repositories": ["a", "b/x", "c"]}));
    let r = reg.get("/v2/_catalog?n=1&last=a").await;
    assert_eq!(r.json(), json!({"repositories": ["b/x"]}));
    assert_eq!(
        r.header("link"),
        "</v2/_catalog?n=1&last=b/x>; rel=\"next\""
    );
}

#[tokio::test]
async fn referrers_with_artifact_type_filter() {
    let reg = TestRegistry::new().await;
    let (subject, size) = reg.push_image("r", "v1", b"base").await;
    let empty = reg.push_blob("r", b"{}").await;
    let subject_desc = json!({"mediaType": OCI_MANIFEST, "digest": subject, "size": size});
    let mut pushed = Vec::new();
    for (artifact_type, note) in [
        ("application/vnd.example.sbom", "a"),
        ("application/vnd.example.sig", "b"),
    ] {
        let mut m = image_manifest(&empty, 2, &[], Some(subject_desc.clone()));
        m["artifactType"] = json!(artifact_type);
        m["config"]["mediaType"] = json!("application/vnd.oci.empty.v1+json");
        m["annotations"] = json!({"note": note});
        let bytes = serde_json::to_vec(&m).unwrap();
        let d = Digest::sha256(&bytes);
        assert_eq!(
            reg.put_manifest("r", d.as_str(), OCI_MANIFEST, &m)
                .await
                .status,
            201
        );
        pushed.push((d, bytes.len(), artifact_type, note));
    }
    let r = reg.get(&format!("/v2/r/referrers/{subject}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        "application/vnd.oci.image.index.v1+json"
    );
    assert!(r.headers.get("oci-filters-applied").is_none());
    // Listed in digest order (the order pages follow).
    let mut expect: Vec<_> = pushed
        .iter()
        .map(|(d, n, t, note)| json!({"mediaType": OCI_MANIFEST, "digest": d, "size": n, "artifactType": t, "annotations": {"note": note}}))
        .collect();
    expect.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
    assert_eq!(r.json()["manifests"], json!(expect));

    let r = reg
        .get(&format!(
            "/v2/r/referrers/{subject}?artifactType=application/vnd.example.sig"
        ))
        .await;
    assert_eq!(r.header("oci-filters-applied"), "artifactType");
    let sig: Vec<_> = expect
        .iter()
        .filter(|e| e["artifactType"] == "application/vnd.example.sig")
        .cloned()
        .collect();
    assert_eq!(r.json()["manifests"], json!(sig));

    // Pages of one, linked: together they are the whole list.
    let mut seen = Vec::new();
    let mut next = Some(format!("/v2/r/referrers/{subject}?n=1"));
    while let Some(url) = next.take() {
        let r = reg.get(&url).await;
        assert_eq!(r.status, 200);
        seen.extend(r.json()["manifests"].as_array().unwrap().clone());
        next = r.headers.get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_owned()
        });
        assert!(seen.len() <= expect.len());
    }
    assert_eq!(json!(seen), json!(expect));

    // Unknown subject: an empty index, not an error. Bad digest: DIGEST_INVALID.
    let r = reg
        .get(&format!("/v2/r/referrers/{}", Digest::sha256(b"none")))
        .await;
    assert_eq!((r.status, r.json()["manifests"].clone()), (200, json!([])));
    let r = reg.get("/v2/r/referrers/sha256:nope").await;
    assert_eq!((r.status, r.code().as_str()), (400, "DIGEST_INVALID"));
}
