//! DSSE envelopes (in-toto's Dead Simple Signing Envelope) and in-toto Statements v1.

use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, KeyKind, KeySource, PublicKey, SignatureAlgorithm};
use zoll_der::ecdsa::fixed_to_der as ecdsa_fixed_to_der;
use zoll_stdx::base64;

pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE_V1: &str = "https://in-toto.io/Statement/v1";
/// Envelopes larger than this are refused unparsed (SBOMs can be large; 16 MiB is generous).
pub const MAX_DSSE_LEN: usize = 16 * 1024 * 1024;
/// More signatures than this in one envelope are refused.
pub const MAX_SIGNATURES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Envelope {
    pub payload: String,
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    #[serde(default)]
    pub keyid: String,
    pub sig: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    #[error("DSSE envelope is larger than {MAX_DSSE_LEN} bytes")]
    TooLarge,
    #[error("malformed DSSE envelope: {0}")]
    Malformed(String),
    #[error("DSSE envelope has no signatures")]
    NoSignatures,
    #[error("DSSE envelope has more than {MAX_SIGNATURES} signatures")]
    TooManySignatures,
}

/// The Pre-Authentication Encoding that DSSE signs: `DSSEv1 SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The signature bytes a key makes for DSSE and cosign: ASN.1 DER for ECDSA.
pub fn sigstore_signature(key: &dyn KeySource, message: &[u8]) -> Result<Vec<u8>, KeyError> {
    let kind = key.public_key().kind();
    let raw = key.sign(SignatureAlgorithm::sigstore_for(kind), message)?;
    Ok(match kind {
        KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521 => ecdsa_fixed_to_der(&raw),
        _ => raw,
    })
}

/// Checks a sigstore-style signature (DER ECDSA, RSA PKCS#1 v1.5 SHA-256, Ed25519).
pub fn sigstore_verify(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    key.verify_asn1(
        SignatureAlgorithm::sigstore_for(key.kind()),
        message,
        signature,
    )
}

/// Signs `payload` into an envelope with one signature. `keyid` may be empty.
pub fn sign(
    key: &dyn KeySource,
    payload_type: &str,
    payload: &[u8],
    keyid: &str,
) -> Result<Envelope, KeyError> {
    let sig = sigstore_signature(key, &pae(payload_type, payload))?;
    Ok(Envelope {
        payload: base64::encode(payload),
        payload_type: payload_type.to_owned(),
        signatures: vec![Signature {
            keyid: keyid.to_owned(),
            sig: base64::encode(&sig),
        }],
    })
}

impl Envelope {
    pub fn parse(bytes: &[u8]) -> Result<Envelope, DsseError> {
        if bytes.len() > MAX_DSSE_LEN {
            return Err(DsseError::TooLarge);
        }
        let env: Envelope =
            serde_json::from_slice(bytes).map_err(|e| DsseError::Malformed(e.to_string()))?;
        env.check()?;
        Ok(env)
    }

    pub(crate) fn check(&self) -> Result<(), DsseError> {
        if self.signatures.is_empty() {
            return Err(DsseError::NoSignatures);
        }
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(DsseError::TooManySignatures);
        }
        Ok(())
    }

    pub fn payload_bytes(&self) -> Result<Vec<u8>, DsseError> {
        base64::decode(&self.payload)
            .ok_or_else(|| DsseError::Malformed("payload is not base64".into()))
    }

    /// Which of `keys` made a valid signature, as indexes into `keys`, each key once; and how
    /// many signatures were repeats of a key already counted.
    pub fn verified_by(&self, keys: &[&PublicKey]) -> Result<(Vec<usize>, usize), DsseError> {
        let payload = self.payload_bytes()?;
        let message = pae(&self.payload_type, &payload);
        let mut found = Vec::new();
        let mut duplicates = 0;
        for s in &self.signatures {
            let sig = base64::decode(&s.sig)
                .ok_or_else(|| DsseError::Malformed("sig is not base64".into()))?;
            if let Some(i) = keys.iter().position(|k| sigstore_verify(k, &message, &sig)) {
                if found.contains(&i) {
                    duplicates += 1;
                } else {
                    found.push(i);
                }
            }
        }
        Ok((found, duplicates))
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("envelopes serialize")
    }
}

/// An in-toto Statement v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub digest: std::collections::BTreeMap<String, String>,
}

impl Statement {
    /// A statement about one OCI artifact.
    pub fn about(
        name: &str,
        digest: &zoll_oci::Digest,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Statement {
        let mut d = std::collections::BTreeMap::new();
        d.insert(
            digest.algorithm().as_str().to_owned(),
            digest.hex().to_owned(),
        );
        Statement {
            statement_type: STATEMENT_TYPE_V1.into(),
            subject: vec![Subject {
                name: name.to_owned(),
                digest: d,
            }],
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Statement, DsseError> {
        let s: Statement = serde_json::from_slice(bytes)
            .map_err(|e| DsseError::Malformed(format!("statement: {e}")))?;
        if s.statement_type != STATEMENT_TYPE_V1
            && s.statement_type != "https://in-toto.io/Statement/v0.1"
        {
            return Err(DsseError::Malformed(format!(
                "statement type {:?}",
                s.statement_type
            )));
        }
        Ok(s)
    }

    /// Whether one of the subjects is `digest`.
    pub fn names(&self, digest: &zoll_oci::Digest) -> bool {
        self.subject.iter().any(|s| {
            s.digest
                .get(digest.algorithm().as_str())
                .is_some_and(|h| h.eq_ignore_ascii_case(digest.hex()))
        })
    }
}
