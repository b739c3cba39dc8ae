//! Conditions a gate (the registry's pull path, the admission webhook) can require of an
//! image's stored reports, each answering with the exact reason when it is not met.

use serde::{Deserialize, Serialize};

use super::matcher::Finding;
use super::severity::Severity;
use crate::lint::{Level, LintReport};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "kebab-case")]
pub enum Condition {
    /// No unsuppressed finding at or above this severity ("no critical vulnerability without a
    /// VEX statement or an allowlist entry" is `max-severity: CRITICAL`).
    NoVulnerabilityAtOrAbove { severity: Severity },
    /// The lint's worst level is below this one (`FATAL` forbids fatal findings only).
    LintBelow { level: Level },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    Met,
    NotMet {
        /// One line for the denial message.
        reason: String,
        /// The CVEs / advisory ids or lint codes that caused it, worst first.
        causes: Vec<String>,
    },
}

pub fn evaluate(condition: &Condition, findings: &[Finding], lint: &LintReport) -> Verdict {
    match condition {
        Condition::NoVulnerabilityAtOrAbove { severity } => {
            let bad: Vec<&Finding> = findings
                .iter()
                .filter(|f| f.suppressed.is_none() && f.severity >= *severity)
                .collect();
            if bad.is_empty() {
                return Verdict::Met;
            }
            let mut causes: Vec<String> = Vec::new();
            for f in &bad {
                if !causes.contains(&f.id) {
                    causes.push(f.id.clone());
                }
            }
            let first = bad[0];
            Verdict::NotMet {
                reason: format!(
                    "{} {} in {} {} has no VEX statement or allowlist entry{}",
                    first.severity.as_str(),
                    first.id,
                    first.package,
                    first.version,
                    if causes.len() > 1 {
                        format!(" (and {} more)", causes.len() - 1)
                    } else {
                        String::new()
                    }
                ),
                causes,
            }
        }
        Condition::LintBelow { level } => {
            let bad: Vec<_> = lint
                .results
                .iter()
                .filter(|r| r.level >= *level && r.level > Level::Pass)
                .collect();
            if bad.is_empty() {
                Verdict::Met
            } else {
                Verdict::NotMet {
                    reason: format!("lint {} {:?}: {}", bad[0].code, bad[0].level, bad[0].title),
                    causes: bad.iter().map(|r| r.code.clone()).collect(),
                }
            }
        }
    }
}
