//! The evaluator over real signatures in a real zoll: stages, thresholds, attestations,
//! Notation trust policies, defaults, the scan seam.

use zoll_policy::{CheckKind, Engine, Gate, Outcome, ScanCondition, ScanGate, ScanVerdict};
use zoll_trust::image::SignatureFormat;

use crate::support::{JWS, LEGACY, World, sign};

const STAGES: &str = r#"
version = 1
trust_store = "truststore"
[identities.ci]
keys = ["keys/ci.pub"]
[identities.scanner]
x509 = [{ trust_store = "ca:corp", subject = "O=zoll test, OU=Scan" }]
[identities.staging]
keys = ["keys/staging.pub"]
[identities.everyone]
keys = ["keys/ci.pub", "keys/staging.pub"]
x509 = [{ trust_store = "ca:corp", subject = "*" }]
[stages.ci]
identities = ["ci"]
[stages.scan]
identities = ["scanner"]
[stages.staging]
identities = ["staging"]
[[policy]]
name = "production"
repositories = ["prod/**"]
stages = ["ci", "scan", "staging"]
"#;

fn failures(d: &zoll_policy::Decision) -> Vec<String> {
    d.failures().map(|c| c.message.clone()).collect()
}

#[tokio::test]
async fn each_stage_must_sign_and_wrong_signers_change_nothing() {
    let w = World::new().await;
    let ci = w.signer("ci", "CI");
    let scan = w.signer("scan", "Scan");
    let staging = w.signer("staging", "Staging");
    let eve = w.signer("eve", "Eve");
    let engine = Engine::new(w.policy(STAGES));
    let (repo, img) = w.push("prod/app", "v1").await;
    let d = |engine| w.decide(engine, Gate::Pull, "prod/app", &img);

    let first = d(&engine).await;
    assert!(!first.allowed);
    let digest = img.digest.to_string();
    assert_eq!(
        failures(&first),
        [
            format!("stage 'ci' has not signed {digest}"),
            format!("stage 'scan' has not signed {digest}"),
            format!("stage 'staging' has not signed {digest}"),
        ]
    );

    sign(&repo, &img, &ci, LEGACY, &[("stage", "ci")]).await;
    let after_ci = d(&engine).await;
    assert!(!after_ci.allowed);
    assert_eq!(
        failures(&after_ci),
        [
            format!("stage 'scan' has not signed {digest}"),
            format!("stage 'staging' has not signed {digest}"),
        ]
    );
    assert_eq!(after_ci.reason(), failures(&after_ci).join("; "));

    // A key no identity set lists claims the staging stage: refused by the verifier.
    sign(&repo, &img, &eve, LEGACY, &[("stage", "staging")]).await;
    // A certificate the policy trusts (for the scan stage's CA) but of the wrong OU.
    sign(&repo, &img, &eve, JWS, &[("stage", "staging")]).await;
    // A trusted signer of another stage claims staging.
    sign(&repo, &img, &scan, JWS, &[("stage", "staging")]).await;
    let after_wrong = d(&engine).await;
    assert_eq!(failures(&after_wrong), failures(&after_ci));
    let notes: Vec<&str> = after_wrong
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Info && matches!(c.kind, CheckKind::Signature { .. }))
        .map(|c| c.message.as_str())
        .collect();
    assert_eq!(notes.len(), 3, "{notes:#?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("was not accepted: authenticity: no trusted key")),
        "{notes:#?}"
    );
    let wrong_stage: Vec<&&str> = notes
        .iter()
        .filter(|n| {
            n.contains("claims stage 'staging', but that signer is not in 'staging': ignored")
        })
        .collect();
    assert_eq!(wrong_stage.len(), 2, "{notes:#?}");
    assert!(
        wrong_stage.iter().any(|n| n.contains("OU=Scan")),
        "{notes:#?}"
    );
    assert!(
        wrong_stage.iter().any(|n| n.contains("OU=Eve")),
        "{notes:#?}"
    );

    // The scan signer signs its own stage (the same certificate signed twice: both count
    // with their own claims).
    sign(&repo, &img, &scan, JWS, &[("stage", "scan")]).await;
    let after_scan = d(&engine).await;
    assert_eq!(
        failures(&after_scan),
        [format!("stage 'staging' has not signed {digest}")]
    );

    sign(&repo, &img, &staging, LEGACY, &[("stage", "staging")]).await;
    let done = d(&engine).await;
    assert!(done.allowed, "{}", done.explain());
    let passed: Vec<&str> = done
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Pass)
        .map(|c| c.message.as_str())
        .collect();
    assert_eq!(passed.len(), 3, "{passed:#?}");
    assert!(
        passed[0].starts_with("stage 'ci' signed by key"),
        "{passed:#?}"
    );
    assert!(passed[1].contains("OU=Scan"), "{passed:#?}");
    assert!(done.explain().starts_with("ALLOWED "), "{}", done.explain());

    // The policy covers prod/** only; another repository falls to the default.
    let (_, other) = w.push("dev/app", "v1").await;
    let dev = w.decide(&engine, Gate::Pull, "dev/app", &other).await;
    assert!(dev.allowed);
    assert_eq!(
        dev.checks[0].message,
        "no policy covers dev/app at the pull gate: default allow"
    );
}

#[tokio::test]
async fn thresholds_count_distinct_signers_of_the_set() {
    let w = World::new().await;
    let alice = w.signer("alice", "Release");
    let bob = w.signer("bob", "Release");
    let _carol = w.signer("carol", "Release");
    let dev = w.signer("dev", "Dev");
    let engine = Engine::new(w.policy(
        r#"
version = 1
trust_store = "truststore"
[identities.release]
keys = ["keys/alice.pub", "keys/bob.pub", "keys/carol.pub"]
[identities.release-certs]
x509 = [{ trust_store = "ca:corp", subject = "OU=Release" }]
[[policy]]
name = "release"
repositories = ["rel/*"]
thresholds = [{ identities = "release", count = 2 }, { identities = "release-certs", count = 1 }]
"#,
    ));
    let (repo, img) = w.push("rel/app", "v1").await;
    let digest = img.digest.to_string();
    // Alice signs twice (bundle and legacy), dev signs with a certificate of another OU.
    sign(&repo, &img, &alice, SignatureFormat::CosignBundle, &[]).await;
    sign(&repo, &img, &alice, LEGACY, &[]).await;
    sign(&repo, &img, &dev, JWS, &[]).await;
    let d = w.decide(&engine, Gate::Admission, "rel/app", &img).await;
    assert!(!d.allowed);
    let f = failures(&d);
    assert_eq!(f.len(), 2, "{f:#?}");
    assert!(
        f[0].starts_with(&format!(
            "2 of identity set 'release' must sign {digest}, 1 did (key keys/alice.pub"
        )),
        "{f:#?}"
    );
    assert_eq!(
        f[1],
        format!("1 of identity set 'release-certs' must sign {digest}, 0 did (none)")
    );
    sign(&repo, &img, &bob, LEGACY, &[]).await;
    sign(&repo, &img, &bob, JWS, &[]).await;
    let d = w.decide(&engine, Gate::Admission, "rel/app", &img).await;
    assert!(d.allowed, "{}", d.explain());
    let found: Vec<usize> = d
        .checks
        .iter()
        .filter_map(|c| match c.kind {
            CheckKind::Threshold { found, .. } => Some(found),
            _ => None,
        })
        .collect();
    assert_eq!(found, [2, 1]);
}

#[tokio::test]
async fn attestations_and_notation_trust_policies() {
    let w = World::new().await;
    let sbom = w.signer("sbom", "Scan");
    let rel = w.signer("rel", "Release");
    std::fs::write(
        w.path("trustpolicy.json"),
        r#"{"version":"1.0","trustPolicies":[{"name":"legacy","registryScopes":["*"],
            "signatureVerification":{"level":"strict"},"trustStores":["ca:corp"],
            "trustedIdentities":["x509.subject: C=DE, ST=BE, O=zoll test, OU=Release"]}]}"#,
    )
    .unwrap();
    let engine = Engine::new(w.policy(
        r#"
version = 1
trust_store = "truststore"
[identities.scanner]
keys = ["keys/sbom.pub"]
[[policy]]
name = "sbom"
repositories = ["app"]
attestations = [{ type = "https://spdx.dev/Document", identities = "scanner" }]
[[policy]]
name = "notation"
repositories = ["app"]
notation = "trustpolicy.json"
"#,
    ));
    let (repo, img) = w.push("app", "v1").await;
    let digest = img.digest.to_string();
    let d = w.decide(&engine, Gate::Pull, "app", &img).await;
    assert_eq!(
        failures(&d),
        [
            format!(
                "no attestation https://spdx.dev/Document by identity set 'scanner' for {digest}"
            ),
            format!("the Notation trust policy does not trust {digest}: no signature"),
        ]
    );
    // A Notation signature by an identity the trust policy does not name.
    sign(&repo, &img, &sbom, JWS, &[]).await;
    let d = w.decide(&engine, Gate::Pull, "app", &img).await;
    assert!(
        failures(&d)[1].contains("untrusted identity"),
        "{:#?}",
        failures(&d)
    );
    zoll_trust::image::attest(
        &repo,
        Some(&zoll_oci::Reference::Digest(img.digest.clone())),
        &sbom.key,
        "https://spdx.dev/Document",
        serde_json::json!({"spdxVersion": "SPDX-2.3"}),
    )
    .await
    .unwrap();
    sign(&repo, &img, &rel, JWS, &[]).await;
    let d = w.decide(&engine, Gate::Pull, "app", &img).await;
    assert!(d.allowed, "{}", d.explain());
}

/// A scanner's answers, fixed per condition: stands in for `zoll-scan` (on another branch)
/// to show how verdicts become checks.
struct FixedScanner;

impl ScanGate for FixedScanner {
    fn check<'a>(
        &'a self,
        _repository: &'a str,
        _subject: &'a zoll_oci::Digest,
        condition: &'a ScanCondition,
    ) -> zoll_policy::scan::BoxFuture<'a, ScanVerdict> {
        Box::pin(async move {
            match condition {
                ScanCondition::NoVulnerabilityAtOrAbove { .. } => ScanVerdict::NotMet {
                    reason: "CRITICAL CVE-2099-0001 in libc6 2.36-9 has no VEX statement".into(),
                    causes: vec!["CVE-2099-0001".into()],
                },
                ScanCondition::LintBelow { .. } => ScanVerdict::Met,
            }
        })
    }
}

#[tokio::test]
async fn scan_conditions_go_through_the_seam_and_fail_closed() {
    let w = World::new().await;
    let text = r#"
version = 1
[default]
pull = "deny"
[[policy]]
name = "clean"
repositories = ["app"]
scan = { no_vulnerability_at_or_above = "CRITICAL", lint_below = "FATAL" }
"#;
    let (_, img) = w.push("app", "v1").await;
    // Without a scanner every condition is unavailable, so not met.
    let engine = Engine::new(w.policy(text));
    let d = w.decide(&engine, Gate::Pull, "app", &img).await;
    assert_eq!(
        failures(&d),
        [
            format!(
                "scan: no vulnerability at or above CRITICAL cannot be checked for {}: no scanner is configured",
                img.digest
            ),
            format!(
                "scan: lint findings below FATAL cannot be checked for {}: no scanner is configured",
                img.digest
            ),
        ]
    );
    let engine = Engine::with(
        w.policy(text),
        std::sync::Arc::new(FixedScanner),
        std::time::Duration::from_secs(30),
    );
    let d = w.decide(&engine, Gate::Pull, "app", &img).await;
    assert_eq!(
        failures(&d),
        [
            "scan: no vulnerability at or above CRITICAL is not met: CRITICAL CVE-2099-0001 in libc6 2.36-9 has no VEX statement"
        ]
    );
    // The default applies where no policy does.
    let (_, other) = w.push("other", "v1").await;
    let d = w.decide(&engine, Gate::Pull, "other", &other).await;
    assert!(!d.allowed);
    assert_eq!(
        d.reason(),
        "no policy covers other at the pull gate: default deny"
    );
}
