//! What approvers sign. A request's canonical bytes are a JSON document naming everything
//! the key will sign — request id, key, repository, the digest (with size and media type),
//! the signed claims (the stage), who asked, quorum, timelock and expiry — written once when
//! the request is made and stored verbatim. An approval is a signature over
//! `"zoll approval v1\n" || decision || "\n" || canonical bytes`; the id inside the bytes
//! binds it to its request, so it cannot be replayed onto another one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zoll_trust::keys::{KeySource, PublicKey};

pub const APPROVE: &str = "approve";
pub const REJECT: &str = "reject";
/// The document type inside the canonical bytes.
pub const CANONICAL_TYPE: &str = "zoll.approval-request.v1";

/// The subject as approvers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subject {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// The canonical request document (field order is the serialization order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Canonical {
    #[serde(rename = "type")]
    pub doc_type: String,
    pub id: String,
    pub key: String,
    pub format: String,
    pub registry: String,
    pub repository: String,
    pub reference: String,
    pub subject: Subject,
    pub claims: BTreeMap<String, String>,
    pub requester: String,
    pub approvers: Vec<String>,
    pub quorum: usize,
    /// Unix seconds.
    pub created: i64,
    pub not_before: i64,
    pub expires: i64,
}

/// Largest canonical document accepted back from storage or the API.
pub const MAX_CANONICAL: usize = 64 * 1024;

impl Canonical {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("canonical requests serialize")
    }

    /// Parses canonical bytes strictly (unknown or duplicate fields are errors, so nothing
    /// an approver signs is hidden from what they were shown).
    pub fn parse(bytes: &[u8]) -> Result<Canonical, String> {
        if bytes.len() > MAX_CANONICAL {
            return Err("canonical request too large".into());
        }
        let c: Canonical = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if c.doc_type != CANONICAL_TYPE {
            return Err(format!(
                "document type {:?} is not {CANONICAL_TYPE}",
                c.doc_type
            ));
        }
        Ok(c)
    }

    /// What an approver reads before signing. Every field from the request is shown with
    /// its control characters escaped (`zoll_stdx::text::shown`): a request made before the
    /// registry refused them, or by another server, cannot rewrite the lines an approver
    /// reads.
    pub fn describe(&self) -> String {
        use zoll_stdx::text::shown;
        let claims = if self.claims.is_empty() {
            "none".to_owned()
        } else {
            self.claims
                .iter()
                .map(|(k, v)| format!("{}={}", shown(k), shown(v)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let when = |t: i64| {
            time::OffsetDateTime::from_unix_timestamp(t)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_else(|| t.to_string())
        };
        format!(
            "request    {}\nkey        {} ({} signature)\nimage      {}/{}@{}\n           ({} bytes, {}, asked for as {})\nclaims     {claims}\nrequester  {}\nquorum     {} of {}\nnot before {}\nexpires    {}\n",
            shown(&self.id),
            shown(&self.key),
            shown(&self.format),
            shown(&self.registry),
            shown(&self.repository),
            shown(self.subject.digest.as_str()),
            self.subject.size,
            shown(&self.subject.media_type),
            shown(&self.reference),
            shown(&self.requester),
            self.quorum,
            shown(&self.approvers.join(", ")),
            when(self.not_before),
            when(self.expires),
        )
    }
}

/// The bytes an approver signs for `decision` (`approve` or `reject`).
pub fn message(decision: &str, canonical: &[u8]) -> Vec<u8> {
    let mut m = format!("zoll approval v1\n{decision}\n").into_bytes();
    m.extend_from_slice(canonical);
    m
}

/// An approver's vote: their signature (sigstore style: DER ECDSA, RSA PKCS#1 v1.5 SHA-256
/// or Ed25519, what `openssl dgst -sha256 -sign` makes for P-256) over [`message`].
pub fn sign_vote(
    key: &dyn KeySource,
    decision: &str,
    canonical: &[u8],
) -> Result<Vec<u8>, zoll_trust::keys::KeyError> {
    zoll_trust::dsse::sigstore_signature(key, &message(decision, canonical))
}

pub fn verify_vote(key: &PublicKey, decision: &str, canonical: &[u8], signature: &[u8]) -> bool {
    zoll_trust::dsse::sigstore_verify(key, &message(decision, canonical), signature)
}

/// A request's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for approvals.
    Pending,
    /// Quorum reached; waiting for the timelock.
    Approved,
    /// A replica is signing it now.
    Signing,
    Signed,
    Rejected,
    Expired,
    /// The tag now names another digest (or the manifest is gone): nothing is signed.
    Superseded,
    Failed,
}

pub const STATES: [State; 8] = [
    State::Pending,
    State::Approved,
    State::Signing,
    State::Signed,
    State::Rejected,
    State::Expired,
    State::Superseded,
    State::Failed,
];

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Signing => "signing",
            State::Signed => "signed",
            State::Rejected => "rejected",
            State::Expired => "expired",
            State::Superseded => "superseded",
            State::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        STATES.into_iter().find(|x| x.as_str() == s)
    }

    /// No further transition.
    pub fn is_final(self) -> bool {
        !matches!(self, State::Pending | State::Approved | State::Signing)
    }
}

/// One approver's vote as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub approver: String,
    pub decision: String,
    /// Unix milliseconds.
    pub at_ms: i64,
}
