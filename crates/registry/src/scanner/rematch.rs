//! A new vulnerability database: the one replica that advances the recorded version
//! re-matches every stored SBOM (no layer is read) and reports images newly affected.

use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::Value;
use zoll_oci::{Digest, Reference, RepoName};
use zoll_scan::report::{self, Report};
use zoll_scan::vuln::{Db, Finding};
use zoll_store::{ScanCursor, ScanOutcome, Store, StoreError};

use super::results::{attach, emit_found, idents, summary};
use super::worker::JobError;
use crate::App;

/// Checks the database file every `db_check` and re-matches when it changed.
pub async fn watch_db(app: Arc<App>) {
    loop {
        if let Err(e) = refresh_db(&app).await {
            tracing::warn!(error = %e, "vulnerability database refresh failed");
        }
        tokio::time::sleep(app.scanner.settings.db_check).await;
    }
}

/// Loads a changed database and, if this process is the one that advances the recorded
/// version, re-matches every stored SBOM. Returns how many images were re-matched.
pub async fn refresh_db(app: &App) -> Result<usize, String> {
    let scanner = &app.scanner;
    if let Some((path, stamp)) = scanner.changed_db() {
        let db = tokio::task::spawn_blocking(move || Db::load(&path))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        scanner.install_db(db, stamp);
    }
    let Some(db) = scanner.db() else {
        return Ok(0);
    };
    let recorded = app
        .store
        .scan_db_version()
        .await
        .map_err(|e| e.to_string())?;
    if recorded.as_deref() == Some(db.digest.as_str()) {
        return Ok(0);
    }
    if !app
        .store
        .advance_scan_db(recorded.as_deref(), &db.digest)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(0); // another replica is re-matching
    }
    tracing::info!(version = %db.digest, "re-matching stored SBOMs against the database");
    rematch_all(app, &db).await.map_err(|e| e.to_string())
}

/// Largest stored SBOM or report read back for a re-match.
const MAX_STORED_DOC: u64 = 256 << 20;

/// The stored scan document (an SBOM or a report blob) `digest` names in `repo`, refused
/// when larger than `limit`.
pub(crate) async fn read_doc(
    store: &Arc<Store>,
    repo: &RepoName,
    digest: &Digest,
    limit: u64,
) -> Result<Vec<u8>, StoreError> {
    let size = store.blob_size(repo, digest).await?;
    if size > limit {
        return Err(StoreError::TooLarge {
            what: "stored scan document",
            limit,
        });
    }
    let mut s = store.read_blob(digest, size, None).await?;
    let mut out = Vec::with_capacity(size as usize);
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

async fn rematch_all(app: &App, db: &Arc<Db>) -> Result<usize, StoreError> {
    let mut after: Option<ScanCursor> = None;
    let mut n = 0;
    loop {
        let page = app.store.scans_with_sbom(after.as_ref(), 100).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (at, row) in page {
            match rematch_one(app, db, &at, &row).await {
                Ok(()) => n += 1,
                Err(e) => {
                    tracing::warn!(repo = %row.repo, digest = %row.digest, error = %e, "re-match failed")
                }
            }
        }
    }
    Ok(n)
}

async fn rematch_one(
    app: &App,
    db: &Arc<Db>,
    at: &ScanCursor,
    row: &zoll_store::ScanRow,
) -> Result<(), JobError> {
    let repo =
        RepoName::parse(&row.repo, usize::MAX).map_err(|e| JobError::Other(e.to_string()))?;
    let bad = |e: zoll_oci::DigestError| JobError::Other(e.to_string());
    let image: Digest = row.digest.parse().map_err(bad)?;
    let sbom: Digest = row
        .sbom_digest
        .as_deref()
        .unwrap_or("")
        .parse()
        .map_err(bad)?;
    let sbom_bytes = read_doc(&app.store, &repo, &sbom, MAX_STORED_DOC).await?;
    let suppressions = app
        .scanner
        .suppressions(crate::access::project_of(repo.as_str()));
    let db2 = db.clone();
    let now_secs = u64::try_from(app.store.now_ms().div_euclid(1000)).unwrap_or(0);
    let findings = tokio::task::spawn_blocking(move || {
        zoll_scan::seam::rematch_stored(&sbom_bytes, &db2, &suppressions, now_secs)
    })
    .await
    .map_err(|e| JobError::Other(e.to_string()))??;
    let old: Vec<Finding> = row
        .findings
        .as_deref()
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or_default();
    let newly = zoll_scan::vuln::newly_affected(&old, &findings);

    // A new vulnerability report replaces the old one (same document, new findings).
    let stored = app
        .store
        .manifest(&repo, &Reference::Digest(image.clone()))
        .await?;
    let mut report_digest = row.report_digest.clone();
    if let Some(old_report) = row
        .report_digest
        .as_deref()
        .and_then(|d| d.parse::<Digest>().ok())
    {
        let m = app
            .store
            .manifest(&repo, &Reference::Digest(old_report.clone()))
            .await?;
        let parsed = zoll_oci::Manifest::parse(&m.content, Some(&m.media_type))
            .map_err(|e| JobError::Other(e.to_string()))?;
        if let Some(layer) = parsed.layers.first() {
            let bytes = read_doc(&app.store, &repo, &layer.digest, MAX_STORED_DOC).await?;
            if let Ok(mut report) = serde_json::from_slice::<Report>(&bytes) {
                report.vulnerabilities = findings.clone();
                report.database = Some(db.digest.clone());
                let bytes =
                    serde_json::to_vec(&report).map_err(|e| JobError::Other(e.to_string()))?;
                let (new_report, _) =
                    attach(app, &repo, &stored, report::ARTIFACT_VULNERABILITIES, bytes).await?;
                if new_report != old_report {
                    app.store
                        .delete_manifest(&repo, &Reference::Digest(old_report))
                        .await?;
                }
                report_digest = Some(new_report.to_string());
            }
        }
    }
    let before: Value = row
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let packages = before["packages"].as_u64().map(|p| p as usize);
    let sum = summary(&findings, packages, before.get("lint_worst").cloned());
    let outcome = ScanOutcome {
        db_version: Some(db.digest.clone()),
        report_digest,
        findings: serde_json::to_string(&findings).ok(),
        summary: Some(sum.to_string()),
        idents: idents(&findings),
        ..Default::default()
    };
    app.store.update_findings(at, &outcome).await?;
    if !newly.is_empty() {
        emit_found(app, &format!("{repo}@{image}"), &newly, true).await;
    }
    Ok(())
}
