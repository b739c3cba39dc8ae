//! zoll's trust policy: the policy file ([`PolicySet`]) and the one evaluator both gates
//! use — the registry's pull path and the Kubernetes admission webhook — to answer "may this
//! digest be pulled / deployed, and if not, exactly why". The answer is a [`Decision`] that
//! carries every check behind it.
//!
//! Layers: [`evaluate::evaluate`] is pure (a policy set, a target and the evidence: the
//! verifier's reports and scan verdicts); [`Engine`] gathers the evidence through a
//! [`SignatureSource`] (the store inside the registry, `zoll-client` elsewhere), verifies it
//! with `zoll_trust::verify::verify_subject`, caches decisions by digest, signature set and
//! policy version, and coalesces identical concurrent questions.

#![forbid(unsafe_code)]

pub mod admission;
mod cache;
pub mod decision;
pub mod document;
mod engine;
pub mod evaluate;
pub mod glob;
pub mod identity;
pub mod scan;
pub mod source;

use serde::Serialize;

pub use decision::{Check, CheckKind, Decision, Outcome};
pub use document::{DefaultAction, Policy, PolicySet};
pub use engine::{Engine, EngineStats, MAX_CONCURRENT_DECISIONS, Signatures, Target, watch_policy};
pub use scan::{NoScanner, ScanCondition, ScanGate, ScanVerdict};
pub use source::{ClientSource, SignatureIndex, SignatureSource};

/// The signed claim that names a pipeline stage (`zoll sign --stage ci` signs `stage=ci`).
pub const STAGE_CLAIM: &str = "stage";

/// Where a decision is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    /// The registry's manifest GET/HEAD.
    Pull,
    /// The Kubernetes admission webhook.
    Admission,
}

impl Gate {
    pub fn parse(s: &str) -> Option<Gate> {
        match s {
            "pull" => Some(Gate::Pull),
            "admission" => Some(Gate::Admission),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Pull => "pull",
            Gate::Admission => "admission",
        }
    }
}

/// Errors at the crate boundary.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    /// The policy file (or a file it names) is invalid.
    #[error("policy {path}: {reason}")]
    Invalid { path: String, reason: String },
    /// The signatures or the image could not be read; no decision was made.
    #[error("cannot read {what}: {reason}")]
    Source { what: String, reason: String },
    /// There is more evidence than is judged (`zoll_trust::signatures`' bounds): the engine
    /// refuses with `reason`.
    #[error("{what}: {reason}")]
    Excess { what: String, reason: String },
}
