//! The seam for scan conditions. A policy may require what the scanner found about an image
//! (no unsuppressed vulnerability at or above a severity, lint findings below a level); the
//! policy crate does not scan. Whoever runs the scanner implements [`ScanGate`] and hands it
//! to the [`crate::Engine`]; without one ([`NoScanner`]) every scan condition is unmet,
//! so a policy that asks for a clean scan fails closed.
//!
//! The condition names mirror `zoll-scan`'s `vuln::Condition` (`NoVulnerabilityAtOrAbove`,
//! `LintBelow`), with levels as the scanner spells them (`CRITICAL`, `HIGH`, ...; `FATAL`,
//! `WARN`, `INFO`), so its implementation is a translation, not a re-interpretation.

use serde::{Deserialize, Serialize};
use zoll_oci::Digest;

/// Severities in increasing order, as the scanner names them.
pub const SEVERITIES: [&str; 5] = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
/// Lint levels in increasing order (`PASS` is no finding).
pub const LINT_LEVELS: [&str; 3] = ["INFO", "WARN", "FATAL"];

/// One condition on an image's scan results.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "kebab-case")]
pub enum ScanCondition {
    /// No vulnerability without a VEX statement or allowlist entry at or above `severity`.
    NoVulnerabilityAtOrAbove { severity: String },
    /// Every lint finding is below `level`.
    LintBelow { level: String },
}

impl std::fmt::Display for ScanCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanCondition::NoVulnerabilityAtOrAbove { severity } => {
                write!(f, "no vulnerability at or above {severity}")
            }
            ScanCondition::LintBelow { level } => write!(f, "lint findings below {level}"),
        }
    }
}

/// What the scanner says about one condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum ScanVerdict {
    Met,
    /// `reason` is one line for a denial ("CRITICAL CVE-… in libc6 …"); `causes` the
    /// advisory ids or lint codes behind it.
    NotMet {
        reason: String,
        causes: Vec<String>,
    },
    /// No result to judge by (not scanned yet, no scanner): the condition is not met.
    Unavailable {
        reason: String,
    },
}

pub use zoll_trust::repository::BoxFuture;

/// Answers scan conditions for an image. Implemented by the scan integration.
pub trait ScanGate: Send + Sync {
    fn check<'a>(
        &'a self,
        repository: &'a str,
        subject: &'a Digest,
        condition: &'a ScanCondition,
    ) -> BoxFuture<'a, ScanVerdict>;

    /// The artifact types of the referrers a finished scan attaches to an image: a new one
    /// ends the cached decisions about it.
    fn report_types(&self) -> &[&str] {
        &[]
    }
}

/// No scanner configured: every condition is unavailable (and so unmet).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoScanner;

impl ScanGate for NoScanner {
    fn check<'a>(
        &'a self,
        _repository: &'a str,
        _subject: &'a Digest,
        _condition: &'a ScanCondition,
    ) -> BoxFuture<'a, ScanVerdict> {
        Box::pin(async {
            ScanVerdict::Unavailable {
                reason: "no scanner is configured".into(),
            }
        })
    }
}
