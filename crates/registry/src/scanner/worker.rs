//! The scan queue's workers: claim a job, scan the image on a blocking thread over the
//! store's verified blob streams, record the outcome.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use zoll_oci::{Digest, Reference, RepoName};
use zoll_scan::ScanError;
use zoll_scan::job::BlobSource;
use zoll_scan::report;
use zoll_scan::vuln::Finding;
use zoll_store::{ScanJob, ScanOutcome, Store, StoreError};

use super::results::{attach, emit_found, idents, summary};
use crate::App;
use crate::events::{self, Event};
use crate::metrics::ScanEnd;

/// Blobs of the image being scanned, read from the store on the scanning thread.
struct StoreBlobs {
    store: Arc<Store>,
    repo: RepoName,
    rt: tokio::runtime::Handle,
}

impl BlobSource for StoreBlobs {
    fn open(
        &mut self,
        _media_type: &str,
        digest: &str,
        size: u64,
    ) -> Result<Box<dyn std::io::Read + '_>, ScanError> {
        let d: Digest = digest
            .parse()
            .map_err(|e| ScanError::BadManifest(format!("{digest}: {e}")))?;
        let unreadable = |e: StoreError| ScanError::Io {
            context: format!("blob {digest}"),
            source: std::io::Error::other(e.to_string()),
        };
        let stored = self
            .rt
            .block_on(self.store.blob_size(&self.repo, &d))
            .map_err(unreadable)?;
        if stored != size {
            return Err(ScanError::BadManifest(format!(
                "blob {digest} has {stored} bytes, the manifest says {size}"
            )));
        }
        let stream = self
            .rt
            .block_on(self.store.read_blob(&d, size, None))
            .map_err(unreadable)?;
        let reader = tokio_util::io::StreamReader::new(stream);
        Ok(Box::new(tokio_util::io::SyncIoBridge::new_with_handle(
            reader,
            self.rt.clone(),
        )))
    }
}

/// Claims and runs one queued scan. `Ok(false)`: the queue is empty.
pub async fn scan_next(app: &App) -> Result<bool, StoreError> {
    let s = &app.scanner;
    let Some(job) = app.store.claim_scan(&s.owner, s.settings.lease).await? else {
        return Ok(false);
    };
    let outcome = match run_job(app, &job).await {
        Ok(outcome) => outcome,
        Err(e) => {
            let retry = job.attempts < s.settings.max_attempts;
            tracing::warn!(repo = %job.repo, digest = %job.digest, error = %e, retry, "scan failed");
            app.store
                .fail_scan(&job, &s.owner, &e.to_string(), retry)
                .await?;
            if retry {
                ScanEnd::Retry
            } else {
                ScanEnd::Failed
            }
        }
    };
    app.metrics.scan(outcome);
    Ok(true)
}

#[derive(Debug, thiserror::Error)]
pub(super) enum JobError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Scan(#[from] ScanError),
    #[error("{0}")]
    Other(String),
}

async fn run_job(app: &App, job: &ScanJob) -> Result<ScanEnd, JobError> {
    let repo =
        RepoName::parse(&job.repo, usize::MAX).map_err(|e| JobError::Other(e.to_string()))?;
    let digest: Digest = job
        .digest
        .parse()
        .map_err(|e| JobError::Other(format!("{e}")))?;
    let stored = app
        .store
        .manifest(&repo, &Reference::Digest(digest.clone()))
        .await?;
    let db = app.scanner.db();
    let project = crate::access::project_of(repo.as_str()).to_owned();
    let suppressions = app.scanner.suppressions(&project);
    let limits = app.scanner.settings.limits.clone();
    let blobs = StoreBlobs {
        store: app.store.clone(),
        repo: repo.clone(),
        rt: tokio::runtime::Handle::current(),
    };
    let (name, d, content) = (repo.to_string(), digest.to_string(), stored.content.clone());
    let now_secs = u64::try_from(app.store.now_ms().div_euclid(1000)).unwrap_or(0);
    let scanned = tokio::task::spawn_blocking(move || {
        let mut blobs = blobs;
        zoll_scan::seam::scan_pushed(
            &name,
            &d,
            &content,
            &mut blobs,
            zoll_scan::seam::Context {
                db: db.as_deref(),
                suppressions: &suppressions,
                limits: &limits,
                now: now_secs,
            },
        )
        .map(|s| (s, db.map(|d| d.digest.clone())))
    })
    .await
    .map_err(|e| JobError::Other(format!("scan task: {e}")))?;
    let subject = format!("{repo}@{digest}");
    let (scanned, db_version) = match scanned {
        Ok(s) => s,
        Err(ScanError::Encrypted { layer, media_type }) => {
            let outcome = ScanOutcome {
                state: "encrypted".into(),
                error: Some(format!(
                    "layer {layer} is encrypted ({media_type}); not scanned"
                )),
                summary: Some(json!({"encrypted": true}).to_string()),
                ..Default::default()
            };
            if app
                .store
                .finish_scan(job, &app.scanner.owner, &outcome)
                .await?
            {
                events::emit(
                    app,
                    Event::new(events::SCAN_COMPLETED, &subject).data("status", json!("encrypted")),
                )
                .await;
                return Ok(ScanEnd::Encrypted);
            }
            return Ok(ScanEnd::TakenOver);
        }
        Err(e) => return Err(e.into()),
    };
    let mut sbom_digest = None;
    let mut report_digest = None;
    for artifact in &scanned.artifacts {
        let (manifest, blob) = attach(
            app,
            &repo,
            &stored,
            artifact.artifact_type,
            artifact.bytes.clone(),
        )
        .await?;
        match artifact.artifact_type {
            report::ARTIFACT_CYCLONEDX => sbom_digest = Some(blob.to_string()),
            report::ARTIFACT_VULNERABILITIES => report_digest = Some(manifest.to_string()),
            _ => {}
        }
    }
    let lint = serde_json::to_value(&scanned.inspection.lint).ok();
    let sum = summary(
        &scanned.findings,
        Some(scanned.inspection.catalog.packages.len()),
        serde_json::to_value(scanned.inspection.lint.level()).ok(),
    );
    let outcome = ScanOutcome {
        state: "done".into(),
        error: None,
        db_version,
        sbom_digest,
        report_digest,
        findings: serde_json::to_string(&scanned.findings).ok(),
        lint: lint.as_ref().map(Value::to_string),
        summary: Some(sum.to_string()),
        idents: idents(&scanned.findings),
    };
    if !app
        .store
        .finish_scan(job, &app.scanner.owner, &outcome)
        .await?
    {
        return Ok(ScanEnd::TakenOver); // another worker took over after our lease ran out
    }
    events::emit(
        app,
        Event::new(events::SCAN_COMPLETED, &subject)
            .data("status", json!("done"))
            .data("summary", sum),
    )
    .await;
    let open: Vec<&Finding> = scanned
        .findings
        .iter()
        .filter(|f| f.suppressed.is_none())
        .collect();
    if !open.is_empty() {
        emit_found(app, &subject, &open, false).await;
    }
    Ok(ScanEnd::Done)
}

/// Runs `workers` scan loops until the process ends; each sleeps while the queue is empty
/// (a push wakes them).
pub async fn run_workers(app: Arc<App>) {
    let n = app.scanner.settings.workers;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match scan_next(&app).await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "scan queue unavailable"),
                }
                tokio::select! {
                    _ = app.scanner.wakeup.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}
