//! What a scan's results become: artifacts referring to the image, the per-advisory index
//! rows, the summary the API shows and the `vulnerability.found` event.

use bytes::Bytes;
use serde_json::{Value, json};
use zoll_oci::{Digest, Reference, RepoName};
use zoll_scan::vuln::{Finding, Severity};
use zoll_store::StoreError;

use crate::App;
use crate::events::{self, Event};

/// Counts per severity, and what the scan saw: the API's and the events' summary.
pub(super) fn summary(
    findings: &[Finding],
    packages: Option<usize>,
    lint_worst: Option<Value>,
) -> Value {
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
pub(super) fn idents(findings: &[Finding]) -> Vec<(String, String, bool)> {
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
pub(super) async fn attach(
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

/// `vulnerability.found` for `findings` of one image (worst first, at most 50 listed).
pub(super) async fn emit_found(app: &App, subject: &str, findings: &[&Finding], newly: bool) {
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
