//! The engine both gates call: pick the policies for the question, gather the evidence
//! through a [`SignatureSource`], verify it with `zoll-trust`, ask the [`ScanGate`], and
//! evaluate — remembering the decision by everything it depends on.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use zoll_oci::Descriptor;
use zoll_trust::verify::{Identity, Report, SignatureArtifact, TrustRoots, verify_subject};

use crate::cache::{DecisionCache, Key, Provenance};
use crate::decision::{Check, CheckKind, Decision, Outcome};
use crate::document::PolicySet;
use crate::evaluate::{Evidence, Question, by_default, evaluate, refused};
use crate::identity::LeafAttributes;
use crate::scan::{NoScanner, ScanGate, ScanVerdict};
use crate::source::{SignatureIndex, SignatureSource};
use crate::{Gate, PolicyError};

/// What to decide about.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub gate: Gate,
    /// The registry host as the client named it (`oci:DIR` for a layout).
    pub registry: &'a str,
    pub repository: &'a str,
    pub subject: &'a Descriptor,
}

/// Counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Decisions computed (evidence loaded and verified).
    pub computed: u64,
    pub cache_hits: u64,
    /// Callers that waited for an identical computation instead of starting their own.
    pub coalesced: u64,
}

/// Every signature of a subject as [`Engine::signatures`] verified it.
#[derive(Debug, Clone)]
pub struct Signatures {
    pub report: Report,
    /// For each of `report.accepted` (same order): the stage its signed claim names, and
    /// whether that stage accepts its signer (a stage the policy does not define accepts
    /// nobody); `None` without a stage claim.
    pub stages: Vec<Option<(String, bool)>>,
}

/// Most indexes consulted for a platform manifest that fails on its own.
const MAX_PARENTS: usize = 16;

/// Most decisions computed at once (evidence loaded and verified); the others wait. One
/// decision holds up to `zoll_trust::signatures::MAX_EVIDENCE` bytes, so this bounds the
/// memory of many first pulls of distinct images at once (cached and coalesced answers
/// do not count).
pub const MAX_CONCURRENT_DECISIONS: usize = 4;

pub struct Engine {
    set: RwLock<Arc<PolicySet>>,
    scan: Arc<dyn ScanGate>,
    cache: DecisionCache,
    computed: AtomicU64,
    cache_hits: AtomicU64,
    coalesced: AtomicU64,
    computing: tokio::sync::Semaphore,
}

impl Engine {
    /// An engine over `set` without a scanner, caching decisions for 30 seconds.
    pub fn new(set: PolicySet) -> Engine {
        Engine::with(set, Arc::new(NoScanner), Duration::from_secs(30))
    }

    /// `cache_ttl` zero turns the decision cache off (identical concurrent questions are
    /// still coalesced).
    pub fn with(set: PolicySet, scan: Arc<dyn ScanGate>, cache_ttl: Duration) -> Engine {
        Engine {
            set: RwLock::new(Arc::new(set)),
            scan,
            cache: DecisionCache::new(cache_ttl, 50_000),
            computed: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            computing: tokio::sync::Semaphore::new(MAX_CONCURRENT_DECISIONS),
        }
    }

    pub fn policy(&self) -> Arc<PolicySet> {
        self.set.read().expect("not poisoned").clone()
    }

    /// Replaces the policy. Cached decisions carry the version they were made under, so none
    /// of the old ones is used again.
    pub fn replace(&self, set: PolicySet) {
        *self.set.write().expect("not poisoned") = Arc::new(set);
        self.cache.clear();
    }

    pub fn stats(&self) -> EngineStats {
        EngineStats {
            computed: self.computed.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
        }
    }

    /// The decision for `target`. At the pull gate a manifest that fails on its own is
    /// allowed when an index in the repository that contains it satisfies the policy.
    pub async fn decide(
        &self,
        target: Target<'_>,
        source: &dyn SignatureSource,
    ) -> Result<Decision, PolicyError> {
        let set = self.policy();
        let decision = self.decide_one(&set, target, source).await?;
        if decision.allowed
            || target.gate != Gate::Pull
            || set
                .applicable(target.gate, target.registry, target.repository)
                .is_empty()
        {
            return Ok(decision);
        }
        let parents = source
            .parents(
                target.registry,
                target.repository,
                &target.subject.digest,
                MAX_PARENTS,
            )
            .await?;
        for parent in parents.iter().take(MAX_PARENTS) {
            let via = self
                .decide_one(
                    &set,
                    Target {
                        subject: parent,
                        ..target
                    },
                    source,
                )
                .await?;
            if via.allowed {
                let mut checks = vec![Check {
                    policy: None,
                    kind: CheckKind::Index {
                        index: parent.digest.to_string(),
                    },
                    outcome: Outcome::Pass,
                    message: format!(
                        "{} is part of index {}, which satisfies the policy",
                        target.subject.digest, parent.digest
                    ),
                }];
                checks.extend(via.checks);
                return Ok(Decision {
                    allowed: true,
                    checks,
                    ..decision
                });
            }
        }
        Ok(decision)
    }

    async fn decide_one(
        &self,
        set: &Arc<PolicySet>,
        target: Target<'_>,
        source: &dyn SignatureSource,
    ) -> Result<Decision, PolicyError> {
        let q = Question {
            gate: target.gate,
            registry: target.registry,
            repository: target.repository,
            subject: &target.subject.digest,
        };
        let policies = set.applicable(target.gate, target.registry, target.repository);
        if policies.is_empty() {
            return Ok(by_default(set, q));
        }
        // A Notation scope names a registry; without the registry's name the exact scope
        // could never match and the `*` policy (perhaps `skip`) would decide instead.
        if target.registry.is_empty() && set.has_named_notation_scopes() {
            return Err(PolicyError::Invalid {
                path: "[policy]".into(),
                reason: "a Notation trust policy names scopes, but the gate does not know this \
                         registry's name: set [policy] registry"
                    .into(),
            });
        }
        let needs_signatures = policies.iter().any(|p| p.needs_signatures());
        // Scan conditions need the referrer list too, though no signature is loaded: a
        // finished scan attaches its reports as referrers, and the cached decision must end
        // with it (without this, a policy of scan conditions alone kept answering "no
        // finished scan" for the whole cache TTL after the scan finished).
        let has_scan = policies.iter().any(|p| !p.scan.is_empty());
        let index = if needs_signatures || has_scan {
            let also = if has_scan {
                self.scan.report_types()
            } else {
                &[]
            };
            let listed = source
                .index(target.registry, target.repository, target.subject, also)
                .await;
            match listed {
                Err(PolicyError::Excess { reason, .. }) => return Ok(refused(set, q, reason)),
                listed => listed?,
            }
        } else {
            SignatureIndex::default()
        };
        let key = Key {
            gate: target.gate,
            registry: target.registry.to_owned(),
            repository: target.repository.to_owned(),
            subject: target.subject.digest.to_string(),
            signatures: fingerprint(&index),
            policy_version: set.version.clone(),
        };
        let compute = async {
            let _turn = self.computing.acquire().await.expect("never closed");
            let artifacts = if needs_signatures {
                let loaded = source
                    .load(target.registry, target.repository, &index)
                    .await;
                match loaded {
                    // The same listing always exceeds the same way: cached like any.
                    Err(PolicyError::Excess { reason, .. }) => return Ok(refused(set, q, reason)),
                    loaded => loaded?,
                }
            } else {
                Vec::new()
            };
            let evidence = self.gather(set, target, &artifacts).await;
            let mut decision = evaluate(set, q, &evidence);
            decision.provisional = evidence
                .scans
                .iter()
                .any(|(_, v)| matches!(v, ScanVerdict::Unavailable { .. }));
            Ok(decision)
        };
        let (result, provenance) = self.cache.get_or_compute(key, compute).await;
        let counter = match provenance {
            Provenance::Cached => &self.cache_hits,
            Provenance::Computed => &self.computed,
            Provenance::Coalesced => &self.coalesced,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Every signature artifact of `target.subject` verified against the policy's roots,
    /// each on its own (what the console lists: format, signer, or why it did not count).
    /// The evidence is read as a decision reads it, within the same bounds and the same
    /// bound on concurrent loads; nothing is cached.
    pub async fn signatures(
        &self,
        target: Target<'_>,
        source: &dyn SignatureSource,
    ) -> Result<Signatures, PolicyError> {
        let set = self.policy();
        let index = source
            .index(target.registry, target.repository, target.subject, &[])
            .await?;
        let artifacts = {
            let _turn = self.computing.acquire().await.expect("never closed");
            source
                .load(target.registry, target.repository, &index)
                .await?
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let scope = format!("{}/{}", target.registry, target.repository);
        let report = verify_each(&set.roots, target.subject, &scope, &artifacts, now);
        let leaves = leaf_attributes(&report, &artifacts);
        let stages = report
            .accepted
            .iter()
            .map(|a| {
                let claimed = a.claims.get(crate::STAGE_CLAIM)?;
                let attrs = crate::identity::attributes_of(&leaves, &a.identity);
                Some((
                    claimed.clone(),
                    set.stage_accepts(claimed, &a.identity, attrs),
                ))
            })
            .collect();
        Ok(Signatures { report, stages })
    }

    /// Verifies the artifacts against the policy's roots (and each Notation trust policy),
    /// and asks the scanner about every scan condition of the applicable policies.
    async fn gather(
        &self,
        set: &PolicySet,
        target: Target<'_>,
        artifacts: &[SignatureArtifact],
    ) -> Evidence {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let scope = format!("{}/{}", target.registry, target.repository);
        let report = verify_each(&set.roots, target.subject, &scope, artifacts, now);
        let leaves = leaf_attributes(&report, artifacts);
        let policies = set.applicable(target.gate, target.registry, target.repository);
        let mut notation = BTreeMap::new();
        let mut conditions = Vec::new();
        for p in &policies {
            if let Some(n) = &p.notation {
                let roots = TrustRoots {
                    notation: Some(n.clone()),
                    ..TrustRoots::default()
                };
                notation.insert(
                    p.name.clone(),
                    verify_subject(&roots, target.subject, &scope, artifacts, now),
                );
            }
            for c in &p.scan {
                if !conditions.contains(c) {
                    conditions.push(c.clone());
                }
            }
        }
        let mut scans = Vec::new();
        for c in conditions {
            let verdict = self
                .scan
                .check(target.repository, &target.subject.digest, &c)
                .await;
            scans.push((c, verdict));
        }
        Evidence {
            report,
            leaves,
            notation,
            scans,
        }
    }
}

/// Verifies every artifact on its own and merges the reports. `verify_subject` counts a
/// signer once per call (a later signature by the same identity is a duplicate), which
/// would make the outcome depend on the order artifacts are listed in when one key signed
/// twice (re-signed after expiry, or signed two stages). The evaluator counts distinct
/// signers itself, so each accepted signature keeps its own claims here.
pub fn verify_each(
    roots: &TrustRoots,
    subject: &Descriptor,
    scope: &str,
    artifacts: &[SignatureArtifact],
    now: i64,
) -> Report {
    let mut merged = Report {
        subject: subject.digest.clone(),
        accepted: Vec::new(),
        rejected: Vec::new(),
        verification_skipped: false,
    };
    for a in artifacts {
        let r = verify_subject(roots, subject, scope, std::slice::from_ref(a), now);
        merged.accepted.extend(r.accepted);
        merged.rejected.extend(r.rejected);
        merged.verification_skipped |= r.verification_skipped;
    }
    merged
}

fn fingerprint(index: &SignatureIndex) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    index.hash(&mut h);
    h.finish()
}

/// The leaf subject attributes of accepted X.509 signers, read from their (already
/// verified) envelopes and matched to the identity by the leaf thumbprint.
pub fn leaf_attributes(report: &Report, artifacts: &[SignatureArtifact]) -> LeafAttributes {
    let mut out = LeafAttributes::new();
    for a in &report.accepted {
        let Identity::X509 { thumbprints, .. } = &a.identity else {
            continue;
        };
        let Some(leaf) = thumbprints.first() else {
            continue;
        };
        if out.contains_key(leaf) {
            continue;
        }
        for artifact in artifacts.iter().filter(|x| x.manifest() == &a.artifact) {
            if let SignatureArtifact::Notation {
                format, envelope, ..
            } = artifact
                && let Ok(info) = format.verify(envelope)
                && let Some(cert) = info.chain.first().filter(|c| c.thumbprint() == *leaf)
            {
                out.insert(leaf.clone(), cert.subject_attributes().to_vec());
            }
        }
    }
    out
}

/// Reloads the policy file every `every` and hands a changed one (a new version: the file
/// or anything it names changed) to the engine, which stops using decisions made under the
/// old one. A file that no longer loads is reported and the old policy stays in force.
pub async fn watch_policy(engine: Arc<Engine>, path: PathBuf, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let p = path.clone();
        let loaded = tokio::task::spawn_blocking(move || PolicySet::load(&p)).await;
        match loaded {
            Ok(Ok(set)) if set.version != engine.policy().version => {
                tracing::info!(path = %path.display(), version = %set.version, "policy reloaded");
                engine.replace(set);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the policy file no longer loads; keeping the old one")
            }
            Err(e) => tracing::warn!(error = %e, "policy reload failed"),
        }
    }
}
