//! Notary Project signatures: JWS and COSE envelopes, the payload, the signature manifest,
//! the trust store and `trustpolicy.json`.

pub mod cose;
mod envelope;
pub mod jws;
mod payload;
pub mod policy;
pub mod trust_store;

pub use envelope::*;
pub use payload::{Payload, target_descriptor};

/// `artifactType` of a Notation signature manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
pub const MEDIA_TYPE_JWS: &str = "application/jose+json";
pub const MEDIA_TYPE_COSE: &str = "application/cose";
/// Manifest annotation: JSON array of the hex SHA-256 of each certificate, leaf first.
pub const THUMBPRINT_ANNOTATION: &str = "io.cncf.notary.x509chain.thumbprint#S256";

/// Which envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvelopeFormat {
    Jws,
    Cose,
}

impl EnvelopeFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            EnvelopeFormat::Jws => MEDIA_TYPE_JWS,
            EnvelopeFormat::Cose => MEDIA_TYPE_COSE,
        }
    }

    pub fn of_media_type(media_type: &str) -> Option<EnvelopeFormat> {
        match media_type {
            MEDIA_TYPE_JWS => Some(EnvelopeFormat::Jws),
            MEDIA_TYPE_COSE => Some(EnvelopeFormat::Cose),
            _ => None,
        }
    }

    pub fn sign(self, request: &SignRequest<'_>) -> Result<Vec<u8>, SignError> {
        match self {
            EnvelopeFormat::Jws => jws::sign(request),
            EnvelopeFormat::Cose => cose::sign(request),
        }
    }

    pub fn verify(self, envelope: &[u8]) -> Result<SignerInfo, EnvelopeError> {
        match self {
            EnvelopeFormat::Jws => jws::verify(envelope),
            EnvelopeFormat::Cose => cose::verify(envelope),
        }
    }
}

/// The thumbprint annotation value for a chain of DER certificates.
pub fn thumbprints(chain: &[Vec<u8>]) -> String {
    let prints: Vec<String> = chain
        .iter()
        .map(|c| zoll_stdx::hex::encode(&crate::keys::HashAlgorithm::Sha256.digest(c)))
        .collect();
    serde_json::to_string(&prints).expect("strings serialize")
}
