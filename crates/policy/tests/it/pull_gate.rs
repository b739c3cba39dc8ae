//! The end-to-end proof of the pull gate: a real zoll with the policy on its pull path,
//! three stage keys (the staging key on a SoftHSM2 token), an image pushed; pulls by tag and
//! by digest are refused naming the missing stage after each of the first two signatures and
//! succeed after the third. Signatures by an unlisted key, and a stage claim on a signature
//! by the wrong key, change nothing. Signature artifacts stay readable; a robot holding
//! `pull-ungated` passes; skopeo (an independent client) sees the same refusals.

use std::process::Command;

use zoll_client::{ClientError, Repository};
use zoll_oci::{Descriptor, Reference, Tag};
use zoll_testkit::{TarEntry, TestImage};
use zoll_trust::cosign::simple_signing;
use zoll_trust::image::{self, SignOptions};
use zoll_trust::keys::{KeySource, open_key};

use crate::support::{
    ADMIN_PASSWORD, GatedServer, JWS, LEGACY, Signer, World, require_peer, softhsm_key,
};

const POLICY: &str = r#"
version = 1
trust_store = "truststore"
[identities.ci]
keys = ["keys/ci.pub"]
[identities.scanner]
x509 = [{ trust_store = "ca:corp", subject = "O=zoll test, OU=Scan" }]
[identities.staging]
keys = ["keys/staging.pub"]
[stages.ci]
identities = ["ci"]
[stages.scan]
identities = ["scanner"]
[stages.staging]
identities = ["staging"]
[[policy]]
name = "production"
repositories = ["prod/**"]
gates = ["pull"]
stages = ["ci", "scan", "staging"]
"#;

/// What a pull by tag, a pull by digest and a HEAD by tag say: `Ok(())` or the registry's
/// error message (all three must agree).
async fn pull(repo: &Repository, tag: &str, digest: &Descriptor) -> Result<(), String> {
    let by_tag = repo
        .fetch_manifest(&Reference::Tag(Tag::parse(tag).unwrap()))
        .await;
    let by_digest = repo
        .fetch_manifest(&Reference::Digest(digest.digest.clone()))
        .await;
    let head = repo
        .resolve(Some(&Reference::Tag(Tag::parse(tag).unwrap())))
        .await;
    let msg = |r: Result<(), ClientError>| -> Result<(), String> {
        match r {
            Ok(()) => Ok(()),
            // The gate's refusal: a 403 with its reason (the client knows it by the reason
            // header the gate sends).
            Err(ClientError::Gate { reason, .. }) => Err(reason),
            Err(e) => panic!("unexpected failure: {e}"),
        }
    };
    let a = msg(by_tag.map(|_| ()));
    let b = msg(by_digest.map(|_| ()));
    assert_eq!(a, b, "by tag and by digest must agree");
    // HEAD carries no body: only the status tells.
    assert_eq!(
        head.is_ok(),
        a.is_ok(),
        "HEAD must agree with GET: {head:?}"
    );
    a
}

/// skopeo runs on a blocking thread: the registry serves it from this test's runtime.
async fn skopeo_inspect(addr: &str, image: &str) -> (bool, String) {
    let (addr, image) = (addr.to_owned(), image.to_owned());
    tokio::task::spawn_blocking(move || skopeo_inspect_blocking(&addr, &image))
        .await
        .unwrap()
}

fn skopeo_inspect_blocking(addr: &str, image: &str) -> (bool, String) {
    let out = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            &format!("admin:{ADMIN_PASSWORD}"),
        ])
        .arg(format!("docker://{addr}/{image}"))
        .output()
        .expect("skopeo runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn sign_with(
    repo: &Repository,
    subject: &Descriptor,
    key: &dyn KeySource,
    chain: Vec<Vec<u8>>,
    format: zoll_trust::image::SignatureFormat,
    stage: &str,
) {
    let opts = SignOptions {
        key,
        format,
        chain,
        expiry: None,
        claims: [("stage".to_owned(), stage.to_owned())].into(),
        docker_reference: "prod/app".into(),
    };
    image::sign(
        repo,
        Some(&Reference::Digest(subject.digest.clone())),
        &opts,
    )
    .await
    .unwrap();
}

async fn sign(
    repo: &Repository,
    subject: &Descriptor,
    s: &Signer,
    f: image::SignatureFormat,
    stage: &str,
) {
    sign_with(repo, subject, &s.key, s.chain.clone(), f, stage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_stages_gate_pulls_until_all_signed() {
    require_peer("skopeo");
    let w = World::new().await;
    let ci = w.signer("ci", "CI");
    let scan = w.signer("scan", "Scan");
    let eve = w.signer("eve", "Eve");
    // The staging key lives on the token; the policy knows its public half only.
    let hsm = open_key(&softhsm_key("stage")).unwrap();
    std::fs::write(w.path("keys/staging.pub"), hsm.public_key().to_pem()).unwrap();
    let set = w.policy(POLICY);
    let server = GatedServer::start(set).await;
    let admin = server.repo("prod/app", "admin", ADMIN_PASSWORD);
    let img = TestImage::new()
        .layer(&[TarEntry::file("bin/app", b"release 1".to_vec())])
        .push(&admin, Some("v1"))
        .await;
    let d = img.digest.to_string();
    let missing = |stages: &[&str]| -> String {
        stages
            .iter()
            .map(|s| format!("stage '{s}' has not signed {d}"))
            .collect::<Vec<_>>()
            .join("; ")
    };

    assert_eq!(
        pull(&admin, "v1", &img).await,
        Err(missing(&["ci", "scan", "staging"]))
    );
    let (ok, err) = skopeo_inspect(&server.addr, "prod/app:v1").await;
    assert!(
        !ok && err.contains(&missing(&["ci", "scan", "staging"])),
        "{err}"
    );

    // A robot with pull-ungated on prod/* pulls unsigned builds: the pipeline, which must
    // read an image to sign it. Every signature below is made through it.
    let robot_password = "robot-secret";
    let mut robot = zoll_store::Account::user(
        "robot$prod+pipeline",
        zoll_registry::auth::password::hash(robot_password),
        false,
    );
    robot.kind = zoll_store::AccountKind::Robot;
    robot.project = Some("prod".into());
    robot.permissions = Some(
        serde_json::json!([{"repositories": "**", "actions": ["pull", "push", "pull-ungated"]}])
            .to_string(),
    );
    assert!(server.store.put_account(&robot, false).await.unwrap());
    let pipeline = server.repo("prod/app", "robot$prod+pipeline", robot_password);
    assert_eq!(pull(&pipeline, "v1", &img).await, Ok(()));

    sign(&pipeline, &img, &ci, LEGACY, "ci").await;
    assert_eq!(
        pull(&admin, "v1", &img).await,
        Err(missing(&["scan", "staging"]))
    );

    // Nothing changes for a signature by an unlisted key, or a stage claim by the wrong key.
    sign(&pipeline, &img, &eve, LEGACY, "staging").await;
    sign(&pipeline, &img, &eve, JWS, "staging").await;
    sign(&pipeline, &img, &ci, LEGACY, "staging").await;
    sign(&pipeline, &img, &scan, JWS, "staging").await;
    assert_eq!(
        pull(&admin, "v1", &img).await,
        Err(missing(&["scan", "staging"]))
    );

    sign(&pipeline, &img, &scan, JWS, "scan").await;
    assert_eq!(pull(&admin, "v1", &img).await, Err(missing(&["staging"])));
    let (ok, err) = skopeo_inspect(&server.addr, "prod/app:v1").await;
    assert!(!ok && err.contains(&missing(&["staging"])), "{err}");

    // The signatures themselves stay readable while the image is refused: the referrers and
    // the cosign .sig tag.
    let referrers = admin.referrers(&img.digest, None).await.unwrap();
    assert_eq!(
        referrers.len(),
        3,
        "three Notation signatures: {referrers:?}"
    );
    for r in &referrers {
        admin
            .fetch_manifest(&Reference::Digest(r.digest.clone()))
            .await
            .unwrap();
    }
    let sig_tag = Tag::parse(&simple_signing::signature_tag(&img.digest)).unwrap();
    admin
        .fetch_manifest(&Reference::Tag(sig_tag))
        .await
        .unwrap();

    // The third stage, signed with the key on the token.
    sign_with(&pipeline, &img, hsm.as_ref(), Vec::new(), LEGACY, "staging").await;
    assert_eq!(pull(&admin, "v1", &img).await, Ok(()));
    let (ok, err) = skopeo_inspect(&server.addr, "prod/app:v1").await;
    assert!(ok, "{err}");
    // A whole pull by an independent client.
    let out = tempfile::tempdir().unwrap();
    let (src, dst) = (
        format!("docker://{}/prod/app:v1", server.addr),
        format!("oci:{}:v1", out.path().display()),
    );
    let copy = tokio::task::spawn_blocking(move || {
        Command::new("skopeo")
            .args([
                "copy",
                "--src-tls-verify=false",
                "--src-creds",
                &format!("admin:{ADMIN_PASSWORD}"),
            ])
            .arg(src)
            .arg(dst)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        copy.status.success(),
        "{}",
        String::from_utf8_lossy(&copy.stderr)
    );

    // Repositories no policy covers are not gated.
    let dev = server.repo("dev/app", "admin", ADMIN_PASSWORD);
    let dev_img = TestImage::new()
        .layer(&[TarEntry::file("bin/app", b"dev".to_vec())])
        .push(&dev, Some("v1"))
        .await;
    assert_eq!(pull(&dev, "v1", &dev_img).await, Ok(()));
    // Every refusal was audited.
    let denied = server
        .store
        .audit_records(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.entry.outcome == "denied" && r.entry.action == "pull")
        .count();
    assert!(denied >= 10, "{denied} denied pulls audited");
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Pushes two platform images and an index of them as `tag`.
async fn push_index(repo: &Repository, tag: &str) -> (Descriptor, Vec<Descriptor>) {
    let mut children = Vec::new();
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let d = TestImage::new()
            .platform("linux", arch)
            .layer(&[TarEntry::file(
                "bin/app",
                format!("{tag} {arch}").into_bytes(),
            )])
            .push(repo, None)
            .await;
        entries.push(serde_json::json!({
            "mediaType": d.media_type, "digest": d.digest.to_string(), "size": d.size,
            "platform": {"os": "linux", "architecture": arch},
        }));
        children.push(d);
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries});
    let d = repo
        .push_manifest(INDEX, serde_json::to_vec(&index).unwrap().into(), Some(tag))
        .await
        .unwrap();
    (d, children)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_manifests_pass_through_a_satisfying_index() {
    let w = World::new().await;
    let ci = w.signer("ci", "CI");
    let scan = w.signer("scan", "Scan");
    let staging = w.signer("staging", "Staging");
    let server = GatedServer::start(w.policy(POLICY)).await;
    let admin = server.repo("prod/multi", "admin", ADMIN_PASSWORD);
    let (signed, signed_children) = push_index(&admin, "v1").await;
    let (unsigned, unsigned_children) = push_index(&admin, "v2").await;
    for (s, f, stage) in [
        (&ci, LEGACY, "ci"),
        (&scan, JWS, "scan"),
        (&staging, LEGACY, "staging"),
    ] {
        sign(&admin_ungated(&server).await, &signed, s, f, stage).await;
    }
    assert_eq!(pull(&admin, "v1", &signed).await, Ok(()));
    for child in &signed_children {
        admin
            .fetch_manifest(&Reference::Digest(child.digest.clone()))
            .await
            .unwrap();
    }
    let refused = pull(&admin, "v2", &unsigned).await.unwrap_err();
    assert!(
        refused.starts_with("stage 'ci' has not signed"),
        "{refused}"
    );
    for child in &unsigned_children {
        match admin
            .fetch_manifest(&Reference::Digest(child.digest.clone()))
            .await
        {
            Err(ClientError::Gate {
                reason: message, ..
            }) => assert_eq!(
                message,
                ["ci", "scan", "staging"]
                    .map(|s| format!("stage '{s}' has not signed {}", child.digest))
                    .join("; ")
            ),
            other => panic!("a child of an unsigned index must be refused: {other:?}"),
        }
    }
}

/// Review finding: the gate let a manifest through on the signatures of any manifest that
/// referenced its digest, configs and layers included. An image whose config blob has the
/// bytes of another, runnable manifest is not that manifest's parent: signing the image must
/// not let the other one through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_with_the_bytes_of_a_manifest_lends_it_no_signature() {
    let w = World::new().await;
    let ci = w.signer("ci", "CI");
    let scan = w.signer("scan", "Scan");
    let staging = w.signer("staging", "Staging");
    let server = GatedServer::start(w.policy(POLICY)).await;
    let admin = server.repo("prod/multi", "admin", ADMIN_PASSWORD);
    // X: a runnable image nobody signs.
    let unsigned = TestImage::new().layer(&[TarEntry::file("bin/evil", b"evil".to_vec())]);
    let x = unsigned.push(&admin, None).await;
    let (x_bytes, _) = unsigned.manifest();
    // M: an image whose config is X's bytes (so M's stored references name X's digest).
    let config = admin
        .push_blob_bytes("application/vnd.oci.image.config.v1+json", x_bytes)
        .await
        .unwrap();
    assert_eq!(config.digest, x.digest);
    // Its layer: the one of an ordinary image pushed beside it.
    let ordinary = TestImage::new().layer(&[TarEntry::file("bin/app", b"app".to_vec())]);
    ordinary.push(&admin, None).await;
    let layer = ordinary.manifest().1[1].clone();
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": zoll_testkit::OCI_MANIFEST,
        "config": config,
        "layers": [layer],
    });
    let signed = admin
        .push_manifest(
            zoll_testkit::OCI_MANIFEST,
            serde_json::to_vec(&m).unwrap().into(),
            Some("m"),
        )
        .await
        .unwrap();
    for (s, f, stage) in [
        (&ci, LEGACY, "ci"),
        (&scan, JWS, "scan"),
        (&staging, LEGACY, "staging"),
    ] {
        sign(&admin_ungated(&server).await, &signed, s, f, stage).await;
    }
    assert_eq!(pull(&admin, "m", &signed).await, Ok(()));
    match admin
        .fetch_manifest(&Reference::Digest(x.digest.clone()))
        .await
    {
        Err(ClientError::Gate {
            reason: message, ..
        }) => assert!(message.contains("has not signed"), "{message}"),
        other => panic!("X must be refused, not let through on M's signatures: {other:?}"),
    }
    // A HEAD has no body: the reason travels in a header (issue 16).
    let head = reqwest::Client::new()
        .head(format!(
            "http://{}/v2/prod/multi/manifests/{}",
            server.addr, x.digest
        ))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 403);
    let reason = head
        .headers()
        .get(zoll_registry::gate::REASON_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        reason.starts_with("stage 'ci' has not signed"),
        "{reason:?}"
    );
}

/// Scan verdicts for the race test: the image `allowed` meets the condition, anything else
/// does not; the first decision about `allowed` waits until the test says go, so the test
/// can move the tag exactly while the gate decides.
struct HoldingScans {
    allowed: zoll_oci::Digest,
    entered: tokio::sync::Notify,
    go: tokio::sync::Notify,
    held: std::sync::atomic::AtomicBool,
}

impl zoll_policy::scan::ScanGate for HoldingScans {
    fn check<'a>(
        &'a self,
        _repository: &'a str,
        subject: &'a zoll_oci::Digest,
        _condition: &'a zoll_policy::scan::ScanCondition,
    ) -> zoll_policy::scan::BoxFuture<'a, zoll_policy::scan::ScanVerdict> {
        Box::pin(async move {
            if *subject != self.allowed {
                return zoll_policy::scan::ScanVerdict::NotMet {
                    reason: format!("{subject} is not the scanned image"),
                    causes: Vec::new(),
                };
            }
            if !self.held.swap(true, std::sync::atomic::Ordering::SeqCst) {
                self.entered.notify_one();
                self.go.notified().await;
            }
            zoll_policy::scan::ScanVerdict::Met
        })
    }
}

/// Review finding: the gate resolved a tag and decided, then the handler resolved the tag
/// again and served whatever it named by then: a tag moved during the decision served a
/// manifest nobody judged. The tag is moved while the decision is held open; the pull must
/// get the manifest that was judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_moved_while_the_gate_decides_serves_what_was_judged() {
    let w = World::new().await;
    let set = w.policy(
        "version = 1\n[[policy]]\nname = \"scanned\"\nrepositories = [\"prod/**\"]\n\
         gates = [\"pull\"]\nscan = { lint_below = \"FATAL\" }\n",
    );
    let good = TestImage::new().layer(&[TarEntry::file("bin/app", b"good".to_vec())]);
    let bad = TestImage::new().layer(&[TarEntry::file("bin/app", b"bad".to_vec())]);
    let (good_bytes, _) = good.manifest();
    let scans = std::sync::Arc::new(HoldingScans {
        allowed: zoll_oci::Digest::sha256(&good_bytes),
        entered: tokio::sync::Notify::new(),
        go: tokio::sync::Notify::new(),
        held: std::sync::atomic::AtomicBool::new(false),
    });
    let engine = std::sync::Arc::new(zoll_policy::Engine::with(
        set,
        scans.clone(),
        std::time::Duration::ZERO,
    ));
    let server = GatedServer::start_engine(engine, "").await;
    let admin = server.repo("prod/multi", "admin", ADMIN_PASSWORD);
    let judged = good.push(&admin, Some("v1")).await;
    bad.push(&admin, None).await;
    let (bad_bytes, _) = bad.manifest();

    let puller = server.repo("prod/multi", "admin", ADMIN_PASSWORD);
    let pull = tokio::spawn(async move {
        puller
            .fetch_manifest(&Reference::Tag(Tag::parse("v1").unwrap()))
            .await
    });
    scans.entered.notified().await;
    // The decision about `good` is under way: move the tag to `bad`, then let it finish.
    admin
        .push_manifest(zoll_testkit::OCI_MANIFEST, bad_bytes.clone(), Some("v1"))
        .await
        .unwrap();
    scans.go.notify_one();
    let (desc, bytes) = pull.await.unwrap().expect("the judged manifest is served");
    assert_eq!(desc.digest, judged.digest);
    assert_eq!(bytes, good_bytes, "served a manifest the gate never judged");
    // And the tag now names `bad`, which the gate refuses.
    match admin
        .fetch_manifest(&Reference::Tag(Tag::parse("v1").unwrap()))
        .await
    {
        Err(ClientError::Gate { .. }) => {}
        other => panic!("the moved tag must be refused: {other:?}"),
    }
}

/// A robot of project `prod` that may pull past the gate and push (the signing pipeline).
async fn admin_ungated(server: &GatedServer) -> Repository {
    let name = "robot$prod+signer";
    if server.store.account(name).await.unwrap().is_none() {
        let mut robot =
            zoll_store::Account::user(name, zoll_registry::auth::password::hash("pw"), false);
        robot.kind = zoll_store::AccountKind::Robot;
        robot.project = Some("prod".into());
        robot.permissions = Some(
            serde_json::json!([{"repositories": "**", "actions": ["pull", "push", "pull-ungated"]}])
                .to_string(),
        );
        server.store.put_account(&robot, false).await.unwrap();
    }
    server.repo("prod/multi", name, "pw")
}

/// Review finding: the pull gate took the registry's name from the client's Host header, so
/// a client could pick which Notation trust-policy scope judged an image (an exact, strict
/// scope or the `*` one at `skip`) and grow the decision cache with every Host it sent. The
/// gate uses the configured name; without one, a policy with named scopes is refused.
#[tokio::test]
async fn the_host_header_does_not_choose_the_notation_scope() {
    let w = World::new().await;
    std::fs::write(
        w.path("trustpolicy.json"),
        r#"{"version":"1.0","trustPolicies":[
            {"name":"prod","registryScopes":["registry.example/prod/app"],
             "signatureVerification":{"level":"strict"},"trustStores":["ca:corp"],
             "trustedIdentities":["x509.subject: C=DE, ST=BE, O=zoll test, OU=Release"]},
            {"name":"rest","registryScopes":["*"],"signatureVerification":{"level":"skip"}}]}"#,
    )
    .unwrap();
    let text = r#"
version = 1
trust_store = "truststore"
[[policy]]
name = "notation"
repositories = ["prod/**"]
gates = ["pull"]
notation = "trustpolicy.json"
"#;
    let server = GatedServer::start_named(w.policy(text), "registry.example").await;
    let admin = server.repo("prod/app", "admin", ADMIN_PASSWORD);
    TestImage::new()
        .layer(&[TarEntry::file("bin/app", b"unsigned".to_vec())])
        .push(&admin, Some("v1"))
        .await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/v2/prod/app/manifests/v1", server.addr);
    for host in ["registry.example", "elsewhere", "x", ""] {
        let r = http
            .get(&url)
            .header("host", host)
            .basic_auth("admin", Some(ADMIN_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "Host: {host:?}");
    }
    // Without the registry's name the strict scope could never match: refused (503).
    let unnamed = GatedServer::start(w.policy(text)).await;
    let admin = unnamed.repo("prod/app", "admin", ADMIN_PASSWORD);
    TestImage::new()
        .layer(&[TarEntry::file("bin/app", b"unsigned".to_vec())])
        .push(&admin, Some("v1"))
        .await;
    let r = http
        .get(format!("http://{}/v2/prod/app/manifests/v1", unnamed.addr))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("[policy] registry"));
}
