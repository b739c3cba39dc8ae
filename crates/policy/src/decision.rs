//! What the evaluator answers: the decision and every check behind it, in an order a person
//! can read top to bottom (`zoll policy explain`), and one line for a denial.

use serde::Serialize;
use zoll_oci::Digest;

use crate::Gate;
use crate::scan::ScanCondition;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// Not a requirement: what was noticed on the way (a rejected signature, a stage claim
    /// by a signer the stage does not accept).
    Info,
}

/// What a check looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "check", rename_all = "kebab-case")]
pub enum CheckKind {
    /// Which policies cover the repository at this gate (or the default when none does).
    Scope,
    Stage {
        stage: String,
    },
    Threshold {
        identities: String,
        required: usize,
        found: usize,
    },
    Attestation {
        predicate_type: String,
    },
    Notation,
    Scan {
        condition: ScanCondition,
    },
    /// A signature artifact that counted for nothing.
    Signature {
        artifact: String,
    },
    /// The signature evidence is more than is judged.
    Evidence,
    /// The manifest is allowed because an index containing it satisfies the policy.
    Index {
        index: String,
    },
}

impl CheckKind {
    /// The kind as one word of a fixed set, without what it names (for metric labels).
    pub fn class(&self) -> &'static str {
        match self {
            CheckKind::Scope => "scope",
            CheckKind::Stage { .. } => "stage",
            CheckKind::Threshold { .. } => "threshold",
            CheckKind::Attestation { .. } => "attestation",
            CheckKind::Notation => "notation",
            CheckKind::Scan { .. } => "scan",
            CheckKind::Signature { .. } => "signature",
            CheckKind::Evidence => "evidence",
            CheckKind::Index { .. } => "index",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The policy this check belongs to (`None` for scope and notes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(flatten)]
    pub kind: CheckKind,
    pub outcome: Outcome,
    pub message: String,
}

/// The answer to "may this digest be pulled / deployed?".
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub gate: Gate,
    pub registry: String,
    pub repository: String,
    pub subject: Digest,
    pub allowed: bool,
    pub policy_version: String,
    pub checks: Vec<Check>,
    /// Made while some evidence was not there yet (a scan not finished): right for now, but
    /// never cached, since nothing in the cache key changes when the scan finishes.
    #[serde(skip)]
    pub provisional: bool,
}

impl Decision {
    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Fail)
    }

    /// One line naming everything that is missing (empty when allowed).
    pub fn reason(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        for c in self.failures() {
            if !parts.contains(&c.message.as_str()) {
                parts.push(&c.message);
            }
        }
        parts.join("; ")
    }

    /// The explanation `zoll policy explain` prints.
    pub fn explain(&self) -> String {
        let mut out = format!(
            "{} {}/{}@{} at the {} gate (policy {})\n",
            if self.allowed { "ALLOWED" } else { "DENIED" },
            self.registry,
            self.repository,
            self.subject,
            self.gate.as_str(),
            short_version(&self.policy_version),
        );
        for c in &self.checks {
            let mark = match c.outcome {
                Outcome::Pass => "PASS",
                Outcome::Fail => "FAIL",
                Outcome::Info => "NOTE",
            };
            let policy = c
                .policy
                .as_deref()
                .map(|p| format!("[{p}] "))
                .unwrap_or_default();
            out.push_str(&format!("  {mark} {policy}{}\n", c.message));
        }
        out
    }
}

fn short_version(v: &str) -> &str {
    v.get(..19).unwrap_or(v)
}
