//! Scanning inside the registry. Every pushed container image has a job row from its push
//! transaction; workers (on any replica) claim jobs, run `zoll-scan` on a blocking thread over
//! the store's verified blob streams, attach the CycloneDX SBOM, the vulnerability report and
//! the lint report as referrers of the image, index the findings per advisory id, and emit
//! `scan.completed` / `vulnerability.found` events. When the vulnerability database changes,
//! the one replica that advances the recorded database version re-matches every stored SBOM
//! (no layer is read) and emits an event for each image newly affected.
//!
//! Encrypted images are not scanned: their job ends in state `encrypted`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use zoll_oci::{Digest, Reference, RepoName};
use zoll_scan::job::BlobSource;
use zoll_scan::report::{self, Report};
use zoll_scan::vuln::{Db, Finding, Severity, Suppressions};
use zoll_scan::ScanError;
use zoll_store::{ScanCursor, ScanJob, ScanOutcome, Store, StoreError};

use crate::events::{self, Event};
use crate::App;

/// `[scan]` settings.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// Concurrent scans in this process; 0 turns the workers off (jobs still queue).
    pub workers: usize,
    /// The OSV database `zoll db import` writes; absent file: SBOM and lint only.
    pub db: Option<PathBuf>,
    /// `<dir>/<project>/*.toml|*.json`: allowlists and OpenVEX documents per project.
    pub suppressions: Option<PathBuf>,
    /// A running job not finished within this goes back to the queue (crashed worker).
    pub lease: Duration,
    /// Failed scans are tried this often before they stay failed.
    pub max_attempts: u64,
    /// How often the database file is checked for a new version.
    pub db_check: Duration,
    pub limits: zoll_scan::Limits,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            workers: 1,
            db: None,
            suppressions: None,
            lease: Duration::from_secs(600),
            max_attempts: 3,
            db_check: Duration::from_secs(60),
            limits: zoll_scan::Limits::default(),
        }
    }
}

/// The scanner's state in one process: settings and the loaded database.
pub struct Scanner {
    pub settings: ScanSettings,
    /// Distinguishes this process's workers from other replicas' in claimed rows.
    owner: String,
    db: RwLock<Option<Arc<Db>>>,
    /// (modified, length) of the database file when it was loaded.
    loaded: Mutex<Option<(SystemTime, u64)>>,
    pub wakeup: tokio::sync::Notify,
}

impl Scanner {
    pub fn new(settings: ScanSettings) -> Scanner {
        Scanner {
            settings,
            owner: format!("scanner-{}", zoll_stdx::rand::hex_id(8)),
            db: RwLock::new(None),
            loaded: Mutex::new(None),
            wakeup: tokio::sync::Notify::new(),
        }
    }

    fn db(&self) -> Option<Arc<Db>> {
        self.db.read().expect("poisoned").clone()
    }

    /// The database file and its (modified, length) stamp, when it differs from what is
    /// loaded.
    fn changed_db(&self) -> Option<(PathBuf, (SystemTime, u64))> {
        let path = self.settings.db.as_ref()?;
        let m = std::fs::metadata(path).ok()?;
        let stamp = (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len());
        (*self.loaded.lock().expect("poisoned") != Some(stamp)).then(|| (path.clone(), stamp))
    }

    fn install_db(&self, db: Db, stamp: (SystemTime, u64)) {
        tracing::info!(version = %db.digest, advisories = db.advisories.len(), "vulnerability database loaded");
        *self.db.write().expect("poisoned") = Some(Arc::new(db));
        *self.loaded.lock().expect("poisoned") = Some(stamp);
    }

    fn suppressions(&self, project: &str) -> Suppressions {
        let mut s = Suppressions::default();
        let Some(dir) = &self.settings.suppressions else {
            return s;
        };
        let Ok(entries) = std::fs::read_dir(dir.join(project)) else {
            return s;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if let Err(e) = s.add_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "suppression file ignored");
            }
        }
        s
    }
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new(ScanSettings::default())
    }
}

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

/// Counts per severity, and what the scan saw: the API's and the events' summary.
fn summary(findings: &[Finding], packages: Option<usize>, lint_worst: Option<Value>) -> Value {
    let mut by = serde_json::Map::new();
    let mut suppressed = 0;
    for f in findings {
        if f.suppressed.is_some() {
            suppressed += 1;
            continue;
        }
        let key = format!("{:?}", f.severity).to_ascii_lowercase();
        let n = by.get(&key).and_then(Value::as_u64).unwrap_or(0);
        by.insert(key, json!(n + 1));
    }
    let mut v = json!({"vulnerabilities": by, "suppressed": suppressed});
    if let Some(p) = packages {
        v["packages"] = json!(p);
    }
    if let Some(worst) = lint_worst {
        v["lint_worst"] = worst;
    }
    v
}

/// Every id and alias of every finding, for the per-advisory index.
fn idents(findings: &[Finding]) -> Vec<(String, String, bool)> {
    let mut out: Vec<(String, String, bool)> = Vec::new();
    for f in findings {
        for id in f.ids() {
            let severity = format!("{:?}", f.severity).to_ascii_uppercase();
            match out.iter_mut().find(|(i, _, _)| i == id) {
                // One row per id: the worst unsuppressed occurrence wins.
                Some(row) => {
                    if row.2 && f.suppressed.is_none() {
                        *row = (id.to_owned(), severity, false);
                    }
                }
                None => out.push((id.to_owned(), severity, f.suppressed.is_some())),
            }
        }
    }
    out
}

/// Stores `bytes` as an artifact of `artifact_type` referring to the image; returns the
/// artifact manifest's digest.
async fn attach(
    app: &App,
    repo: &RepoName,
    subject: &zoll_store::StoredManifest,
    artifact_type: &str,
    bytes: Vec<u8>,
) -> Result<(Digest, Digest), StoreError> {
    let empty = Bytes::from_static(b"{}");
    app.store
        .put_blob(repo, &Digest::sha256(&empty), one_chunk(empty), None)
        .await?;
    let blob = Digest::sha256(&bytes);
    let size = bytes.len() as u64;
    app.store
        .put_blob(repo, &blob, one_chunk(Bytes::from(bytes)), None)
        .await?;
    let manifest = zoll_scan::seam::artifact_manifest(
        &subject.media_type,
        subject.digest.as_str(),
        subject.content.len() as u64,
        artifact_type,
        blob.as_str(),
        size,
    );
    let digest = Digest::sha256(&manifest);
    app.store
        .put_manifest(
            repo,
            &Reference::Digest(digest.clone()),
            &[],
            Some(zoll_oci::media_types::OCI_MANIFEST),
            &manifest,
        )
        .await?;
    Ok((digest, blob))
}

fn one_chunk(b: Bytes) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures_util::stream::iter([Ok(b)])
}

/// Claims and runs one queued scan. `Ok(false)`: the queue is empty.
pub async fn scan_next(app: &App) -> Result<bool, StoreError> {
    let s = &app.scanner;
    let Some(job) = app.store.claim_scan(&s.owner, s.settings.lease).await? else {
        return Ok(false);
    };
    if let Err(e) = run_job(app, &job).await {
        let retry = job.attempts < s.settings.max_attempts;
        tracing::warn!(repo = %job.repo, digest = %job.digest, error = %e, retry, "scan failed");
        app.store
            .fail_scan(&job, &s.owner, &e.to_string(), retry)
            .await?;
    }
    Ok(true)
}

#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Scan(#[from] ScanError),
    #[error("{0}")]
    Other(String),
}

async fn run_job(app: &App, job: &ScanJob) -> Result<(), JobError> {
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
                now: zoll_stdx::time::now_secs(),
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
            }
            return Ok(());
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
        return Ok(()); // another worker took over after our lease ran out
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
    Ok(())
}

/// `vulnerability.found` for `findings` of one image (worst first, at most 50 listed).
async fn emit_found(app: &App, subject: &str, findings: &[&Finding], newly: bool) {
    let mut sorted: Vec<&&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
    let list: Vec<Value> = sorted
        .iter()
        .take(50)
        .map(|f| json!({"id": f.id, "aliases": f.aliases, "severity": f.severity, "package": f.package, "version": f.version, "fixed": f.fixed}))
        .collect();
    let worst = sorted
        .first()
        .map(|f| f.severity)
        .unwrap_or(Severity::Unknown);
    events::emit(
        app,
        Event::new(events::VULNERABILITY_FOUND, subject)
            .data("newly_affected", json!(newly))
            .data("count", json!(findings.len()))
            .data("worst", json!(worst))
            .data("vulnerabilities", json!(list)),
    )
    .await;
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

async fn read_doc(
    store: &Arc<Store>,
    repo: &RepoName,
    digest: &Digest,
) -> Result<Vec<u8>, StoreError> {
    let size = store.blob_size(repo, digest).await?;
    if size > MAX_STORED_DOC {
        return Err(StoreError::TooLarge {
            what: "stored scan document",
            limit: MAX_STORED_DOC,
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
    let sbom_bytes = read_doc(&app.store, &repo, &sbom).await?;
    let suppressions = app
        .scanner
        .suppressions(crate::access::project_of(repo.as_str()));
    let db2 = db.clone();
    let findings = tokio::task::spawn_blocking(move || {
        zoll_scan::seam::rematch_stored(
            &sbom_bytes,
            &db2,
            &suppressions,
            zoll_stdx::time::now_secs(),
        )
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
            let bytes = read_doc(&app.store, &repo, &layer.digest).await?;
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

/// What the trust-policy gate evaluates scan conditions on (`zoll_scan::vuln::evaluate`):
/// the image's findings and lint report from its finished scan. `None` while the image has
/// no finished scan (queued, running, failed or encrypted).
pub async fn gate_inputs(
    store: &Store,
    repo: &RepoName,
    digest: &Digest,
) -> Result<Option<GateInputs>, StoreError> {
    let Some(row) = store.scan(repo, digest).await? else {
        return Ok(None);
    };
    if row.state != "done" {
        return Ok(None);
    }
    // Evidence that cannot be read is an error, never an empty list: an empty list would
    // pass "no vulnerability at or above X". (A change to the stored shape comes with a
    // migration of the stored rows; `stored_scan_rows_of_today_still_read` guards it.)
    let unreadable = |what: &str, why: String| {
        StoreError::Unreadable(format!(
            "the stored {what} of the scan of {repo}@{digest}: {why}"
        ))
    };
    let findings = match row.findings.as_deref() {
        Some(f) => serde_json::from_str(f).map_err(|e| unreadable("findings", e.to_string()))?,
        None => return Err(unreadable("findings", "missing".into())),
    };
    let lint = match row.lint.as_deref() {
        Some(l) => zoll_scan::seam::lint_from_artifact(l.as_bytes())
            .map_err(|e| unreadable("lint report", e.to_string()))?,
        None => return Err(unreadable("lint report", "missing".into())),
    };
    Ok(Some(GateInputs {
        findings,
        lint,
        db_version: row.db_version,
    }))
}

/// A finished scan's results, as a policy judges them.
pub struct GateInputs {
    pub findings: Vec<Finding>,
    pub lint: zoll_scan::lint::LintReport,
    /// The vulnerability database matched against; `None`: none was configured, so the
    /// absence of findings says nothing.
    pub db_version: Option<String>,
}

#[cfg(test)]
mod tests {
    use zoll_scan::vuln::Severity;

    /// Scan rows as this version stores them (`findings` and `lint` columns). A change to
    /// either shape that stops these from reading must come with a migration of the stored
    /// rows: until then, the gate refuses every image scanned before it.
    #[test]
    fn stored_scan_rows_of_today_still_read() {
        let findings = r#"[{"id":"CVE-2099-1111","aliases":["DEBIAN-CVE-2099-1111"],
            "severity":"HIGH","score":7.5,"summary":"overflow","package":"zlib1g",
            "version":"1:1.2.13.dfsg-1","purl":"pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1",
            "kind":"deb","fixed":"1:1.2.13.dfsg-2","layer":0,"location":"var/lib/dpkg/status",
            "suppressed":{"by":"allowlist","reason":"not reachable","author":"a@example.com",
            "expires":"2099-01-01"}}]"#;
        let f: Vec<zoll_scan::vuln::Finding> = serde_json::from_str(findings).unwrap();
        assert_eq!(f[0].severity, Severity::High);
        let lint = r#"{"results":[{"code":"CIS-DI-0001","level":"PASS","title":"Create a user"},
            {"alerts":["no HEALTHCHECK"],"code":"CIS-DI-0006","level":"INFO","title":"HEALTHCHECK"}]}"#;
        zoll_scan::seam::lint_from_artifact(lint.as_bytes()).unwrap();
    }
}
