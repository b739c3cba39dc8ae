//! The scan conditions of a trust policy answered from this registry's own scans
//! (`scanner.rs`): the bridge between `zoll-policy`'s [`ScanGate`] seam and `zoll-scan`'s
//! verdicts. An image that was not scanned (yet), failed its scan or is encrypted has no
//! result, so every scan condition on it is unavailable and the policy fails closed; so is a
//! vulnerability condition on a scan that ran without a vulnerability database.

use std::sync::Arc;

use zoll_oci::{Digest, RepoName};
use zoll_policy::scan::{BoxFuture, ScanCondition, ScanGate, ScanVerdict};
use zoll_store::Store;

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
        match crate::scanner::gate_inputs(&self.store, &repo, subject).await {
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
}
