//! The quorum keys file (TOML, `version = 1`): which server-held keys exist, who approves
//! their use, how many must, and when. Paths are relative to the file.
//!
//! ```toml
//! version = 1
//! [[key]]
//! name = "prod-release"
//! key = "pkcs11:token=prod;object=release?pin-source=file:/run/zoll/pin"
//! format = "cosign-legacy"          # notation (needs certificate), cosign, cosign-legacy
//! quorum = 2
//! timelock_secs = 3600              # earliest signing after the request; 0 = at quorum
//! expiry_secs = 86400               # the request dies unsigned after this
//! repositories = ["prod/**"]        # what the key may sign
//! approvers = [
//!   { name = "alice", key = "approvers/alice.pub" },
//!   { name = "bob", key = "approvers/bob.crt", account = "bob@corp" },
//!   { name = "carol", key = "approvers/carol.pub" },
//! ]
//! ```
//!
//! Each approver's key is bound to one registry account (`account`, by default the
//! approver's `name`): only that account may send votes signed with it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use zoll_policy::glob::Glob;
use zoll_trust::image::SignatureFormat;
use zoll_trust::keys::{self, KeySource, PublicKey};
use zoll_trust::notation::EnvelopeFormat;

use crate::ApprovalError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    version: u32,
    #[serde(default, rename = "key")]
    keys: Vec<KeyDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDoc {
    name: String,
    key: String,
    certificate: Option<String>,
    format: String,
    quorum: usize,
    #[serde(default)]
    timelock_secs: u64,
    expiry_secs: u64,
    repositories: Vec<String>,
    approvers: Vec<ApproverDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproverDoc {
    name: String,
    key: String,
    /// The account the key is bound to; unset: the account named like the approver.
    account: Option<String>,
}

/// Someone whose signature counts towards a quorum.
#[derive(Debug, Clone)]
pub struct Approver {
    pub name: String,
    pub key: PublicKey,
    /// The registry account whose requests alone may carry this approver's votes; it is
    /// also who the approver is when the requester is compared.
    pub account: String,
}

/// A key the server holds and uses only with a quorum.
pub struct QuorumKey {
    pub name: String,
    pub signer: Box<dyn KeySource>,
    /// DER certificates, leaf first (Notation).
    pub chain: Vec<Vec<u8>>,
    pub format: SignatureFormat,
    pub quorum: usize,
    pub timelock: Duration,
    pub expiry: Duration,
    pub repositories: Vec<Glob>,
    pub approvers: Vec<Approver>,
}

impl std::fmt::Debug for QuorumKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumKey")
            .field("name", &self.name)
            .field("signer", &self.signer.describe())
            .field("quorum", &self.quorum)
            .finish_non_exhaustive()
    }
}

impl QuorumKey {
    pub fn format_name(&self) -> &'static str {
        format_name(self.format)
    }

    pub fn may_sign(&self, repository: &str) -> bool {
        self.repositories.iter().any(|g| g.matches(repository))
    }
}

pub fn format_name(f: SignatureFormat) -> &'static str {
    match f {
        SignatureFormat::Notation(EnvelopeFormat::Jws) => "notation",
        SignatureFormat::Notation(EnvelopeFormat::Cose) => "notation-cose",
        SignatureFormat::CosignBundle => "cosign",
        SignatureFormat::CosignLegacy => "cosign-legacy",
    }
}

/// Longest timelock or expiry accepted (a year).
const MAX_SECS: u64 = 366 * 24 * 3600;
/// Most approvers of one key.
const MAX_APPROVERS: usize = 64;

/// Every configured quorum key, by name.
#[derive(Debug, Default)]
pub struct QuorumKeys {
    pub keys: BTreeMap<String, QuorumKey>,
}

impl QuorumKeys {
    /// Reads the file and opens every key (PKCS#11 keys are found on their token now, so a
    /// wrong URI fails at start-up, not at the first quorum).
    pub fn load(path: &Path) -> Result<QuorumKeys, ApprovalError> {
        let invalid = |reason: String| ApprovalError::Config {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        QuorumKeys::parse(&text, base).map_err(invalid)
    }

    pub fn parse(text: &str, base: &Path) -> Result<QuorumKeys, String> {
        let doc: Document = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        if doc.version != 1 {
            return Err(format!(
                "version {} is not supported (use version = 1)",
                doc.version
            ));
        }
        let resolve = |p: &str| {
            if p.starts_with("pkcs11:") {
                p.to_owned()
            } else {
                base.join(p).display().to_string()
            }
        };
        let mut keys = BTreeMap::new();
        for k in doc.keys {
            let what = format!("key {:?}", k.name);
            if k.name.is_empty()
                || !k
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(format!("{what}: use letters, digits, '.', '_' or '-'"));
            }
            if keys.contains_key(&k.name) {
                return Err(format!("{what} is defined twice"));
            }
            let format = match k.format.as_str() {
                "notation" => SignatureFormat::Notation(EnvelopeFormat::Jws),
                "notation-cose" => SignatureFormat::Notation(EnvelopeFormat::Cose),
                "cosign" => SignatureFormat::CosignBundle,
                "cosign-legacy" => SignatureFormat::CosignLegacy,
                other => {
                    return Err(format!(
                        "{what}: format {other:?} (use notation, notation-cose, cosign or cosign-legacy)"
                    ));
                }
            };
            let signer = keys::open_key(&resolve(&k.key)).map_err(|e| format!("{what}: {e}"))?;
            let chain = match &k.certificate {
                Some(c) => {
                    let pem =
                        std::fs::read(base.join(c)).map_err(|e| format!("{what}: {c}: {e}"))?;
                    keys::certificates_from_pem(&pem).map_err(|e| format!("{what}: {e}"))?
                }
                None if matches!(format, SignatureFormat::Notation(_)) => {
                    return Err(format!("{what}: Notation signatures need a certificate"));
                }
                None => Vec::new(),
            };
            if k.approvers.is_empty() || k.approvers.len() > MAX_APPROVERS {
                return Err(format!("{what}: give 1 to {MAX_APPROVERS} approvers"));
            }
            if k.quorum == 0 || k.quorum > k.approvers.len() {
                return Err(format!(
                    "{what}: quorum {} of {} approvers can never be met",
                    k.quorum,
                    k.approvers.len()
                ));
            }
            if k.expiry_secs == 0 || k.expiry_secs > MAX_SECS || k.timelock_secs > MAX_SECS {
                return Err(format!(
                    "{what}: expiry 1 s to a year, timelock up to a year"
                ));
            }
            if k.timelock_secs >= k.expiry_secs {
                return Err(format!(
                    "{what}: the timelock ends after the request expires"
                ));
            }
            let mut approvers: Vec<Approver> = Vec::new();
            for a in &k.approvers {
                let key = approver_key(&resolve(&a.key))
                    .map_err(|e| format!("{what}: approver {:?}: {e}", a.name))?;
                let account = a.account.clone().unwrap_or_else(|| a.name.clone());
                if account.is_empty() || account.len() > 64 {
                    return Err(format!(
                        "{what}: approver {:?}: account {account:?} is not an account name",
                        a.name
                    ));
                }
                if approvers.iter().any(|x| x.name == a.name || x.key == key) {
                    return Err(format!(
                        "{what}: approver {:?} (or their key) appears twice",
                        a.name
                    ));
                }
                // One person, one vote: two approvers bound to one account would let that
                // account count twice towards the quorum.
                if let Some(x) = approvers.iter().find(|x| x.account == account) {
                    return Err(format!(
                        "{what}: approvers {:?} and {:?} are both bound to the account \
                         {account:?}",
                        x.name, a.name
                    ));
                }
                approvers.push(Approver {
                    name: a.name.clone(),
                    key,
                    account,
                });
            }
            let repositories = k
                .repositories
                .iter()
                .map(|r| Glob::parse(r))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{what}: {e}"))?;
            if repositories.is_empty() {
                return Err(format!("{what}: name the repositories it may sign"));
            }
            keys.insert(
                k.name.clone(),
                QuorumKey {
                    name: k.name,
                    signer,
                    chain,
                    format,
                    quorum: k.quorum,
                    timelock: Duration::from_secs(k.timelock_secs),
                    expiry: Duration::from_secs(k.expiry_secs),
                    repositories,
                    approvers,
                },
            );
        }
        Ok(QuorumKeys { keys })
    }
}

/// A PEM public key, the key of a PEM certificate, or a `pkcs11:` public key.
fn approver_key(spec: &str) -> Result<PublicKey, String> {
    if spec.starts_with("pkcs11:") {
        return Ok(keys::open_key(spec)
            .map_err(|e| e.to_string())?
            .public_key()
            .clone());
    }
    let bytes = std::fs::read(spec).map_err(|e| format!("{spec}: {e}"))?;
    if let Ok(k) = PublicKey::from_pem(&bytes) {
        return Ok(k);
    }
    let chain = keys::certificates_from_pem(&bytes)
        .map_err(|_| format!("{spec}: expected a PEM PUBLIC KEY or CERTIFICATE"))?;
    Ok(zoll_trust::x509::Certificate::from_der(&chain[0])?
        .public_key()
        .clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoll_trust::keys::{KeyKind, generate_key};

    /// A key file with one quorum key whose approvers are `approvers` (TOML array items
    /// over the public keys `a.pub` and `b.pub`).
    fn parse(approvers: &str) -> Result<QuorumKeys, String> {
        let dir = tempfile::tempdir().unwrap();
        let server = generate_key(KeyKind::EcP256).unwrap();
        std::fs::write(dir.path().join("server.key"), server.private_pem.as_bytes()).unwrap();
        for name in ["a", "b"] {
            let k = generate_key(KeyKind::EcP256).unwrap();
            let pem = k.key.public_key().to_pem();
            std::fs::write(dir.path().join(format!("{name}.pub")), pem).unwrap();
        }
        let text = format!(
            "version = 1\n[[key]]\nname = \"k\"\nkey = \"server.key\"\n\
             format = \"cosign-legacy\"\nquorum = 1\nexpiry_secs = 60\n\
             repositories = [\"p/**\"]\napprovers = [{approvers}]\n"
        );
        QuorumKeys::parse(&text, dir.path())
    }

    #[test]
    fn approvers_are_bound_to_their_name_or_their_account() {
        let keys = parse(
            r#"{ name = "alice", key = "a.pub" }, { name = "bob", key = "b.pub", account = "bob@corp" }"#,
        )
        .unwrap();
        let accounts: Vec<&str> = keys.keys["k"]
            .approvers
            .iter()
            .map(|a| a.account.as_str())
            .collect();
        assert_eq!(accounts, ["alice", "bob@corp"]);
        let err = parse(
            r#"{ name = "alice", key = "a.pub" }, { name = "bob", key = "b.pub", account = "alice" }"#,
        )
        .err()
        .unwrap();
        assert!(
            err.contains(r#"approvers "alice" and "bob" are both bound to the account "alice""#),
            "{err}"
        );
        let err = parse(r#"{ name = "alice", key = "a.pub", account = "" }"#)
            .err()
            .unwrap();
        assert!(err.contains("is not an account name"), "{err}");
    }
}
