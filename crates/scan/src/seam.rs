//! The seam the registry calls. It owns the queue, the store and the events; this module turns
//! an image (or a stored SBOM) into the bytes it attaches as referrers and the findings it
//! indexes per CVE.
//!
//! 1. On every manifest push: enqueue the digest (persisted, bounded workers); a worker calls
//!    [`scan_pushed`] on a blocking thread with a [`BlobSource`] over the store.
//! 2. Store each of [`Scanned::artifacts`] as a blob plus the manifest [`artifact_manifest`]
//!    builds (subject = the image), so clients find them with the referrers API.
//! 3. Index [`Scanned::findings`] by (image digest, finding id and aliases) for "which images
//!    contain CVE-X?"; keep the CycloneDX blob digest per image.
//! 4. When [`Db::digest`] changes: for every stored CycloneDX blob call [`rematch_stored`], diff
//!    with the indexed findings ([`crate::vuln::newly_affected`]) and emit an event per image
//!    newly affected; replace the vulnerability referrer.
//! 5. The gate: [`crate::vuln::evaluate`] on the indexed findings and lint report.

use serde_json::json;

use crate::error::ScanError;
use crate::job::{BlobSource, Inspection, inspect_image};
use crate::limits::Limits;
use crate::lint::LintReport;
use crate::report::{self, Report};
use crate::vuln::{Db, Finding, Suppressions, match_catalog, rematch_sbom};

/// One document to attach to the image as a referrer.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub artifact_type: &'static str,
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
pub struct Scanned {
    pub inspection: Inspection,
    pub findings: Vec<Finding>,
    /// CycloneDX SBOM, vulnerability report, lint report.
    pub artifacts: Vec<Artifact>,
}

/// What a scan worker holds: the loaded database (None: SBOM and lint only), the project's
/// suppressions, the bounds, and the time suppressions are judged at (seconds since the epoch).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub db: Option<&'a Db>,
    pub suppressions: &'a Suppressions,
    pub limits: &'a Limits,
    pub now: u64,
}

/// Scans a pushed image `name` (repository:tag or repository) with manifest digest `digest`.
pub fn scan_pushed(
    name: &str,
    digest: &str,
    manifest: &[u8],
    blobs: &mut dyn BlobSource,
    cx: Context<'_>,
) -> Result<Scanned, ScanError> {
    // A pushed image is scanned by its digest: the tag it came with is not the job's, and a
    // bare repository name would read as `:latest` to the lint.
    let pinned = format!("{name}@{digest}");
    let inspection = inspect_image(&pinned, digest, manifest, blobs, cx.limits)?;
    let mut findings = cx
        .db
        .map(|db| match_catalog(&inspection.catalog, db))
        .unwrap_or_default();
    cx.suppressions
        .apply(&mut findings, &[name, digest], cx.now);
    let artifacts = artifacts(&inspection, &findings, cx.db.map(|d| d.digest.clone()))?;
    Ok(Scanned {
        inspection,
        findings,
        artifacts,
    })
}

fn artifacts(
    inspection: &Inspection,
    findings: &[Finding],
    db: Option<String>,
) -> Result<Vec<Artifact>, ScanError> {
    let enc = |v: &serde_json::Value| {
        serde_json::to_vec(v).map_err(|e| ScanError::Database(e.to_string()))
    };
    let report = serde_json::to_value(Report::new(inspection, findings.to_vec(), db))
        .map_err(|e| ScanError::Database(e.to_string()))?;
    let lint =
        serde_json::to_value(&inspection.lint).map_err(|e| ScanError::Database(e.to_string()))?;
    Ok(vec![
        Artifact {
            artifact_type: report::ARTIFACT_CYCLONEDX,
            bytes: enc(&inspection.cyclonedx())?,
        },
        Artifact {
            artifact_type: report::ARTIFACT_VULNERABILITIES,
            bytes: enc(&report)?,
        },
        Artifact {
            artifact_type: report::ARTIFACT_LINT,
            bytes: enc(&lint)?,
        },
    ])
}

/// Re-matches a stored CycloneDX SBOM (the bytes of the attached referrer): no layer is read.
pub fn rematch_stored(
    cyclonedx: &[u8],
    db: &Db,
    suppressions: &Suppressions,
    now: u64,
) -> Result<Vec<Finding>, ScanError> {
    let doc: serde_json::Value =
        serde_json::from_slice(cyclonedx).map_err(|e| ScanError::bad_input("stored SBOM", e))?;
    let (subject, mut findings) = rematch_sbom(&doc, db)?;
    let ids: Vec<&str> = [Some(subject.name.as_str()), subject.digest.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    suppressions.apply(&mut findings, &ids, now);
    Ok(findings)
}

/// An OCI 1.1 artifact manifest attaching `blob` (already stored) to `subject`.
pub fn artifact_manifest(
    subject_media_type: &str,
    subject_digest: &str,
    subject_size: u64,
    artifact_type: &str,
    blob_digest: &str,
    blob_size: u64,
) -> Vec<u8> {
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": artifact_type,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "size": 2,
            "data": "e30="
        },
        "layers": [{ "mediaType": artifact_type, "digest": blob_digest, "size": blob_size }],
        "subject": { "mediaType": subject_media_type, "digest": subject_digest, "size": subject_size },
        "annotations": { "org.opencontainers.image.created": crate::sbom::rfc3339_now() },
    });
    serde_json::to_vec(&m).unwrap_or_default()
}

/// The lint report of a stored lint artifact (for the gate).
pub fn lint_from_artifact(bytes: &[u8]) -> Result<LintReport, ScanError> {
    serde_json::from_slice(bytes).map_err(|e| ScanError::bad_input("stored lint report", e))
}
