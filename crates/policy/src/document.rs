//! The policy file (TOML, `version = 1`): identity sets, stages, and policies scoped by
//! repository pattern and gate. Parsed strictly (unknown keys are errors), validated as a
//! whole (every name it refers to exists, every key and trust store loads) and turned into a
//! [`PolicySet`]. `docs/policy.md` is the reference with examples.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zoll_trust::keys::{self, PublicKey};
use zoll_trust::notation::policy::PolicySet as NotationPolicies;
use zoll_trust::notation::trust_store::{StoreType, TrustStore};
use zoll_trust::verify::{NotationTrust, TrustRoots, TrustedKey};

use crate::glob::Glob;
use crate::identity::{IdentitySet, Matcher, parse_subject};
use crate::scan::{LINT_LEVELS, SEVERITIES, ScanCondition};
use crate::{Gate, PolicyError};

/// Largest policy file (and each file it names) read.
pub const MAX_FILE: u64 = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    version: u32,
    #[serde(default)]
    default: DefaultsDoc,
    trust_store: Option<String>,
    #[serde(default)]
    identities: BTreeMap<String, IdentitiesDoc>,
    #[serde(default)]
    stages: BTreeMap<String, StageDoc>,
    #[serde(default, rename = "policy")]
    policies: Vec<PolicyDoc>,
    #[serde(default)]
    admission: crate::admission::AdmissionDoc,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsDoc {
    pull: Option<String>,
    admission: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitiesDoc {
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    x509: Vec<X509Doc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct X509Doc {
    trust_store: String,
    subject: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageDoc {
    identities: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    name: String,
    repositories: Vec<String>,
    #[serde(default)]
    registries: Vec<String>,
    gates: Option<Vec<String>>,
    #[serde(default)]
    stages: Vec<String>,
    #[serde(default)]
    thresholds: Vec<ThresholdDoc>,
    #[serde(default)]
    attestations: Vec<AttestationDoc>,
    scan: Option<ScanDoc>,
    notation: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdDoc {
    identities: String,
    count: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestationDoc {
    #[serde(rename = "type")]
    predicate_type: String,
    identities: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanDoc {
    no_vulnerability_at_or_above: Option<String>,
    lint_below: Option<String>,
}

/// What a gate does for a repository no policy covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAction {
    Allow,
    Deny,
}

/// `count` distinct signers out of the identity set `identities`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    pub identities: String,
    pub count: usize,
}

/// An attestation (in-toto predicate type) that one of `identities` must have made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationRule {
    pub predicate_type: String,
    pub identities: String,
}

/// One validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub repositories: Vec<Glob>,
    /// Admission only: registry hosts this policy covers (empty: any). The pull gate is this
    /// registry, whatever host name a client used.
    pub registries: Vec<Glob>,
    pub gates: Vec<Gate>,
    pub stages: Vec<String>,
    pub thresholds: Vec<Threshold>,
    pub attestations: Vec<AttestationRule>,
    pub scan: Vec<ScanCondition>,
    /// Notation's `trustpolicy.json` (with the document's trust store): the image must be
    /// trusted by it, exactly as `notation verify` would decide.
    pub notation: Option<NotationTrust>,
}

impl Policy {
    /// Whether this policy covers `repository` (and, at admission, `registry`) at `gate`.
    pub fn applies(&self, gate: Gate, registry: &str, repository: &str) -> bool {
        self.gates.contains(&gate)
            && self.repositories.iter().any(|g| g.matches(repository))
            && (gate == Gate::Pull
                || self.registries.is_empty()
                || self.registries.iter().any(|g| g.matches(registry)))
    }

    /// Whether the policy needs any signature evidence at all.
    pub fn needs_signatures(&self) -> bool {
        !self.stages.is_empty()
            || !self.thresholds.is_empty()
            || !self.attestations.is_empty()
            || self.notation.is_some()
    }
}

/// A stage and the identity sets whose signatures count for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub name: String,
    pub identities: Vec<String>,
}

/// A loaded, validated policy file.
#[derive(Debug, Clone)]
pub struct PolicySet {
    /// `sha256:<hex>` over the file and everything it loaded (keys, trust store, Notation
    /// policies): changes whenever a decision could.
    pub version: String,
    pub default_pull: DefaultAction,
    pub default_admission: DefaultAction,
    pub identities: BTreeMap<String, IdentitySet>,
    pub stages: BTreeMap<String, Stage>,
    pub policies: Vec<Policy>,
    /// What the verifier trusts for the policy's own checks: every key of every identity set,
    /// and the trust stores of the X.509 matchers (any identity; membership is decided here).
    pub roots: TrustRoots,
    pub admission: crate::admission::AdmissionSettings,
}

impl PolicySet {
    /// Whether a Notation trust policy in it names scopes (`registry/repository`), which
    /// the pull gate can match only if it knows the registry's own name.
    pub fn has_named_notation_scopes(&self) -> bool {
        let named = |n: &NotationTrust| n.policies.has_named_scopes();
        self.roots.notation.as_ref().is_some_and(named)
            || self
                .policies
                .iter()
                .any(|p| p.notation.as_ref().is_some_and(named))
    }

    /// Whether stage `stage` accepts a signature by `identity` (with its leaf certificate's
    /// subject `attributes`, for X.509 signers): the one membership rule of stages, for the
    /// evaluator and for those who show signatures.
    pub fn stage_accepts(
        &self,
        stage: &str,
        identity: &zoll_trust::verify::Identity,
        attributes: Option<&[(String, String)]>,
    ) -> bool {
        self.stages.get(stage).is_some_and(|st| {
            st.identities.iter().any(|set| {
                self.identities
                    .get(set)
                    .is_some_and(|s| s.contains(identity, attributes))
            })
        })
    }

    /// Reads and validates a policy file; paths in it are relative to its directory.
    pub fn load(path: &Path) -> Result<PolicySet, PolicyError> {
        let text = read_bounded(path)?;
        let text = String::from_utf8(text).map_err(|_| PolicyError::Invalid {
            path: path.display().to_string(),
            reason: "not UTF-8".into(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        PolicySet::parse(&text, base).map_err(|e| match e {
            PolicyError::Invalid { path: p, reason } if p.is_empty() => PolicyError::Invalid {
                path: path.display().to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Parses policy text; relative paths resolve against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<PolicySet, PolicyError> {
        let invalid = |reason: String| PolicyError::Invalid {
            path: String::new(),
            reason,
        };
        let doc: Document = toml::from_str(text).map_err(|e| invalid(located(text, &e)))?;
        if doc.version != 1 {
            return Err(invalid(format!(
                "version {} is not supported (use version = 1)",
                doc.version
            )));
        }
        let mut loader = Loader::new(base, text);
        let default_pull = parse_default(doc.default.pull.as_deref()).map_err(&invalid)?;
        let default_admission =
            parse_default(doc.default.admission.as_deref()).map_err(&invalid)?;

        let store = match &doc.trust_store {
            Some(dir) => Some(loader.trust_store(dir)?),
            None => None,
        };
        let mut identities = BTreeMap::new();
        let mut keys: Vec<TrustedKey> = Vec::new();
        let mut x509_stores: BTreeSet<String> = BTreeSet::new();
        for (name, set) in &doc.identities {
            valid_name("identity set", name).map_err(&invalid)?;
            let mut matchers = Vec::new();
            for spec in &set.keys {
                let key = loader.public_key(spec)?;
                let label = key_label(spec);
                if !keys.iter().any(|k| k.key == key) {
                    keys.push(TrustedKey {
                        name: label.clone(),
                        key: key.clone(),
                    });
                }
                matchers.push(Matcher::Key { label, key });
            }
            for x in &set.x509 {
                let store = store.as_ref().ok_or_else(|| {
                    invalid(format!(
                        "identity set {name:?} names trust store {:?}, but the file sets no trust_store directory",
                        x.trust_store
                    ))
                })?;
                let (store_type, store_name) = parse_store_ref(&x.trust_store).map_err(&invalid)?;
                if store.get(store_type, &store_name).is_none() {
                    return Err(invalid(format!(
                        "identity set {name:?}: trust store {:?} does not exist",
                        x.trust_store
                    )));
                }
                x509_stores.insert(format!("{}:{store_name}", store_type.as_str()));
                let subject = parse_subject(&x.subject)
                    .map_err(|e| invalid(format!("identity set {name:?}: {e}")))?;
                matchers.push(Matcher::X509 {
                    store_type,
                    store: store_name,
                    subject,
                });
            }
            if matchers.is_empty() {
                return Err(invalid(format!("identity set {name:?} is empty")));
            }
            identities.insert(
                name.clone(),
                IdentitySet {
                    name: name.clone(),
                    matchers,
                },
            );
        }
        let known_set = |what: &str, set: &str| {
            if identities.contains_key(set) {
                Ok(())
            } else {
                Err(invalid(format!(
                    "{what} names identity set {set:?}, which is not defined"
                )))
            }
        };
        let mut stages = BTreeMap::new();
        for (name, stage) in &doc.stages {
            valid_name("stage", name).map_err(&invalid)?;
            if stage.identities.is_empty() {
                return Err(invalid(format!("stage {name:?} names no identity set")));
            }
            for set in &stage.identities {
                known_set(&format!("stage {name:?}"), set)?;
            }
            stages.insert(
                name.clone(),
                Stage {
                    name: name.clone(),
                    identities: stage.identities.clone(),
                },
            );
        }
        let mut policies = Vec::new();
        let mut names = BTreeSet::new();
        for p in &doc.policies {
            let what = format!("policy {:?}", p.name);
            valid_name("policy", &p.name).map_err(&invalid)?;
            if !names.insert(p.name.clone()) {
                return Err(invalid(format!("{what} is defined twice")));
            }
            if p.repositories.is_empty() {
                return Err(invalid(format!("{what} covers no repository")));
            }
            let globs = |v: &[String]| {
                v.iter()
                    .map(|g| Glob::parse(g).map_err(|e| invalid(format!("{what}: {e}"))))
                    .collect::<Result<Vec<_>, _>>()
            };
            let gates = match &p.gates {
                None => vec![Gate::Pull, Gate::Admission],
                Some(g) if g.is_empty() => return Err(invalid(format!("{what} has no gate"))),
                Some(g) => g
                    .iter()
                    .map(|s| {
                        Gate::parse(s).ok_or_else(|| {
                            invalid(format!(
                                "{what}: gate {s:?} is unknown (use pull or admission)"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            for s in &p.stages {
                if !stages.contains_key(s) {
                    return Err(invalid(format!(
                        "{what} requires stage {s:?}, which is not defined"
                    )));
                }
            }
            for t in &p.thresholds {
                known_set(&what, &t.identities)?;
                if t.count == 0 {
                    return Err(invalid(format!(
                        "{what}: a threshold count must be at least 1"
                    )));
                }
                if let Some(cap) = identities[&t.identities].capacity()
                    && t.count > cap
                {
                    return Err(invalid(format!(
                        "{what}: {} of identity set {:?} can never be met (it has {cap} keys)",
                        t.count, t.identities
                    )));
                }
            }
            for a in &p.attestations {
                known_set(&what, &a.identities)?;
                if a.predicate_type.is_empty() {
                    return Err(invalid(format!("{what}: an attestation needs a type")));
                }
            }
            let mut scan = Vec::new();
            if let Some(s) = &p.scan {
                if let Some(sev) = &s.no_vulnerability_at_or_above {
                    let sev = sev.to_ascii_uppercase();
                    if !SEVERITIES.contains(&sev.as_str()) {
                        return Err(invalid(format!(
                            "{what}: severity {sev:?} is unknown (use one of {SEVERITIES:?})"
                        )));
                    }
                    scan.push(ScanCondition::NoVulnerabilityAtOrAbove { severity: sev });
                }
                if let Some(level) = &s.lint_below {
                    let level = level.to_ascii_uppercase();
                    if !LINT_LEVELS.contains(&level.as_str()) {
                        return Err(invalid(format!(
                            "{what}: lint level {level:?} is unknown (use one of {LINT_LEVELS:?})"
                        )));
                    }
                    scan.push(ScanCondition::LintBelow { level });
                }
                if scan.is_empty() {
                    return Err(invalid(format!("{what}: [scan] sets no condition")));
                }
            }
            let notation = match &p.notation {
                None => None,
                Some(file) => {
                    let store = store.clone().ok_or_else(|| {
                        invalid(format!(
                            "{what} uses a Notation trust policy, but the file sets no trust_store directory"
                        ))
                    })?;
                    let bytes = loader.file(file)?;
                    let policies = NotationPolicies::parse(&bytes, &store)
                        .map_err(|e| invalid(format!("{what}: {file}: {e}")))?;
                    Some(NotationTrust { store, policies })
                }
            };
            policies.push(Policy {
                name: p.name.clone(),
                repositories: globs(&p.repositories)?,
                registries: globs(&p.registries)?,
                gates,
                stages: p.stages.clone(),
                thresholds: p
                    .thresholds
                    .iter()
                    .map(|t| Threshold {
                        identities: t.identities.clone(),
                        count: t.count,
                    })
                    .collect(),
                attestations: p
                    .attestations
                    .iter()
                    .map(|a| AttestationRule {
                        predicate_type: a.predicate_type.clone(),
                        identities: a.identities.clone(),
                    })
                    .collect(),
                scan,
                notation,
            });
        }
        let admission = crate::admission::AdmissionSettings::from_doc(&doc.admission)
            .map_err(|e| invalid(format!("[admission]: {e}")))?;
        let notation = match (&store, x509_stores.is_empty()) {
            (Some(store), false) => Some(NotationTrust {
                store: store.clone(),
                policies: own_notation_policy(&x509_stores, store)?,
            }),
            _ => None,
        };
        Ok(PolicySet {
            version: loader.version(),
            default_pull,
            default_admission,
            identities,
            stages,
            policies,
            roots: TrustRoots {
                keys,
                notation,
                understood_critical: Vec::new(),
            },
            admission,
        })
    }

    /// The policies that cover `repository` at `gate` (the registry host matters only at
    /// admission), in file order. Every one of them must be satisfied.
    pub fn applicable(&self, gate: Gate, registry: &str, repository: &str) -> Vec<&Policy> {
        self.policies
            .iter()
            .filter(|p| p.applies(gate, registry, repository))
            .collect()
    }

    pub fn default_for(&self, gate: Gate) -> DefaultAction {
        match gate {
            Gate::Pull => self.default_pull,
            Gate::Admission => self.default_admission,
        }
    }
}

/// The verifier's Notation policy for the policy file's own X.509 identities: every store
/// an identity set names, strict verification, any identity (membership is the policy's
/// decision, made on the leaf's subject attributes).
fn own_notation_policy(
    stores: &BTreeSet<String>,
    store: &TrustStore,
) -> Result<NotationPolicies, PolicyError> {
    let doc = serde_json::json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "zoll-policy",
            "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"},
            "trustStores": stores.iter().collect::<Vec<_>>(),
            "trustedIdentities": ["*"],
        }],
    });
    NotationPolicies::parse(doc.to_string().as_bytes(), store).map_err(|reason| {
        PolicyError::Invalid {
            path: String::new(),
            reason,
        }
    })
}

fn parse_default(s: Option<&str>) -> Result<DefaultAction, String> {
    match s {
        None | Some("allow") => Ok(DefaultAction::Allow),
        Some("deny") => Ok(DefaultAction::Deny),
        Some(other) => Err(format!("default {other:?}: use allow or deny")),
    }
}

fn parse_store_ref(s: &str) -> Result<(StoreType, String), String> {
    let (ty, name) = s
        .split_once(':')
        .ok_or_else(|| format!("trust store {s:?} must be TYPE:NAME (e.g. ca:corp)"))?;
    let ty = StoreType::parse(ty)
        .filter(|t| *t != StoreType::Tsa)
        .ok_or_else(|| format!("trust store type {ty:?}: use ca or signingAuthority"))?;
    Ok((ty, name.to_owned()))
}

fn valid_name(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} name {name:?}: use 1-64 letters, digits, '.', '_' or '-'"
        ))
    }
}

/// How a key is named in reports: the file name or the URI without its query (no PIN).
fn key_label(spec: &str) -> String {
    if spec.starts_with("-----BEGIN") {
        return "inline key".into();
    }
    spec.split('?').next().unwrap_or(spec).to_owned()
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, PolicyError> {
    use std::io::Read;
    let io = |e: std::io::Error| PolicyError::Invalid {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(PolicyError::Invalid {
            path: path.display().to_string(),
            reason: format!("larger than {MAX_FILE} bytes"),
        });
    }
    Ok(bytes)
}

/// Loads what the document names, hashing everything into the policy version.
struct Loader {
    base: PathBuf,
    hasher: zoll_oci::Hasher,
}

impl Loader {
    fn new(base: &Path, text: &str) -> Loader {
        let mut hasher = zoll_oci::Hasher::new(zoll_oci::Algorithm::Sha256);
        hasher.update(text.as_bytes());
        Loader {
            base: base.to_path_buf(),
            hasher,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.base.join(p)
    }

    fn file(&mut self, p: &str) -> Result<Vec<u8>, PolicyError> {
        let bytes = read_bounded(&self.path(p))?;
        self.hasher.update(&(bytes.len() as u64).to_be_bytes());
        self.hasher.update(&bytes);
        Ok(bytes)
    }

    /// A PEM public key or certificate file, an inline PEM block, or a `pkcs11:` URI.
    fn public_key(&mut self, spec: &str) -> Result<PublicKey, PolicyError> {
        let invalid = |reason: String| PolicyError::Invalid {
            path: String::new(),
            reason: format!("key {}: {reason}", key_label(spec)),
        };
        let key = if spec.starts_with("pkcs11:") {
            keys::open_key(spec)
                .map_err(|e| invalid(e.to_string()))?
                .public_key()
                .clone()
        } else {
            let bytes = if spec.starts_with("-----BEGIN") {
                spec.as_bytes().to_vec()
            } else {
                self.file(spec)?
            };
            match PublicKey::from_pem(&bytes) {
                Ok(k) => k,
                Err(_) => {
                    let chain = keys::certificates_from_pem(&bytes)
                        .map_err(|_| invalid("expected a PEM PUBLIC KEY or CERTIFICATE".into()))?;
                    zoll_trust::x509::Certificate::from_der(&chain[0])
                        .map_err(invalid)?
                        .public_key()
                        .clone()
                }
            }
        };
        self.hasher.update(key.spki_der());
        Ok(key)
    }

    fn trust_store(&mut self, dir: &str) -> Result<TrustStore, PolicyError> {
        let root = self.path(dir);
        let store = TrustStore::load(&root).map_err(|e| PolicyError::Invalid {
            path: String::new(),
            reason: e.to_string(),
        })?;
        // The store's certificates decide trust: hash its files (x509/TYPE/NAME/FILE).
        let mut files = Vec::new();
        for ty in ["ca", "signingAuthority", "tsa"] {
            let Ok(names) = std::fs::read_dir(root.join("x509").join(ty)) else {
                continue;
            };
            for name in names.flatten() {
                if let Ok(entries) = std::fs::read_dir(name.path()) {
                    files.extend(entries.flatten().map(|e| e.path()));
                }
            }
        }
        files.sort();
        for f in files {
            let bytes = read_bounded(&f)?;
            self.hasher.update(f.to_string_lossy().as_bytes());
            self.hasher.update(&bytes);
        }
        Ok(store)
    }

    fn version(self) -> String {
        self.hasher.finish().to_string()
    }
}

/// A TOML error as "line L, column C: what", from the error's span (the message alone does
/// not say where in a long policy file the mistake is).
fn located(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("line {line}, column {column}: {}", e.message())
        }
        None => e.message().to_owned(),
    }
}
