//! The bounds of one decision's evidence (`zoll_trust::signatures`): what an attacker who
//! can push to the repository may attach to an image costs a bounded number of bytes, and
//! is either judged whole or refused with a reason, never cut where digests fall.

use std::sync::atomic::Ordering;
use std::time::Duration;

use zoll_client::Repository;
use zoll_oci::media_types::OCI_MANIFEST;
use zoll_oci::{Descriptor, Digest, Reference, RepoName};
use zoll_policy::{ClientSource, Decision, Engine, Gate, SignatureSource, Target};
use zoll_registry::gate::StoreSource;
use zoll_trust::cosign::bundle;
use zoll_trust::notation;
use zoll_trust::signatures::{MAX_EVIDENCE, MAX_REFERRERS, MAX_SIGNATURE_MANIFEST};

use crate::support::{CI_POLICY, LEGACY, OnManifest, Tampered, World, sign};

/// A referrer manifest of `artifact_type` for `subject` listing `layers`; `note` makes it
/// unique.
fn referrer(
    subject: &Descriptor,
    artifact_type: &str,
    layers: &[Descriptor],
    note: &str,
) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": Digest::sha256(b"{}"),
            "size": 2,
        },
        "layers": layers,
        "subject": subject,
        "annotations": { "note": note },
    }))
    .unwrap()
}

/// The image signed for [`CI_POLICY`], and the empty config every referrer here names.
async fn signed_image(w: &World) -> (Repository, Descriptor) {
    let ci = w.signer("ci", "CI");
    let (repo, img) = w.push("app", "v1").await;
    sign(&repo, &img, &ci, LEGACY, &[("stage", "ci")]).await;
    repo.push_blob_bytes("application/vnd.oci.empty.v1+json", b"{}".to_vec().into())
        .await
        .unwrap();
    (repo, img)
}

/// Stores `manifest` in repository `app` straight through the store (fast, and without the
/// registry's manifest size limit).
async fn put(w: &World, manifest: &[u8]) -> Digest {
    let repo = RepoName::parse("app", 255).unwrap();
    let digest = Digest::sha256(manifest);
    w.server
        .store
        .put_manifest(
            &repo,
            &Reference::Digest(digest.clone()),
            &[],
            Some(OCI_MANIFEST),
            manifest,
        )
        .await
        .unwrap();
    digest
}

/// A blob of `len` bytes of the bundle media type, unique by `seed` (not a valid bundle).
async fn big_bundle_blob(repo: &Repository, seed: u8, len: usize) -> Descriptor {
    let mut bytes = vec![b' '; len];
    bytes[0] = seed;
    repo.push_blob_bytes(bundle::MEDIA_TYPE, bytes.into())
        .await
        .unwrap()
}

async fn decide_through(w: &World, source: &dyn SignatureSource, img: &Descriptor) -> Decision {
    let engine = Engine::new(w.policy(CI_POLICY));
    let target = Target {
        gate: Gate::Admission,
        registry: &w.server.addr,
        repository: "app",
        subject: img,
    };
    engine.decide(target, source).await.unwrap()
}

/// The decisions over HTTP and over the store (what the pull gate reads).
async fn decide_on_both(w: &World, img: &Descriptor) -> [Decision; 2] {
    [
        decide_through(w, &w.source, img).await,
        decide_through(w, &StoreSource::new(w.server.store.clone()), img).await,
    ]
}

#[tokio::test]
async fn one_blob_listed_by_many_referrers_is_read_once() {
    let w = World::new().await;
    let (repo, img) = signed_image(&w).await;
    let blob = big_bundle_blob(&repo, b'a', 15 << 20).await;
    for i in 0..8 {
        put(
            &w,
            &referrer(
                &img,
                bundle::MEDIA_TYPE,
                std::slice::from_ref(&blob),
                &i.to_string(),
            ),
        )
        .await;
    }
    let counting = Tampered::new(ClientSource::new(Default::default()), OnManifest::Read);
    let d = decide_through(&w, &counting, &img).await;
    assert!(d.allowed, "{}", d.explain());
    // Read once (15 MiB) plus small manifests and the signature, not eight times.
    let read = counting.bytes_read.load(Ordering::SeqCst);
    assert!(read < 16 << 20, "{read} bytes read");
    // And verified once: one rejected bundle, not eight.
    let rejected = d
        .checks
        .iter()
        .filter(|c| c.message.contains("bundle"))
        .count();
    assert!(rejected <= 1, "{}", d.explain());
}

#[tokio::test]
async fn evidence_over_the_byte_budget_is_refused_with_its_reason() {
    let w = World::new().await;
    let (repo, img) = signed_image(&w).await;
    let size = 14 << 20;
    let count = MAX_EVIDENCE as usize / size + 1;
    for i in 0..count {
        let blob = big_bundle_blob(&repo, b'a' + i as u8, size).await;
        put(
            &w,
            &referrer(&img, bundle::MEDIA_TYPE, &[blob], &i.to_string()),
        )
        .await;
    }
    let counting = Tampered::new(ClientSource::new(Default::default()), OnManifest::Read);
    let d = decide_through(&w, &counting, &img).await;
    assert!(!d.allowed, "{}", d.explain());
    let reason = d.reason();
    assert!(
        reason.contains(&format!("signature evidence exceeds {MAX_EVIDENCE} bytes")),
        "{reason}"
    );
    let read = counting.bytes_read.load(Ordering::SeqCst);
    assert!(read <= MAX_EVIDENCE, "{read} bytes read");
    // The store reads the same evidence and refuses the same way.
    let d = decide_through(&w, &StoreSource::new(w.server.store.clone()), &img).await;
    assert_eq!(d.reason(), reason);
}

#[tokio::test]
async fn unrelated_referrers_do_not_lock_an_image_out() {
    let w = World::new().await;
    let (_repo, img) = signed_image(&w).await;
    for i in 0..1001 {
        put(
            &w,
            &referrer(&img, "application/vnd.example.sbom", &[], &i.to_string()),
        )
        .await;
    }
    for d in decide_on_both(&w, &img).await {
        assert!(d.allowed, "{}", d.explain());
    }
}

#[tokio::test]
async fn more_signature_referrers_than_are_judged_are_refused_not_cut() {
    let w = World::new().await;
    let (_repo, img) = signed_image(&w).await;
    // One more than is judged (the real signature is the cosign tag's, not among them).
    for i in 0..=MAX_REFERRERS {
        put(
            &w,
            &referrer(&img, notation::ARTIFACT_TYPE, &[], &i.to_string()),
        )
        .await;
    }
    for d in decide_on_both(&w, &img).await {
        assert!(!d.allowed, "{}", d.explain());
        let expected = format!(
            "more than {MAX_REFERRERS} referrers of type {}",
            notation::ARTIFACT_TYPE
        );
        assert!(d.reason().contains(&expected), "{}", d.reason());
    }
}

#[tokio::test]
async fn an_oversized_signature_manifest_is_absent_on_both_backends() {
    let w = World::new().await;
    let (_repo, img) = signed_image(&w).await;
    // Padded in a layer's annotations: the referrers list carries only the manifest's.
    let mut layer = zoll_client::descriptor("application/vnd.oci.empty.v1+json", b"{}");
    let pad = "x".repeat(MAX_SIGNATURE_MANIFEST as usize);
    layer.annotations = Some([("pad".to_owned(), pad)].into());
    put(
        &w,
        &referrer(&img, notation::ARTIFACT_TYPE, &[layer], "big"),
    )
    .await;
    for d in decide_on_both(&w, &img).await {
        assert!(d.allowed, "{}", d.explain());
    }
}

/// Stands in for the registry's scans: met once `done`, its reports of one artifact type.
struct Reports {
    done: std::sync::atomic::AtomicBool,
}

const REPORT: &str = "application/vnd.zoll.vulnerability-report.v1+json";

impl zoll_policy::ScanGate for Reports {
    fn check<'a>(
        &'a self,
        _repository: &'a str,
        subject: &'a Digest,
        _condition: &'a zoll_policy::ScanCondition,
    ) -> zoll_policy::scan::BoxFuture<'a, zoll_policy::ScanVerdict> {
        let done = self.done.load(Ordering::SeqCst);
        Box::pin(async move {
            match done {
                true => zoll_policy::ScanVerdict::Met,
                false => zoll_policy::ScanVerdict::NotMet {
                    reason: format!("no finished scan of {subject}"),
                    causes: vec![],
                },
            }
        })
    }

    fn report_types(&self) -> &[&str] {
        &[REPORT]
    }
}

#[tokio::test]
async fn a_new_report_ends_a_cached_decision_however_many_there_are() {
    let w = World::new().await;
    let (_repo, img) = signed_image(&w).await;
    let mut digests = Vec::new();
    for i in 0..300 {
        digests.push(put(&w, &referrer(&img, REPORT, &[], &i.to_string())).await);
    }
    let state = std::sync::Arc::new(Reports { done: false.into() });
    let policy = "version = 1\n[[policy]]\nname = \"scanned\"\nrepositories = [\"app\"]\n\
                  scan = { lint_below = \"FATAL\" }\n";
    let engine = Engine::with(w.policy(policy), state.clone(), Duration::from_secs(3600));
    let d = w.decide(&engine, Gate::Pull, "app", &img).await;
    assert!(d.reason().contains("no finished scan"), "{}", d.explain());
    // A new report whose digest sorts after the first 256: a key over a cut list missed it.
    digests.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let last_kept = digests[MAX_REFERRERS - 1].clone();
    let report = (300..)
        .map(|i| referrer(&img, REPORT, &[], &i.to_string()))
        .find(|m| Digest::sha256(m).as_str() > last_kept.as_str())
        .unwrap();
    state.done.store(true, Ordering::SeqCst);
    put(&w, &report).await;
    let d = w.decide(&engine, Gate::Pull, "app", &img).await;
    assert!(d.allowed, "{}", d.explain());
}
