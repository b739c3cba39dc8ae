//! The pure evaluator: a policy set, a target and the evidence in; a [`Decision`] out. No
//! I/O, no clock (the verifier already applied the time), so the same evidence always gives
//! the same decision.

use std::collections::BTreeMap;

use zoll_oci::Digest;
use zoll_trust::verify::{Accepted, Report};

use crate::decision::{Check, CheckKind, Decision, Outcome};
use crate::document::{DefaultAction, Policy, PolicySet};
use crate::identity::{IdentitySet, LeafAttributes, attributes_of, describe_identity, signer_key};
use crate::scan::{ScanCondition, ScanVerdict};
use crate::{Gate, STAGE_CLAIM};

/// Everything the checks look at, gathered and verified by the engine.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// `verify_subject` with the policy set's own roots.
    pub report: Report,
    /// Leaf subject attributes of accepted X.509 signers, by leaf thumbprint.
    pub leaves: LeafAttributes,
    /// Per policy with a Notation trust policy: `verify_subject` with those roots.
    pub notation: BTreeMap<String, Report>,
    /// The scanner's verdicts for the conditions of the applicable policies.
    pub scans: Vec<(ScanCondition, ScanVerdict)>,
}

/// What is being decided.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub gate: Gate,
    /// The registry host as the client named it.
    pub registry: &'a str,
    pub repository: &'a str,
    pub subject: &'a Digest,
}

fn check(policy: Option<&Policy>, kind: CheckKind, outcome: Outcome, message: String) -> Check {
    Check {
        policy: policy.map(|p| p.name.clone()),
        kind,
        outcome,
        message,
    }
}

/// The decision for a repository no policy covers.
pub fn by_default(set: &PolicySet, q: Question<'_>) -> Decision {
    let action = set.default_for(q.gate);
    let (outcome, verb) = match action {
        DefaultAction::Allow => (Outcome::Info, "allow"),
        DefaultAction::Deny => (Outcome::Fail, "deny"),
    };
    finish(
        set,
        q,
        vec![check(
            None,
            CheckKind::Scope,
            outcome,
            format!(
                "no policy covers {} at the {} gate: default {verb}",
                q.repository,
                q.gate.as_str()
            ),
        )],
    )
}

/// The refusal when there is more evidence than is judged (too many signature referrers,
/// too many bytes): nothing of it is evaluated.
pub fn refused(set: &PolicySet, q: Question<'_>, reason: String) -> Decision {
    finish(
        set,
        q,
        vec![check(None, CheckKind::Evidence, Outcome::Fail, reason)],
    )
}

fn finish(set: &PolicySet, q: Question<'_>, checks: Vec<Check>) -> Decision {
    Decision {
        gate: q.gate,
        registry: q.registry.to_owned(),
        repository: q.repository.to_owned(),
        subject: q.subject.clone(),
        allowed: !checks.iter().any(|c| c.outcome == Outcome::Fail),
        policy_version: set.version.clone(),
        checks,
        provisional: false,
    }
}

/// Evaluates every policy that covers the question's repository at its gate.
pub fn evaluate(set: &PolicySet, q: Question<'_>, evidence: &Evidence) -> Decision {
    let policies = set.applicable(q.gate, q.registry, q.repository);
    if policies.is_empty() {
        return by_default(set, q);
    }
    let names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
    let mut checks = vec![check(
        None,
        CheckKind::Scope,
        Outcome::Info,
        format!(
            "{} at the {} gate is covered by {}: all must hold",
            q.repository,
            q.gate.as_str(),
            names.join(", ")
        ),
    )];
    let signatures: Vec<&Accepted> = evidence
        .report
        .accepted
        .iter()
        .filter(|a| a.is_signature())
        .collect();
    let in_set = |set_name: &str, a: &Accepted| {
        set.identities.get(set_name).is_some_and(|s: &IdentitySet| {
            s.contains(&a.identity, attributes_of(&evidence.leaves, &a.identity))
        })
    };
    for p in &policies {
        for stage in &p.stages {
            let signer = signatures.iter().find(|a| {
                a.claims.get(STAGE_CLAIM) == Some(stage)
                    && set.stage_accepts(
                        stage,
                        &a.identity,
                        attributes_of(&evidence.leaves, &a.identity),
                    )
            });
            checks.push(match signer {
                Some(a) => check(
                    Some(p),
                    CheckKind::Stage {
                        stage: stage.clone(),
                    },
                    Outcome::Pass,
                    format!(
                        "stage '{stage}' signed by {} ({})",
                        describe_identity(&a.identity),
                        a.artifact
                    ),
                ),
                None => check(
                    Some(p),
                    CheckKind::Stage {
                        stage: stage.clone(),
                    },
                    Outcome::Fail,
                    format!("stage '{stage}' has not signed {}", q.subject),
                ),
            });
        }
        for t in &p.thresholds {
            // Distinct signers: a key or leaf certificate counts once however often it signed.
            let mut seen: Vec<String> = Vec::new();
            let mut signers: Vec<String> = Vec::new();
            for a in &signatures {
                let id = signer_key(&a.identity);
                if in_set(&t.identities, a) && !seen.contains(&id) {
                    seen.push(id);
                    signers.push(describe_identity(&a.identity));
                }
            }
            let found = signers.len();
            let kind = CheckKind::Threshold {
                identities: t.identities.clone(),
                required: t.count,
                found,
            };
            let who = if signers.is_empty() {
                "none".to_owned()
            } else {
                signers.join(", ")
            };
            checks.push(if found >= t.count {
                check(
                    Some(p),
                    kind,
                    Outcome::Pass,
                    format!(
                        "{found} of identity set '{}' signed (at least {} required): {who}",
                        t.identities, t.count
                    ),
                )
            } else {
                check(
                    Some(p),
                    kind,
                    Outcome::Fail,
                    format!(
                        "{} of identity set '{}' must sign {}, {found} did ({who})",
                        t.count, t.identities, q.subject
                    ),
                )
            });
        }
        for rule in &p.attestations {
            let found = evidence.report.accepted.iter().find(|a| {
                a.predicate_type.as_deref() == Some(rule.predicate_type.as_str())
                    && in_set(&rule.identities, a)
            });
            let kind = CheckKind::Attestation {
                predicate_type: rule.predicate_type.clone(),
            };
            checks.push(match found {
                Some(a) => check(
                    Some(p),
                    kind,
                    Outcome::Pass,
                    format!(
                        "attestation {} by {} ({})",
                        rule.predicate_type,
                        describe_identity(&a.identity),
                        a.artifact
                    ),
                ),
                None => check(
                    Some(p),
                    kind,
                    Outcome::Fail,
                    format!(
                        "no attestation {} by identity set '{}' for {}",
                        rule.predicate_type, rule.identities, q.subject
                    ),
                ),
            });
        }
        if p.notation.is_some() {
            checks.push(notation_check(p, q, evidence.notation.get(&p.name)));
        }
        for condition in &p.scan {
            let verdict = evidence
                .scans
                .iter()
                .find(|(c, _)| c == condition)
                .map(|(_, v)| v.clone())
                .unwrap_or(ScanVerdict::Unavailable {
                    reason: "not evaluated".into(),
                });
            let kind = CheckKind::Scan {
                condition: condition.clone(),
            };
            checks.push(match verdict {
                ScanVerdict::Met => {
                    check(Some(p), kind, Outcome::Pass, format!("scan: {condition}"))
                }
                ScanVerdict::NotMet { reason, .. } => check(
                    Some(p),
                    kind,
                    Outcome::Fail,
                    format!("scan: {condition} is not met: {reason}"),
                ),
                ScanVerdict::Unavailable { reason } => check(
                    Some(p),
                    kind,
                    Outcome::Fail,
                    format!(
                        "scan: {condition} cannot be checked for {}: {reason}",
                        q.subject
                    ),
                ),
            });
        }
        if !p.needs_signatures() && p.scan.is_empty() {
            checks.push(check(
                Some(p),
                CheckKind::Scope,
                Outcome::Pass,
                "the policy requires nothing".into(),
            ));
        }
    }
    checks.extend(notes(set, &policies, evidence));
    finish(set, q, checks)
}

fn notation_check(p: &Policy, q: Question<'_>, report: Option<&Report>) -> Check {
    let Some(report) = report else {
        return check(
            Some(p),
            CheckKind::Notation,
            Outcome::Fail,
            format!(
                "the Notation trust policy was not evaluated for {}",
                q.subject
            ),
        );
    };
    if report.verification_skipped {
        return check(
            Some(p),
            CheckKind::Notation,
            Outcome::Pass,
            "the Notation trust policy skips verification for this scope".into(),
        );
    }
    match report.accepted.iter().find(|a| a.is_signature()) {
        Some(a) => check(
            Some(p),
            CheckKind::Notation,
            Outcome::Pass,
            format!(
                "trusted by the Notation trust policy: signed by {} ({})",
                describe_identity(&a.identity),
                a.artifact
            ),
        ),
        None => {
            let why: Vec<String> = report
                .rejected
                .iter()
                .map(|r| format!("{} ({})", r.failure, r.artifact))
                .collect();
            let why = if why.is_empty() {
                "no signature".to_owned()
            } else {
                why.join(", ")
            };
            check(
                Some(p),
                CheckKind::Notation,
                Outcome::Fail,
                format!(
                    "the Notation trust policy does not trust {}: {why}",
                    q.subject
                ),
            )
        }
    }
}

/// Signatures that counted for nothing, and why: rejected by the verifier, or a stage claim
/// by a signer that stage does not accept.
fn notes(set: &PolicySet, policies: &[&Policy], evidence: &Evidence) -> Vec<Check> {
    let mut out = Vec::new();
    if !policies.iter().any(|p| p.needs_signatures()) {
        return out;
    }
    for a in evidence.report.accepted.iter().filter(|a| a.is_signature()) {
        let Some(claimed) = a.claims.get(STAGE_CLAIM) else {
            continue;
        };
        let who = describe_identity(&a.identity);
        let message = match set.stages.get(claimed) {
            None => format!(
                "signature {} by {who} claims stage '{claimed}', which the policy does not define",
                a.artifact
            ),
            Some(stage) => {
                let attrs = attributes_of(&evidence.leaves, &a.identity);
                if set.stage_accepts(claimed, &a.identity, attrs) {
                    continue;
                }
                format!(
                    "signature {} by {who} claims stage '{claimed}', but that signer is not in {}: ignored",
                    a.artifact,
                    stage
                        .identities
                        .iter()
                        .map(|s| format!("'{s}'"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            }
        };
        out.push(check(
            None,
            CheckKind::Signature {
                artifact: a.artifact.to_string(),
            },
            Outcome::Info,
            message,
        ));
    }
    for r in &evidence.report.rejected {
        out.push(check(
            None,
            CheckKind::Signature {
                artifact: r.artifact.to_string(),
            },
            Outcome::Info,
            format!("signature {} was not accepted: {}", r.artifact, r.failure),
        ));
    }
    out
}
