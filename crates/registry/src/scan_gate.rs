//! The scan conditions of a trust policy answered from this registry's own scans
//! (`scanner/`): the bridge between `zoll-policy`'s [`ScanGate`] seam and `zoll-scan`'s
//! verdicts. An image that was not scanned (yet), failed its scan or is encrypted has no
//! result, so every scan condition on it is unavailable and the policy fails closed; so is a
//! vulnerability condition on a scan that ran without a vulnerability database.

use std::sync::Arc;

use zoll_oci::{Digest, RepoName};
use zoll_policy::scan::{BoxFuture, ScanCondition, ScanGate, ScanVerdict};
use zoll_scan::vuln::Finding;
use zoll_store::{Store, StoreError};

pub struct StoreScanGate {
    store: Arc<Store>,
}

impl StoreScanGate {
    pub fn new(store: Arc<Store>) -> StoreScanGate {
        StoreScanGate { store }
    }

    async fn verdict(
        &self,
        repository: &str,
        subject: &Digest,
        condition: &ScanCondition,
    ) -> ScanVerdict {
        let unavailable = |reason: String| ScanVerdict::Unavailable { reason };
        // The policy's condition and the scanner's have the same JSON shape (scan.rs in
        // zoll-policy says so); anything the scanner does not know is not met.
        let condition: zoll_scan::vuln::Condition =
            match serde_json::to_value(condition).and_then(serde_json::from_value) {
                Ok(c) => c,
                Err(e) => return unavailable(format!("the scanner cannot judge {condition}: {e}")),
            };
        let repo = match RepoName::parse(repository, 255) {
            Ok(r) => r,
            Err(e) => return unavailable(e.to_string()),
        };
        match gate_inputs(&self.store, &repo, subject).await {
            Ok(Some(scan))
                if scan.db_version.is_none()
                    && matches!(
                        condition,
                        zoll_scan::vuln::Condition::NoVulnerabilityAtOrAbove { .. }
                    ) =>
            {
                unavailable(format!(
                    "{subject} was scanned without a vulnerability database"
                ))
            }
            Ok(Some(scan)) => {
                match zoll_scan::vuln::evaluate(&condition, &scan.findings, &scan.lint) {
                    zoll_scan::vuln::Verdict::Met => ScanVerdict::Met,
                    zoll_scan::vuln::Verdict::NotMet { reason, causes } => {
                        ScanVerdict::NotMet { reason, causes }
                    }
                }
            }
            Ok(None) => unavailable(format!("{subject} has no finished scan in {repository}")),
            Err(e) => unavailable(format!("scan results of {subject} cannot be read: {e}")),
        }
    }
}

impl ScanGate for StoreScanGate {
    fn check<'a>(
        &'a self,
        repository: &'a str,
        subject: &'a Digest,
        condition: &'a ScanCondition,
    ) -> BoxFuture<'a, ScanVerdict> {
        Box::pin(self.verdict(repository, subject, condition))
    }

    fn report_types(&self) -> &[&str] {
        &[
            zoll_scan::report::ARTIFACT_CYCLONEDX,
            zoll_scan::report::ARTIFACT_VULNERABILITIES,
        ]
    }
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
