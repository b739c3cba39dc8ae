//! Who may sign: named identity sets of public keys and X.509 subjects under a trust store.
//! A signer the verifier accepted (a [`zoll_trust::verify::Identity`]) belongs to a set when
//! its key is one of the set's keys, or its certificate chain was anchored in the named
//! trust store and its leaf subject carries every attribute the set names.

use std::collections::BTreeMap;

use serde::Serialize;
use zoll_trust::keys::PublicKey;
use zoll_trust::notation::trust_store::StoreType;
use zoll_trust::verify::Identity;

/// One way to be a member of an identity set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// A public key, by the SHA-256 fingerprint of its SubjectPublicKeyInfo.
    Key { label: String, key: PublicKey },
    /// A certificate subject under a trust store (`ca:NAME` or `signingAuthority:NAME`).
    /// `subject` empty: any leaf the store anchors.
    X509 {
        store_type: StoreType,
        store: String,
        subject: Vec<(String, String)>,
    },
}

impl Matcher {
    /// `attributes` are the leaf's subject attributes, looked up by the caller from the
    /// verified envelope (never re-parsed from the display string, whose commas are
    /// ambiguous).
    pub fn matches(&self, identity: &Identity, attributes: Option<&[(String, String)]>) -> bool {
        match (self, identity) {
            (Matcher::Key { key, .. }, Identity::Key { fingerprint, .. }) => {
                key.fingerprint() == *fingerprint
            }
            (
                Matcher::X509 {
                    store_type,
                    store,
                    subject,
                },
                Identity::X509 { trust_store, .. },
            ) => {
                *trust_store == format!("{}:{store}", store_type.as_str())
                    && attributes.is_some_and(|have| subject.iter().all(|want| have.contains(want)))
            }
            _ => false,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Matcher::Key { label, key } => format!("key {label} (sha256:{})", key.fingerprint()),
            Matcher::X509 {
                store_type,
                store,
                subject,
            } if subject.is_empty() => {
                format!("any certificate under {}:{store}", store_type.as_str())
            }
            Matcher::X509 {
                store_type,
                store,
                subject,
            } => format!(
                "subject {} under {}:{store}",
                format_subject(subject),
                store_type.as_str()
            ),
        }
    }
}

pub fn format_subject(attrs: &[(String, String)]) -> String {
    attrs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `C=DE, O=Example, CN=Release` (attribute names case-insensitive) or `*`.
pub fn parse_subject(s: &str) -> Result<Vec<(String, String)>, String> {
    if s.trim() == "*" {
        return Ok(Vec::new());
    }
    let mut attrs = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("subject part {part:?} has no '='"))?;
        let (k, v) = (k.trim().to_ascii_uppercase(), v.trim().to_owned());
        if k.is_empty() || v.is_empty() {
            return Err(format!("subject part {part:?} is incomplete"));
        }
        attrs.push((k, v));
    }
    if attrs.is_empty() {
        return Err(format!(
            "subject {s:?} names no attribute (use \"*\" for any)"
        ));
    }
    Ok(attrs)
}

/// A named set of identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySet {
    pub name: String,
    pub matchers: Vec<Matcher>,
}

impl IdentitySet {
    pub fn contains(&self, identity: &Identity, attributes: Option<&[(String, String)]>) -> bool {
        self.matchers
            .iter()
            .any(|m| m.matches(identity, attributes))
    }

    /// The most distinct signers the set can hold, if bounded (keys only).
    pub fn capacity(&self) -> Option<usize> {
        self.matchers
            .iter()
            .all(|m| matches!(m, Matcher::Key { .. }))
            .then_some(self.matchers.len())
    }
}

/// What makes two accepted signatures the same signer: the key, or the leaf certificate.
pub fn signer_key(identity: &Identity) -> String {
    match identity {
        Identity::Key { fingerprint, .. } => format!("key:{fingerprint}"),
        Identity::X509 { thumbprints, .. } => {
            format!(
                "x509:{}",
                thumbprints.first().map(String::as_str).unwrap_or("")
            )
        }
    }
}

/// How an identity is shown in explanations.
pub fn describe_identity(identity: &Identity) -> String {
    match identity {
        Identity::Key { name, fingerprint } => {
            format!("key {name} (sha256:{})", short(fingerprint))
        }
        Identity::X509 {
            subject,
            trust_store,
            ..
        } => format!("\"{subject}\" via {trust_store}"),
    }
}

fn short(hex: &str) -> &str {
    hex.get(..16).unwrap_or(hex)
}

/// The leaf subject attributes of X.509 signers, by leaf thumbprint.
pub type LeafAttributes = BTreeMap<String, Vec<(String, String)>>;

/// The attributes recorded for `identity`, if it is an X.509 signer.
pub fn attributes_of<'a>(
    leaves: &'a LeafAttributes,
    identity: &Identity,
) -> Option<&'a [(String, String)]> {
    match identity {
        Identity::X509 { thumbprints, .. } => thumbprints
            .first()
            .and_then(|t| leaves.get(t))
            .map(Vec::as_slice),
        Identity::Key { .. } => None,
    }
}

/// A serializable name for a set member, for JSON explanations.
#[derive(Debug, Clone, Serialize)]
pub struct SignerRef {
    pub identity: String,
    pub artifact: String,
}
