//! The console's artifact page and its "why is this blocked?" page over the real Router: a
//! real image scanned by the registry's scanner, a cosign bundle signature made by
//! `zoll_trust` over a real listener, the pull gate's engine; markup in annotations and
//! signed claims shown as text; unreadable scan results shown as an error; a user without
//! pull refused as the APIs refuse.

use std::collections::BTreeMap;

use axum::body::Body;
use serde_json::{Value, json};
use zoll_oci::Digest;
use zoll_testkit::TarEntry;
use zoll_trust::image::{SignOptions, SignatureFormat};
use zoll_trust::keys::{KeyKind, KeySource, generate_key};

use crate::gov::{ADMIN, api, project_with_member, push_as_admin, registry};
use crate::harness::{OCI_MANIFEST, Resp, TestRegistry};
use crate::scanning::{
    STATUS, advisory, debian_image, drain, gated_scanning_registry, set_column, write_db,
};

const POLICY: &str = r#"
version = 1
[identities.ci]
keys = ["keys/ci.pub"]
[identities.staging]
keys = ["keys/staging.pub"]
[stages.ci]
identities = ["ci"]
[stages.staging]
identities = ["staging"]
[[policy]]
name = "production"
repositories = ["team/**"]
gates = ["pull"]
stages = ["ci", "staging"]
"#;

const XSS: &str = "<script>alert(1)</script>";

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The page at `path` (authentication off), which must be shown.
async fn shown(reg: &TestRegistry, path: &str) -> String {
    let r = page(reg, path, None).await;
    assert_eq!(r.status, 200, "{path}: {}", text(&r));
    text(&r)
}

async fn page(reg: &TestRegistry, path: &str, cookie: Option<&str>) -> Resp {
    let mut h = vec![("host", "localhost")];
    if let Some(c) = cookie {
        h.push(("cookie", c));
    }
    reg.call("GET", path, &h, Body::empty()).await
}

/// New `ci` and `staging` keys with their public halves in `dir/keys/` (as [`POLICY`]
/// names them); returns them.
fn write_keys(dir: &std::path::Path) -> (zoll_trust::keys::FileKey, zoll_trust::keys::FileKey) {
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let ci = generate_key(KeyKind::EcP256).unwrap().key;
    let staging = generate_key(KeyKind::EcP256).unwrap().key;
    for (name, key) in [("ci", &ci), ("staging", &staging)] {
        std::fs::write(
            dir.join(format!("keys/{name}.pub")),
            key.public_key().to_pem(),
        )
        .unwrap();
    }
    (ci, staging)
}

/// A scanning registry (authentication off) whose pull gate runs [`POLICY`], with the
/// Debian test image pushed as `team/app:v1` (an annotation holding markup), scanned, and
/// signed by the `ci` key with a bundle claiming `stage=ci` and a note holding markup.
async fn signed_and_scanned() -> (TestRegistry, Digest, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let (ci, staging) = write_keys(tmp.path());
    let db = write_db(
        tmp.path(),
        &[
            advisory(
                "DEBIAN-CVE-2099-1111",
                "CVE-2099-1111",
                "zlib",
                "1:1.2.13.dfsg-2",
            ),
            advisory("DEBIAN-CVE-2099-3333", "CVE-2099-3333", "base-files", "13"),
        ],
    );
    // The second finding is allowlisted, with markup in its reason.
    let allow = tmp.path().join("suppressions/team");
    std::fs::create_dir_all(&allow).unwrap();
    std::fs::write(
        allow.join("allow.toml"),
        format!(
            "[[allow]]\nid = \"CVE-2099-3333\"\nreason = \"{XSS} not reachable\"\n\
             author = \"sec@example.com\"\nexpires = \"2099-01-01\"\n"
        ),
    )
    .unwrap();
    let policy = zoll_policy::PolicySet::parse(POLICY, tmp.path()).unwrap();
    let reg = gated_scanning_registry(&db, Some(&tmp.path().join("suppressions")), policy).await;

    // The test image, with a package whose name is markup in its package database.
    let img = debian_image().layer(&[TarEntry::file(
        "var/lib/dpkg/status",
        format!(
            "{STATUS}\nPackage: {XSS}\nStatus: install ok installed\nArchitecture: amd64\n\
             Version: 1.0\n"
        ),
    )]);
    reg.push_blob("team/app", &serde_json::to_vec(&img.config).unwrap())
        .await;
    for l in &img.layers {
        reg.push_blob("team/app", &l.bytes).await;
    }
    let (manifest, _) = img.manifest();
    let mut m: Value = serde_json::from_slice(&manifest).unwrap();
    m["annotations"] = json!({ "org.opencontainers.image.description": XSS });
    let r = reg.put_manifest("team/app", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let d = Digest::sha256(&serde_json::to_vec(&m).unwrap());
    assert_eq!(drain(&reg).await, 1);

    let addr = reg.listen().await;
    let image: zoll_client::ImageRef = format!("{addr}/team/app").parse().unwrap();
    let repo =
        zoll_client::Repository::open(&image, &zoll_client::ClientConfig::default()).unwrap();
    let claims: BTreeMap<String, String> = [("stage", "ci"), ("note", XSS)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let opts = SignOptions {
        key: &ci as &dyn KeySource,
        format: SignatureFormat::CosignBundle,
        chain: Vec::new(),
        expiry: None,
        claims,
        docker_reference: "team/app".into(),
    };
    // The subject as pushed (resolving it would be a pull, which the gate refuses).
    let subject = zoll_oci::Descriptor {
        media_type: OCI_MANIFEST.into(),
        digest: d.clone(),
        size: serde_json::to_vec(&m).unwrap().len() as u64,
        artifact_type: None,
        annotations: None,
        urls: None,
    };
    let agent = zoll_trust::image::signing_agent();
    zoll_trust::image::sign_subject(&repo, subject.clone(), &opts, &agent)
        .await
        .unwrap();
    // The staging key claims the ci stage, which does not accept it: it counts for nothing.
    let wrong_stage = SignOptions {
        key: &staging as &dyn KeySource,
        format: SignatureFormat::CosignBundle,
        chain: Vec::new(),
        expiry: None,
        claims: [("stage".to_owned(), "ci".to_owned())].into(),
        docker_reference: "team/app".into(),
    };
    zoll_trust::image::sign_subject(&repo, subject.clone(), &wrong_stage, &agent)
        .await
        .unwrap();
    // A key the policy does not list claims the missing stage: it counts for nothing.
    let intruder = generate_key(KeyKind::EcP256).unwrap().key;
    let opts = SignOptions {
        key: &intruder as &dyn KeySource,
        claims: [("stage".to_owned(), "staging".to_owned())].into(),
        ..opts
    };
    zoll_trust::image::sign_subject(&repo, subject, &opts, &agent)
        .await
        .unwrap();
    (reg, d, tmp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_artifact_page_shows_tags_referrers_signatures_and_the_scan() {
    let (reg, d, _tmp) = signed_and_scanned().await;
    let html = shown(&reg, &format!("/ui/repositories/team/app/artifacts/{d}")).await;
    for expected in [
        d.as_str(),
        OCI_MANIFEST,
        "<code class=\"tag\">v1</code>",
        // The referrers tree: the signature and the scanner's reports.
        "sigstore bundle (signature or attestation)",
        "SBOM (CycloneDX)",
        "vulnerability report",
        // The signature, verified by the gate's engine: format, signer, claims.
        "sigstore bundle v0.3",
        "accepted",
        "<code>stage=ci</code>",
        // Which stage each signature counts for.
        "stage <strong>ci</strong>",
        "nothing: stage ci does not accept this signer",
        // The intruder's signature, and why it did not count.
        "not counted",
        "authenticity: no trusted key made this signature",
        // The scan: the finding with its severity in words and the fixed version.
        "CVE-2099-1111",
        "<td>CRITICAL</td>",
        "zlib1g",
        "1:1.2.13.dfsg-1",
        "1:1.2.13.dfsg-2",
        "Lint findings",
        // The allowlisted finding: by whom, why (as text) and until when.
        "CVE-2099-3333",
        "by allowlist: &lt;script&gt;alert(1)&lt;/script&gt; not reachable (sec@example.com), until 2099-01-01",
        // The SBOM's packages.
        "Packages in the SBOM (",
        "<th scope=\"row\">base-files</th>",
        // The way to the explanation.
        &format!("/ui/repositories/team/app/artifacts/{d}/explain"),
    ] {
        assert!(html.contains(expected), "{expected} missing from\n{html}");
    }
    // Markup in an annotation and in a signed claim is text.
    assert!(!html.contains(XSS), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("note=&lt;script&gt;"), "{html}");
    assert!(
        html.contains("<th scope=\"row\">&lt;script&gt;alert(1)&lt;/script&gt;</th>"),
        "{html}"
    );
    // The package filter (a link like every view), by name.
    let filtered = shown(
        &reg,
        &format!("/ui/repositories/team/app/artifacts/{d}?q=ZLIB"),
    )
    .await;
    assert!(filtered.contains("(1 matching)"), "{filtered}");
    assert!(
        filtered.contains("<th scope=\"row\">zlib1g</th>"),
        "{filtered}"
    );
    assert!(
        !filtered.contains("<th scope=\"row\">base-files</th>"),
        "{filtered}"
    );

    // The tags list links to it and counts what it shows.
    let list = text(&page(&reg, "/ui/repositories/team/app", None).await);
    assert!(
        list.contains(&format!("href=\"/ui/repositories/team/app/artifacts/{d}\"")),
        "{list}"
    );
    assert!(list.contains("CRITICAL 1 (1 suppressed)"), "{list}");
    // Three signature referrers (the ci key's, the staging key's and the intruder's).
    assert!(list.contains("<td class=\"num\">3</td>"), "{list}");

    // Both pages carry the console's headers and no inline code (the CSP forbids it).
    for path in [
        format!("/ui/repositories/team/app/artifacts/{d}"),
        format!("/ui/repositories/team/app/artifacts/{d}/explain"),
        "/ui/repositories/team/app".to_owned(),
    ] {
        let r = page(&reg, &path, None).await;
        assert_eq!(
            r.header("content-security-policy"),
            crate::ui::CSP,
            "{path}"
        );
        assert_eq!(r.header("cache-control"), "no-store", "{path}");
        assert_eq!(
            crate::ui::inline_code(&text(&r)),
            Vec::<String>::new(),
            "{path}"
        );
    }

    // A digest the repository does not hold, and one that is not a digest.
    let missing = Digest::sha256(b"nothing");
    let r = page(
        &reg,
        &format!("/ui/repositories/team/app/artifacts/{missing}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = page(&reg, "/ui/repositories/team/app/artifacts/sha256:xyz", None).await;
    assert_eq!(r.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explanation_names_the_missing_stage_as_the_gate_refuses() {
    let (reg, d, _tmp) = signed_and_scanned().await;
    // The gate itself refuses the pull, naming the stage.
    let pull = reg.get(&format!("/v2/team/app/manifests/{d}")).await;
    assert_eq!(pull.status, 403);
    assert!(text(&pull).contains("staging"), "{}", text(&pull));

    let html = shown(
        &reg,
        &format!("/ui/repositories/team/app/artifacts/{d}/explain"),
    )
    .await;
    assert!(html.contains("<strong>DENIED</strong>"), "{html}");
    // Every check, the passed ci stage and the failed staging stage.
    assert!(html.contains("<th scope=\"row\">PASS</th>"), "{html}");
    assert!(html.contains("<th scope=\"row\">FAIL</th>"), "{html}");
    // What would make it pass: the missing stage's signature.
    assert!(
        html.contains("a signature claiming stage=staging by an identity the stage"),
        "{html}"
    );
    assert!(html.contains("zoll sign --stage staging"), "{html}");
    assert!(!html.contains("--stage ci)"), "{html}");
    // The CLI's text, as `zoll policy explain` prints it.
    assert!(html.contains("DENIED "), "{html}");
    assert!(html.contains("  FAIL [production]"), "{html}");

    // A signature artifact is not gated.
    let refs = reg.get(&format!("/v2/team/app/referrers/{d}")).await.json();
    let sig = refs["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["artifactType"] == zoll_trust::cosign::bundle::MEDIA_TYPE)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = page(
        &reg,
        &format!("/ui/repositories/team/app/artifacts/{sig}/explain"),
        None,
    )
    .await;
    assert!(text(&r).contains("Not gated"), "{}", text(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_scan_results_are_an_error_not_a_clean_scan() {
    let (reg, d, _tmp) = signed_and_scanned().await;
    // An SBOM the store does not hold: an error, not an empty package list.
    let gone = Digest::sha256(b"no such SBOM");
    set_column(&reg, "sbom_digest", Some(gone.as_str()), &d).await;
    let html = shown(&reg, &format!("/ui/repositories/team/app/artifacts/{d}")).await;
    assert!(
        html.contains("the SBOM of this scan cannot be read"),
        "{html}"
    );
    assert!(!html.contains("Packages in the SBOM"), "{html}");
    set_column(&reg, "findings", Some("{\"not\": \"a list\"}"), &d).await;
    let html = text(
        &page(
            &reg,
            &format!("/ui/repositories/team/app/artifacts/{d}"),
            None,
        )
        .await,
    );
    assert!(html.contains("The scan results cannot be read"), "{html}");
    assert!(!html.contains("No vulnerabilities found"), "{html}");
    assert!(!html.contains("CVE-2099-1111"), "{html}");
    // The list shows the summary row, so it is not affected; a broken summary is.
    set_column(&reg, "summary", Some("garbage"), &d).await;
    let list = text(&page(&reg, "/ui/repositories/team/app", None).await);
    assert!(list.contains("unreadable"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_pull_is_refused_the_artifact_pages_as_the_apis_refuse() {
    let reg = registry().await;
    project_with_member(&reg, "open", "alice", "alice-password", "guest").await;
    crate::gov::admin_api(&reg, "POST", "/projects", Some(json!({"name": "secret"}))).await;
    let (open_digest, _) = push_as_admin(&reg, "open/app", "v1", b"layer-1").await;
    let (secret_digest, _) = push_as_admin(&reg, "secret/app", "v1", b"layer-2").await;
    let alice = ("alice", "alice-password");
    let login = reg
        .call(
            "POST",
            "/ui/login",
            &[
                ("host", "zoll.test"),
                ("origin", "https://zoll.test"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            "username=alice&password=alice-password",
        )
        .await;
    assert_eq!(login.status, 303);
    let cookie = login
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    for suffix in ["", "/explain"] {
        let ui = page(
            &reg,
            &format!("/ui/repositories/secret/app/artifacts/{secret_digest}{suffix}"),
            Some(&cookie),
        )
        .await;
        let scans = api(
            &reg,
            "GET",
            &format!("/scans?repository=secret/app&digest={secret_digest}"),
            alice,
            None,
        )
        .await;
        let v2 = reg
            .get_as(&format!("/v2/secret/app/manifests/{secret_digest}"), alice)
            .await;
        assert_eq!(
            (ui.status, scans.status, v2.status),
            (403, 403, 403),
            "{suffix}"
        );
        assert!(!text(&ui).contains("layer"), "{}", text(&ui));
    }
    // Where she may pull, she sees it; without a trust policy the explanation says so.
    let ok = page(
        &reg,
        &format!("/ui/repositories/open/app/artifacts/{open_digest}"),
        Some(&cookie),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", text(&ok));
    assert!(text(&ok).contains("No trust policy is configured"));
    let why = page(
        &reg,
        &format!("/ui/repositories/open/app/artifacts/{open_digest}/explain"),
        Some(&cookie),
    )
    .await;
    assert!(text(&why).contains("the pull gate lets every artifact through"));
    // Not logged in: the login page, as every console page.
    let anon = page(
        &reg,
        &format!("/ui/repositories/open/app/artifacts/{open_digest}"),
        None,
    )
    .await;
    assert_eq!(anon.status, 303);
    let _ = ADMIN;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_lists_its_platforms_with_links_to_each_child() {
    let reg = TestRegistry::new().await;
    let (amd, amd_size) = reg.push_image("team/multi", "amd64", b"amd64 layer").await;
    let (arm, arm_size) = reg.push_image("team/multi", "arm64", b"arm64 layer").await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": crate::harness::OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": amd, "size": amd_size,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": OCI_MANIFEST, "digest": arm, "size": arm_size,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ],
    });
    let r = reg
        .put_manifest("team/multi", "v1", crate::harness::OCI_INDEX, &index)
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let d = Digest::sha256(&serde_json::to_vec(&index).unwrap());
    let html = shown(&reg, &format!("/ui/repositories/team/multi/artifacts/{d}")).await;
    for expected in [
        "Manifests of this index".to_owned(),
        "<th scope=\"row\">linux/amd64</th>".to_owned(),
        "<th scope=\"row\">linux/arm64/v8</th>".to_owned(),
        format!("href=\"/ui/repositories/team/multi/artifacts/{amd}\""),
        format!("href=\"/ui/repositories/team/multi/artifacts/{arm}\""),
    ] {
        assert!(html.contains(&expected), "{expected} missing from\n{html}");
    }
    // The list says it is an index (its children have the layers).
    let list = text(&page(&reg, "/ui/repositories/team/multi", None).await);
    assert!(list.contains("<td class=\"num\">index</td>"), "{list}");
}

/// More signature referrers than the gate judges: the page says the signatures cannot be
/// read and counts none (never "no signatures"), and the explanation is a refusal naming
/// the bound, as the gate's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_over_the_gates_bounds_are_an_error_not_none() {
    let tmp = tempfile::tempdir().unwrap();
    write_keys(tmp.path());
    let db = write_db(tmp.path(), &[]);
    let policy = zoll_policy::PolicySet::parse(POLICY, tmp.path()).unwrap();
    let reg = gated_scanning_registry(&db, None, policy).await;
    let (d, size) = reg.push_image("team/app", "v1", b"the layer").await;
    let empty = reg.push_blob("team/app", b"{}").await;
    let envelope = reg
        .push_blob("team/app", b"{\"not\":\"an envelope\"}")
        .await;
    let n = zoll_trust::signatures::MAX_REFERRERS + 1;
    for i in 0..n {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": zoll_trust::notation::ARTIFACT_TYPE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": zoll_trust::notation::MEDIA_TYPE_JWS, "digest": envelope,
                        "size": 21}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d, "size": size},
            "annotations": {"n": i.to_string()},
        });
        let digest = Digest::sha256(&serde_json::to_vec(&m).unwrap());
        let r = reg
            .put_manifest("team/app", digest.as_str(), OCI_MANIFEST, &m)
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let html = text(
        &page(
            &reg,
            &format!("/ui/repositories/team/app/artifacts/{d}"),
            None,
        )
        .await,
    );
    assert!(
        html.contains("The signatures cannot be read, so none is counted"),
        "{html}"
    );
    assert!(html.contains("more than 256 referrers"), "{html}");
    assert!(!html.contains("No signatures."), "{html}");
    let why = text(
        &page(
            &reg,
            &format!("/ui/repositories/team/app/artifacts/{d}/explain"),
            None,
        )
        .await,
    );
    assert!(why.contains("<strong>DENIED</strong>"), "{why}");
    assert!(why.contains("more than 256 referrers"), "{why}");
}
