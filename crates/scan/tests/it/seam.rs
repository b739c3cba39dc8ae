//! The registry seam: scan a pushed image from its manifest and blobs, attach the artifacts,
//! re-match the stored SBOM when the database changes, and evaluate gate conditions.

use std::collections::HashMap;
use std::io::Read;

use zoll_scan::job::BlobSource;
use zoll_scan::report;
use zoll_scan::seam::{
    Context, artifact_manifest, lint_from_artifact, rematch_stored, scan_pushed,
};
use zoll_scan::vuln::{self, Condition, Severity, Suppressions, Verdict};
use zoll_scan::{Limits, ScanError};

use crate::tarbuild::{Member as M, gzip};

struct MemBlobs(HashMap<String, Vec<u8>>);

impl BlobSource for MemBlobs {
    fn open(
        &mut self,
        _media_type: &str,
        digest: &str,
        _size: u64,
    ) -> Result<Box<dyn Read + '_>, ScanError> {
        let b = self
            .0
            .get(digest)
            .ok_or_else(|| ScanError::BadManifest(format!("no blob {digest}")))?;
        Ok(Box::new(b.as_slice()))
    }
}

fn sha256(b: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b);
    format!("sha256:{}", zoll_stdx::hex::encode(d.as_ref()))
}

fn image() -> (String, Vec<u8>, MemBlobs) {
    let status = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u3\n";
    let layer = gzip(&[
        M::File("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
        M::File("var/lib/dpkg/status", status.as_bytes()),
    ]);
    let config = serde_json::to_vec(&serde_json::json!({"config": {"User": "app", "Healthcheck": {"Test": ["CMD", "true"]}}, "history": []})).expect("json");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(&layer), "size": layer.len()}],
    }))
    .expect("json");
    let blobs = MemBlobs(
        [(sha256(&config), config), (sha256(&layer), layer)]
            .into_iter()
            .collect(),
    );
    (sha256(&manifest), manifest, blobs)
}

#[test]
fn push_scan_attach_rematch_and_gate() {
    let (digest, manifest, mut blobs) = image();
    let empty = tempfile::tempdir().expect("tempdir");
    let db_path = empty.path().join("osv.jsonl");
    // Day 1: the database knows nothing about glibc.
    let unrelated = empty.path().join("unrelated.json");
    std::fs::write(&unrelated, r#"{"id":"GHSA-0000-0000-0001","modified":"2025-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"x"},"versions":["1.0.0"]}]}"#).expect("write");
    vuln::import(&db_path, &[unrelated]).expect("import");
    let db1 = vuln::Db::load(&db_path).expect("load");
    let none = Suppressions::default();
    let limits = Limits::default();
    let cx = Context {
        db: Some(&db1),
        suppressions: &none,
        limits: &limits,
        now: 0,
    };
    let scanned = scan_pushed("team/app:v1", &digest, &manifest, &mut blobs, cx).expect("scan");
    assert!(scanned.findings.is_empty());
    let types: Vec<&str> = scanned.artifacts.iter().map(|a| a.artifact_type).collect();
    assert_eq!(
        types,
        vec![
            report::ARTIFACT_CYCLONEDX,
            report::ARTIFACT_VULNERABILITIES,
            report::ARTIFACT_LINT
        ]
    );
    let sbom = scanned.artifacts[0].bytes.clone();
    let m: serde_json::Value = serde_json::from_slice(&artifact_manifest(
        "application/vnd.oci.image.manifest.v1+json",
        &digest,
        manifest.len() as u64,
        report::ARTIFACT_CYCLONEDX,
        &sha256(&sbom),
        sbom.len() as u64,
    ))
    .expect("manifest JSON");
    assert_eq!(
        (m["subject"]["digest"].as_str(), m["artifactType"].as_str()),
        (Some(digest.as_str()), Some(report::ARTIFACT_CYCLONEDX))
    );
    let lint = lint_from_artifact(&scanned.artifacts[2].bytes).expect("lint");
    assert_eq!(
        vuln::evaluate(
            &Condition::LintBelow {
                level: zoll_scan::lint::Level::Fatal
            },
            &[],
            &lint
        ),
        Verdict::Met
    );

    // Day 2: the database changes (a new version digest); the stored SBOM is re-matched without
    // the layers, and the image is newly affected.
    let (_d, db2) = crate::vuln::fixture_db();
    assert_ne!(db1.digest, db2.digest);
    let now = rematch_stored(&sbom, &db2, &none, 0).expect("rematch");
    let new = vuln::newly_affected(&scanned.findings, &now);
    assert_eq!(
        new.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        vec!["CVE-2099-0001"]
    );
    assert_eq!(new[0].layer, Some(0));
    match vuln::evaluate(
        &Condition::NoVulnerabilityAtOrAbove {
            severity: Severity::Critical,
        },
        &now,
        &lint,
    ) {
        Verdict::NotMet { causes, reason } => {
            assert_eq!(causes, vec!["CVE-2099-0001".to_owned()]);
            assert!(
                reason.contains("CVE-2099-0001 in libc6 2.36-9+deb12u3"),
                "{reason}"
            );
        }
        Verdict::Met => panic!("critical finding not reported by the gate"),
    }
}
