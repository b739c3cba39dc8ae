//! `trustpolicy.json` in notation's own format (version 1.0): which policy applies to a
//! repository, at which verification level, with which trust stores and identities.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use super::trust_store::{StoreType, TrustStore};

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustPolicyDocument {
    pub version: String,
    pub trust_policies: Vec<TrustPolicy>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustPolicy {
    pub name: String,
    pub registry_scopes: Vec<String>,
    pub signature_verification: SignatureVerification,
    #[serde(default)]
    pub trust_stores: Vec<String>,
    #[serde(default)]
    pub trusted_identities: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureVerification {
    pub level: String,
    #[serde(default, rename = "override")]
    pub overrides: BTreeMap<String, String>,
    #[serde(default, rename = "verifyTimestamp")]
    pub verify_timestamp: Option<String>,
}

/// The checks of the Notary Project's trust policy, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Check {
    Integrity,
    Authenticity,
    AuthenticTimestamp,
    Expiry,
    Revocation,
}

/// What a failed check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Enforce,
    Log,
    Skip,
}

/// The level, resolved into one action per check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    pub name: String,
    actions: BTreeMap<Check, Action>,
}

impl Level {
    pub fn action(&self, check: Check) -> Action {
        self.actions.get(&check).copied().unwrap_or(Action::Enforce)
    }

    pub fn is_skip(&self) -> bool {
        self.name == "skip"
    }

    fn resolve(v: &SignatureVerification) -> Result<Level, String> {
        use Action::*;
        use Check::*;
        let base: [(Check, Action); 5] = match v.level.as_str() {
            "strict" => [
                (Integrity, Enforce),
                (Authenticity, Enforce),
                (AuthenticTimestamp, Enforce),
                (Expiry, Enforce),
                (Revocation, Enforce),
            ],
            "permissive" => [
                (Integrity, Enforce),
                (Authenticity, Enforce),
                (AuthenticTimestamp, Log),
                (Expiry, Log),
                (Revocation, Log),
            ],
            "audit" => [
                (Integrity, Enforce),
                (Authenticity, Log),
                (AuthenticTimestamp, Log),
                (Expiry, Log),
                (Revocation, Log),
            ],
            "skip" => [
                (Integrity, Skip),
                (Authenticity, Skip),
                (AuthenticTimestamp, Skip),
                (Expiry, Skip),
                (Revocation, Skip),
            ],
            other => return Err(format!("unknown verification level {other:?}")),
        };
        let mut actions: BTreeMap<Check, Action> = base.into_iter().collect();
        if v.level == "skip" && !v.overrides.is_empty() {
            return Err("level skip takes no override".into());
        }
        for (name, action) in &v.overrides {
            let check = match name.as_str() {
                "authenticity" => Authenticity,
                "authenticTimestamp" => AuthenticTimestamp,
                "expiry" => Expiry,
                "revocation" => Revocation,
                "integrity" => return Err("integrity cannot be overridden".into()),
                other => return Err(format!("unknown check {other:?} in override")),
            };
            let action = match action.as_str() {
                "enforce" => Enforce,
                "log" => Log,
                "skip" => Skip,
                other => return Err(format!("unknown action {other:?} in override")),
            };
            actions.insert(check, action);
        }
        Ok(Level {
            name: v.level.clone(),
            actions,
        })
    }
}

/// A trusted identity: `*` or the attributes of an `x509.subject:` distinguished name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedIdentity {
    Any,
    Subject(Vec<(String, String)>),
}

impl TrustedIdentity {
    fn parse(s: &str) -> Result<TrustedIdentity, String> {
        if s == "*" {
            return Ok(TrustedIdentity::Any);
        }
        let dn = s.strip_prefix("x509.subject:").ok_or_else(|| {
            format!("trusted identity {s:?} must be \"*\" or start with \"x509.subject:\"")
        })?;
        let mut attrs = Vec::new();
        for part in dn.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("identity part {part:?} has no '='"))?;
            attrs.push((k.trim().to_ascii_uppercase(), v.trim().to_owned()));
        }
        // The Notary Project requires country, state and organization in an identity.
        for required in ["C", "ST", "O"] {
            if !attrs.iter().any(|(k, _)| k == required) {
                return Err(format!(
                    "trusted identity {s:?} lacks the {required} attribute"
                ));
            }
        }
        Ok(TrustedIdentity::Subject(attrs))
    }

    /// Whether a certificate subject (its attributes) matches: every attribute named in the
    /// identity is present with the same value.
    pub fn matches(&self, subject: &[(String, String)]) -> bool {
        match self {
            TrustedIdentity::Any => true,
            TrustedIdentity::Subject(want) => want.iter().all(|w| subject.iter().any(|s| s == w)),
        }
    }
}

/// A validated policy, ready to evaluate.
#[derive(Debug, Clone)]
pub struct ResolvedPolicy {
    pub name: String,
    pub level: Level,
    pub trust_stores: Vec<(StoreType, String)>,
    pub identities: Vec<TrustedIdentity>,
}

/// The whole validated policy document.
#[derive(Debug, Clone)]
pub struct PolicySet {
    scoped: Vec<(String, ResolvedPolicy)>,
    wildcard: Option<ResolvedPolicy>,
}

impl PolicySet {
    /// Parses and validates `trustpolicy.json`, checking that every referenced store exists.
    pub fn parse(bytes: &[u8], store: &TrustStore) -> Result<PolicySet, String> {
        let doc: TrustPolicyDocument =
            serde_json::from_slice(bytes).map_err(|e| format!("trust policy JSON: {e}"))?;
        if doc.version != "1.0" {
            return Err(format!(
                "trust policy version {:?} is not supported (use \"1.0\")",
                doc.version
            ));
        }
        let mut names = HashSet::new();
        let mut scopes = HashSet::new();
        let mut set = PolicySet {
            scoped: Vec::new(),
            wildcard: None,
        };
        for p in doc.trust_policies {
            if !names.insert(p.name.clone()) {
                return Err(format!("policy name {:?} is used twice", p.name));
            }
            let level = Level::resolve(&p.signature_verification)
                .map_err(|e| format!("policy {:?}: {e}", p.name))?;
            let mut trust_stores = Vec::new();
            for s in &p.trust_stores {
                let (ty, name) = s
                    .split_once(':')
                    .ok_or_else(|| format!("trust store {s:?} must be TYPE:NAME"))?;
                let ty = StoreType::parse(ty)
                    .ok_or_else(|| format!("trust store type {ty:?} is unknown"))?;
                if store.get(ty, name).is_none() {
                    return Err(format!(
                        "policy {:?} names trust store {s:?}, which does not exist",
                        p.name
                    ));
                }
                trust_stores.push((ty, name.to_owned()));
            }
            let identities = p
                .trusted_identities
                .iter()
                .map(|i| TrustedIdentity::parse(i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("policy {:?}: {e}", p.name))?;
            if identities.len() > 1 && identities.contains(&TrustedIdentity::Any) {
                return Err(format!(
                    "policy {:?}: \"*\" must be the only trusted identity",
                    p.name
                ));
            }
            if !level.is_skip() && (trust_stores.is_empty() || identities.is_empty()) {
                return Err(format!(
                    "policy {:?} needs trustStores and trustedIdentities",
                    p.name
                ));
            }
            let resolved = ResolvedPolicy {
                name: p.name.clone(),
                level,
                trust_stores,
                identities,
            };
            for scope in &p.registry_scopes {
                if !scopes.insert(scope.clone()) {
                    return Err(format!("registry scope {scope:?} appears in two policies"));
                }
                if scope == "*" {
                    if p.registry_scopes.len() > 1 {
                        return Err(format!(
                            "policy {:?}: \"*\" must be its only registry scope",
                            p.name
                        ));
                    }
                    set.wildcard = Some(resolved.clone());
                } else {
                    set.scoped.push((scope.clone(), resolved.clone()));
                }
            }
        }
        Ok(set)
    }

    /// Whether any policy names a scope (`registry/repository`) rather than `*`.
    pub fn has_named_scopes(&self) -> bool {
        !self.scoped.is_empty()
    }

    /// The policy for `scope` (`registry/repository`): an exact scope wins over `*`.
    pub fn for_scope(&self, scope: &str) -> Option<&ResolvedPolicy> {
        self.scoped
            .iter()
            .find(|(s, _)| s == scope)
            .map(|(_, p)| p)
            .or(self.wildcard.as_ref())
    }
}
