//! Project policies: immutable tags (signatures still addable), quotas (exact after delete
//! and garbage collection), retention (dry run vs real run).

use std::time::Duration;

use serde_json::json;
use zoll_store::GcOptions;

use super::{ADMIN, admin_api, basic, push_as_admin, registry};
use crate::harness::{OCI_MANIFEST, TestRegistry, image_manifest};

async fn put(
    reg: &TestRegistry,
    repo: &str,
    reference: &str,
    body: &serde_json::Value,
) -> crate::harness::Resp {
    let auth = basic(ADMIN.0, ADMIN.1);
    reg.call(
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("authorization", &auth), ("content-type", OCI_MANIFEST)],
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

async fn blob(reg: &TestRegistry, repo: &str, content: &[u8]) -> crate::harness::Resp {
    let auth = basic(ADMIN.0, ADMIN.1);
    let d = zoll_oci::Digest::sha256(content);
    reg.call(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[
            ("authorization", &auth),
            ("content-length", &content.len().to_string()),
        ],
        content.to_vec(),
    )
    .await
}

/// A signature-like artifact (cosign's shape: config + one layer) whose subject is `subject`.
async fn signature_manifest(
    reg: &TestRegistry,
    repo: &str,
    subject: &str,
    n: u8,
) -> serde_json::Value {
    let payload = format!("signature {n}");
    assert_eq!(blob(reg, repo, payload.as_bytes()).await.status, 201);
    assert_eq!(blob(reg, repo, b"{}").await.status, 201);
    let mut m = image_manifest(
        &zoll_oci::Digest::sha256(b"{}"),
        2,
        &[(&zoll_oci::Digest::sha256(payload.as_bytes()), payload.len())],
        Some(json!({"mediaType": OCI_MANIFEST, "digest": subject, "size": 1})),
    );
    m["artifactType"] = json!("application/vnd.dev.cosign.artifact.sig.v1+json");
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_tags_refuse_moves_and_deletes_but_take_signatures() {
    let reg = registry().await;
    admin_api(&reg, "POST", "/projects", Some(json!({"name": "rel"}))).await;
    admin_api(
        &reg,
        "PUT",
        "/projects/rel/immutable",
        Some(json!([{"tags": "v*"}])),
    )
    .await;
    let (d1, _) = push_as_admin(&reg, "rel/app", "v1", b"one").await;
    // Re-pushing the same manifest under the tag is fine.
    push_as_admin(&reg, "rel/app", "v1", b"one").await;
    // Moving it is not, by tag or by ?tag=.
    let (_, l2) = push_as_admin(&reg, "rel/app", "latest", b"two").await;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let other = image_manifest(
        &zoll_oci::Digest::sha256(config),
        config.len(),
        &[(&l2.parse().unwrap(), 3)],
        None,
    );
    let r = put(&reg, "rel/app", "v1", &other).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "DENIED"),
        "{:?}",
        r.body
    );
    let digest2 = zoll_oci::Digest::sha256(&serde_json::to_vec(&other).unwrap());
    let r = put(&reg, "rel/app", &format!("{digest2}?tag=v1"), &other).await;
    assert_eq!(r.status, 403);
    let r = reg.get_as("/v2/rel/app/manifests/v1", ADMIN).await;
    assert_eq!(r.header("docker-content-digest"), d1);
    // Deleting the tag, or the manifest it names, is refused; a mutable tag may go.
    let auth = basic(ADMIN.0, ADMIN.1);
    for path in [
        "/v2/rel/app/manifests/v1".to_owned(),
        format!("/v2/rel/app/manifests/{d1}"),
    ] {
        let r = reg
            .call("DELETE", &path, &[("authorization", &auth)], vec![])
            .await;
        assert_eq!((r.status, r.code().as_str()), (403, "DENIED"), "{path}");
    }
    let r = reg
        .call(
            "DELETE",
            "/v2/rel/app/manifests/latest",
            &[("authorization", &auth)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
    // Signing the immutable release: a referrer by digest, and cosign's moving `.sig` tag,
    // updated by a second signature (Harbor #17332).
    let sig_tag = format!("{}.sig", d1.replacen(':', "-", 1));
    for n in 0..2 {
        let sig = signature_manifest(&reg, "rel/app", &d1, n).await;
        let r = put(&reg, "rel/app", &sig_tag, &sig).await;
        assert_eq!(r.status, 201, "signature {n}: {:?}", r.body);
    }
    let r = reg
        .get_as(&format!("/v2/rel/app/referrers/{d1}"), ADMIN)
        .await;
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_deny_pushes_over_the_limit_and_stay_exact_after_delete_and_gc() {
    let reg = registry().await;
    admin_api(&reg, "POST", "/projects", Some(json!({"name": "q"}))).await;
    let big = vec![7u8; 10_000];
    let (d1, _) = push_as_admin(&reg, "q/app", "v1", &big).await;
    let used = reg.store.usage("q").await.unwrap().bytes();
    assert!(used > 10_000 && used < 11_000, "{used}");
    // Two blobs pushed before the quota exists, no manifest referencing them yet.
    let small = vec![2u8; 4_000];
    assert_eq!(blob(&reg, "q/app", &small).await.status, 201);
    let more = vec![3u8; 4_000];
    assert_eq!(blob(&reg, "q/app", &more).await.status, 201);
    admin_api(
        &reg,
        "PUT",
        "/projects/q/quota",
        Some(json!({"max_bytes": used + 5_000, "max_artifacts": 3})),
    )
    .await;
    // Uploads count the linked blobs too (8,000 bytes over a room of 5,000): refused.
    let r = blob(&reg, "q/app", &vec![1u8; 600]).await;
    assert_eq!((r.status, r.code().as_str()), (403, "DENIED"));
    assert!(
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("quota of project q exceeded")
    );
    // A manifest pushing usage over the limit is refused, exactly.
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let cfg = zoll_oci::Digest::sha256(config);
    let two = image_manifest(
        &cfg,
        config.len(),
        &[
            (&zoll_oci::Digest::sha256(&small), 4_000),
            (&zoll_oci::Digest::sha256(&more), 4_000),
        ],
        None,
    );
    let r = put(&reg, "q/app", "v2", &two).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "DENIED"),
        "{:?}",
        r.body
    );
    assert_eq!(
        reg.store.usage("q").await.unwrap().bytes(),
        used,
        "a refused push writes nothing"
    );
    let one = image_manifest(
        &cfg,
        config.len(),
        &[(&zoll_oci::Digest::sha256(&small), 4_000)],
        None,
    );
    assert_eq!(put(&reg, "q/app", "v2", &one).await.status, 201);
    // Delete v1 and collect garbage: usage drops by exactly v1's unique bytes, and the
    // push refused before now fits.
    let auth = basic(ADMIN.0, ADMIN.1);
    let r = reg
        .call(
            "DELETE",
            &format!("/v2/q/app/manifests/{d1}"),
            &[("authorization", &auth)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
    let report = reg
        .store
        .gc(&GcOptions {
            grace: Duration::ZERO,
            dry_run: false,
            untagged: false,
        })
        .await
        .unwrap();
    assert!(report.collected.iter().any(|c| c.size == 10_000));
    let after = reg.store.usage("q").await.unwrap();
    let v2 = serde_json::to_vec(&one).unwrap().len() as u64;
    assert_eq!(after.bytes(), config.len() as u64 + 4_000 + v2);
    assert_eq!(blob(&reg, "q/app", &more).await.status, 201);
    assert_eq!(put(&reg, "q/app", "v3", &two).await.status, 201);
    let quota = admin_api(&reg, "GET", "/projects/q/quota", None).await;
    assert_eq!(
        quota["used_bytes"],
        reg.store.usage("q").await.unwrap().bytes()
    );
    // The artifact count: three manifests allowed, a fourth refused.
    let (_, _) = push_as_admin(&reg, "q/app", "v4", b"tiny").await;
    let r = put(
        &reg,
        "q/app",
        "v5",
        &image_manifest(&cfg, config.len(), &[], None),
    )
    .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_dry_run_reports_what_a_real_run_deletes() {
    let reg = registry().await;
    admin_api(&reg, "POST", "/projects", Some(json!({"name": "ret"}))).await;
    admin_api(
        &reg,
        "PUT",
        "/projects/ret/immutable",
        Some(json!([{"tags": "frozen"}])),
    )
    .await;
    let mut digests = Vec::new();
    for (i, tag) in [
        "old1",
        "old2",
        "release-1",
        "frozen",
        "signed",
        "new1",
        "new2",
    ]
    .iter()
    .enumerate()
    {
        let (d, _) = push_as_admin(&reg, "ret/app", tag, format!("layer {i}").as_bytes()).await;
        digests.push((tag.to_string(), d));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let signed = digests
        .iter()
        .find(|(t, _)| t == "signed")
        .unwrap()
        .1
        .clone();
    let sig = signature_manifest(&reg, "ret/app", &signed, 0).await;
    let sig_digest = zoll_oci::Digest::sha256(&serde_json::to_vec(&sig).unwrap());
    assert_eq!(
        put(&reg, "ret/app", sig_digest.as_str(), &sig).await.status,
        201
    );
    admin_api(
        &reg,
        "PUT",
        "/projects/ret/retention",
        Some(json!({"keep_last": 2, "keep_tags": ["release-*"]})),
    )
    .await;

    let dry = admin_api(
        &reg,
        "POST",
        "/projects/ret/retention/run?dry_run=true",
        None,
    )
    .await;
    let names = |v: &serde_json::Value| {
        let mut t: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["tags"][0].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    assert_eq!(names(&dry["deleted"]), vec!["old1", "old2"]);
    assert_eq!(
        names(&dry["kept"]),
        vec!["frozen", "new1", "new2", "release-1", "signed"]
    );
    // Nothing was deleted by the dry run.
    assert_eq!(
        reg.get_as("/v2/ret/app/manifests/old1", ADMIN).await.status,
        200
    );

    let real = admin_api(
        &reg,
        "POST",
        "/projects/ret/retention/run?dry_run=false",
        None,
    )
    .await;
    assert_eq!(names(&real["deleted"]), names(&dry["deleted"]));
    for (tag, _) in &digests {
        let status = reg
            .get_as(&format!("/v2/ret/app/manifests/{tag}"), ADMIN)
            .await
            .status;
        let expect = if tag.starts_with("old") { 404 } else { 200 };
        assert_eq!(status, expect, "{tag}");
    }
    let records = reg.store.audit_records(0, 10_000).await.unwrap();
    assert_eq!(
        records
            .iter()
            .filter(|r| r.entry.actor == "retention" && r.entry.action == "manifest.delete")
            .count(),
        2
    );
}

/// One dialect on one server: `app/*` is one level below `app` for a robot and for an
/// immutable-tag rule alike (as in trust policies), `app/**` any depth; patterns that do not
/// parse are refused when they are set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_means_one_thing_for_robots_and_rules() {
    let reg = registry().await;
    admin_api(&reg, "POST", "/projects", Some(json!({"name": "own"}))).await;
    push_as_admin(&reg, "own/app/x", "v1", b"one level").await;
    push_as_admin(&reg, "own/app/x/y", "v1", b"two levels").await;
    let mut robots = Vec::new();
    for (name, pattern) in [("one", "app/*"), ("deep", "app/**")] {
        let robot =
            json!({"name": name, "permissions": [{"repositories": pattern, "actions": ["pull"]}]});
        let r = admin_api(&reg, "POST", "/projects/own/robots", Some(robot)).await;
        robots.push((
            r["name"].as_str().unwrap().to_owned(),
            r["secret"].as_str().unwrap().to_owned(),
        ));
    }
    for (repo, one, deep) in [("own/app/x", 200, 200), ("own/app/x/y", 401, 200)] {
        for ((name, secret), want) in robots.iter().zip([one, deep]) {
            let r = reg
                .get_as(&format!("/v2/{repo}/manifests/v1"), (name, secret))
                .await;
            let got = if r.status == 403 { 401 } else { r.status };
            assert_eq!(got, want, "{name} pulling {repo}");
        }
    }

    let rules = json!([{"repositories": "app/*", "tags": "v*"}]);
    admin_api(&reg, "PUT", "/projects/own/immutable", Some(rules)).await;
    // Moving v1 to another manifest: refused one level below app, allowed two levels down.
    let auth = basic(ADMIN.0, ADMIN.1);
    for (repo, refused) in [("own/app/x", true), ("own/app/x/y", false)] {
        push_as_admin(&reg, repo, "v2", b"another image").await;
        let other = reg.get_as(&format!("/v2/{repo}/manifests/v2"), ADMIN).await;
        assert_eq!(other.status, 200);
        let r = reg
            .call(
                "PUT",
                &format!("/v2/{repo}/manifests/v1"),
                &[("authorization", &auth), ("content-type", OCI_MANIFEST)],
                other.body.to_vec(),
            )
            .await;
        if refused {
            assert_eq!(
                (r.status, r.code().as_str()),
                (403, "DENIED"),
                "v1 of {repo} moved"
            );
        } else {
            assert_eq!(
                r.status,
                201,
                "{repo}: {}",
                String::from_utf8_lossy(&r.body)
            );
        }
    }

    for (path, body) in [
        (
            "/projects/own/robots",
            json!({"name": "bad", "permissions": [{"repositories": "app/***", "actions": ["pull"]}]}),
        ),
        (
            "/projects/own/immutable",
            json!([{"repositories": "**", "tags": ""}]),
        ),
        ("/projects/own/retention", json!({"keep_tags": ["v***"]})),
    ] {
        let method = if path.ends_with("robots") {
            "POST"
        } else {
            "PUT"
        };
        let r = super::api(&reg, method, path, ADMIN, Some(body)).await;
        assert_eq!(
            r.status,
            400,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}
