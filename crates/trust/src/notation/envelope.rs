//! What JWS and COSE envelopes have in common: the signing request, the verified signer
//! information, and the errors of envelope parsing and integrity checking.

use time::OffsetDateTime;

use crate::keys::{KeyError, KeyKind, KeySource, SignatureAlgorithm};
use crate::x509::{Certificate, ChainError};

pub const HEADER_SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
pub const HEADER_SIGNING_TIME: &str = "io.cncf.notary.signingTime";
pub const HEADER_AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
pub const HEADER_EXPIRY: &str = "io.cncf.notary.expiry";
pub const HEADER_SIGNING_AGENT: &str = "io.cncf.notary.signingAgent";
pub const HEADER_TIMESTAMP_SIGNATURE: &str = "io.cncf.notary.timestampSignature";
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";

/// Envelopes larger than this are refused before parsing (notation's own limit is 64 KiB for
/// the payload; a chain of ten 4 KiB certificates fits comfortably).
pub const MAX_ENVELOPE_LEN: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum SigningScheme {
    #[serde(rename = "notary.x509")]
    X509,
    #[serde(rename = "notary.x509.signingAuthority")]
    X509SigningAuthority,
}

impl SigningScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningScheme::X509 => "notary.x509",
            SigningScheme::X509SigningAuthority => "notary.x509.signingAuthority",
        }
    }

    pub fn parse(s: &str) -> Option<SigningScheme> {
        match s {
            "notary.x509" => Some(SigningScheme::X509),
            "notary.x509.signingAuthority" => Some(SigningScheme::X509SigningAuthority),
            _ => None,
        }
    }
}

/// A signed attribute beyond the ones the Notary Project defines.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExtendedAttribute {
    pub key: String,
    pub value: String,
    pub critical: bool,
}

/// Everything a signer puts into an envelope.
pub struct SignRequest<'a> {
    /// The payload bytes (for artifacts: the targetArtifact JSON).
    pub payload: Vec<u8>,
    pub signing_time: OffsetDateTime,
    pub expiry: Option<OffsetDateTime>,
    pub scheme: SigningScheme,
    pub extended: Vec<ExtendedAttribute>,
    pub signing_agent: String,
    /// DER certificates, the signing certificate first.
    pub chain: Vec<Vec<u8>>,
    pub key: &'a dyn KeySource,
}

/// A parsed envelope whose signature verified with its own signing certificate and whose
/// chain is structurally valid. Nothing here says the signer is trusted: that is the trust
/// store's and policy's job.
#[derive(Debug, Clone)]
pub struct SignerInfo {
    pub algorithm: SignatureAlgorithm,
    pub payload: Vec<u8>,
    pub scheme: SigningScheme,
    /// Unix seconds.
    pub signing_time: Option<i64>,
    pub authentic_signing_time: Option<i64>,
    pub expiry: Option<i64>,
    pub chain: Vec<Certificate>,
    pub signing_agent: Option<String>,
    pub extended: Vec<ExtendedAttribute>,
    pub has_timestamp_countersignature: bool,
}

/// Why an envelope is not a valid signature (integrity), before any trust decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope is larger than {MAX_ENVELOPE_LEN} bytes")]
    TooLarge,
    #[error("malformed envelope: {0}")]
    Malformed(String),
    #[error("signature algorithm {0:?} is not allowed")]
    UnsupportedAlgorithm(String),
    #[error("algorithm {algorithm:?} does not belong to a {key} signing key")]
    AlgorithmMismatch {
        algorithm: SignatureAlgorithm,
        key: KeyKind,
    },
    #[error("signature does not verify")]
    SignatureInvalid,
    #[error("certificate chain: {0}")]
    Chain(#[from] ChainError),
    #[error("critical header {0:?} is missing or not understood")]
    Critical(String),
    #[error("content type {0:?} is not the Notation payload type")]
    ContentType(String),
}

pub fn malformed(what: impl Into<String>) -> EnvelopeError {
    EnvelopeError::Malformed(what.into())
}

/// Errors of signing.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the Notary Project has no signature algorithm for {0} keys")]
    NoAlgorithm(KeyKind),
    #[error("the certificate chain: {0}")]
    Chain(String),
    #[error("{0}")]
    Request(String),
}

impl SignRequest<'_> {
    /// The algorithm the key's type assigns, after checking the key and chain belong together.
    pub(crate) fn algorithm(&self) -> Result<SignatureAlgorithm, SignError> {
        let kind = self.key.public_key().kind();
        let alg = SignatureAlgorithm::notation_for(kind).ok_or(SignError::NoAlgorithm(kind))?;
        let leaf = self
            .chain
            .first()
            .ok_or_else(|| SignError::Chain("no signing certificate".into()))?;
        let leaf = Certificate::from_der(leaf).map_err(SignError::Chain)?;
        if leaf.public_key() != self.key.public_key() {
            return Err(SignError::Chain(
                "the signing certificate does not certify this key".into(),
            ));
        }
        for attr in &self.extended {
            if attr.key.starts_with("io.cncf.notary.") || attr.key.is_empty() {
                return Err(SignError::Request(format!(
                    "{:?} is not a free attribute name",
                    attr.key
                )));
            }
        }
        if self.expiry.is_some_and(|e| e <= self.signing_time) {
            return Err(SignError::Request(
                "expiry must be after the signing time".into(),
            ));
        }
        Ok(alg)
    }
}

/// The JWS `alg` name of an algorithm, and back.
pub fn jws_alg(alg: SignatureAlgorithm) -> &'static str {
    match alg {
        SignatureAlgorithm::RsaPssSha256 => "PS256",
        SignatureAlgorithm::RsaPssSha384 => "PS384",
        SignatureAlgorithm::RsaPssSha512 => "PS512",
        SignatureAlgorithm::EcdsaP256Sha256 => "ES256",
        SignatureAlgorithm::EcdsaP384Sha384 => "ES384",
        SignatureAlgorithm::EcdsaP521Sha512 => "ES512",
        _ => "none",
    }
}

pub fn from_jws_alg(name: &str) -> Option<SignatureAlgorithm> {
    Some(match name {
        "PS256" => SignatureAlgorithm::RsaPssSha256,
        "PS384" => SignatureAlgorithm::RsaPssSha384,
        "PS512" => SignatureAlgorithm::RsaPssSha512,
        "ES256" => SignatureAlgorithm::EcdsaP256Sha256,
        "ES384" => SignatureAlgorithm::EcdsaP384Sha384,
        "ES512" => SignatureAlgorithm::EcdsaP521Sha512,
        _ => return None,
    })
}

/// COSE algorithm identifiers (RFC 9053 / RFC 8230).
pub fn cose_alg(alg: SignatureAlgorithm) -> i64 {
    match alg {
        SignatureAlgorithm::RsaPssSha256 => -37,
        SignatureAlgorithm::RsaPssSha384 => -38,
        SignatureAlgorithm::RsaPssSha512 => -39,
        SignatureAlgorithm::EcdsaP256Sha256 => -7,
        SignatureAlgorithm::EcdsaP384Sha384 => -35,
        SignatureAlgorithm::EcdsaP521Sha512 => -36,
        _ => 0,
    }
}

pub fn from_cose_alg(id: i64) -> Option<SignatureAlgorithm> {
    Some(match id {
        -37 => SignatureAlgorithm::RsaPssSha256,
        -38 => SignatureAlgorithm::RsaPssSha384,
        -39 => SignatureAlgorithm::RsaPssSha512,
        -7 => SignatureAlgorithm::EcdsaP256Sha256,
        -35 => SignatureAlgorithm::EcdsaP384Sha384,
        -36 => SignatureAlgorithm::EcdsaP521Sha512,
        _ => return None,
    })
}

/// The integrity checks both envelopes end with: the algorithm belongs to the signing
/// certificate's key, the signature verifies with it, and the chain is well formed.
pub(crate) fn check_integrity(
    algorithm: SignatureAlgorithm,
    chain: &[Certificate],
    signed: &[u8],
    signature: &[u8],
) -> Result<(), EnvelopeError> {
    let leaf = chain
        .first()
        .ok_or(EnvelopeError::Chain(ChainError::Empty))?;
    let kind = leaf.public_key().kind();
    if SignatureAlgorithm::notation_for(kind) != Some(algorithm) {
        return Err(EnvelopeError::AlgorithmMismatch {
            algorithm,
            key: kind,
        });
    }
    if !leaf.public_key().verify(algorithm, signed, signature) {
        return Err(EnvelopeError::SignatureInvalid);
    }
    crate::x509::validate_chain(chain, crate::x509::LeafPurpose::CodeSigning)?;
    Ok(())
}

/// The headers the critical list must name, after checking the scheme's time is present.
pub(crate) fn required_headers(
    scheme: SigningScheme,
    signing_time: Option<i64>,
    authentic_signing_time: Option<i64>,
    expiry: Option<i64>,
) -> Result<Vec<&'static str>, EnvelopeError> {
    let mut required = vec![HEADER_SIGNING_SCHEME];
    match scheme {
        SigningScheme::X509 if signing_time.is_none() => {
            return Err(malformed("signingTime is missing"));
        }
        SigningScheme::X509SigningAuthority if authentic_signing_time.is_none() => {
            return Err(EnvelopeError::Critical(
                HEADER_AUTHENTIC_SIGNING_TIME.into(),
            ));
        }
        SigningScheme::X509SigningAuthority => required.push(HEADER_AUTHENTIC_SIGNING_TIME),
        SigningScheme::X509 => {}
    }
    if expiry.is_some() {
        required.push(HEADER_EXPIRY);
    }
    Ok(required)
}

/// Checks the critical list: the required entries are there, and every entry names a header
/// that is present. Returns the critical extended attribute names.
pub(crate) fn check_crit(
    crit: &[String],
    present: &dyn Fn(&str) -> bool,
    required: &[&str],
) -> Result<(), EnvelopeError> {
    for r in required {
        if !crit.iter().any(|c| c == r) {
            return Err(EnvelopeError::Critical((*r).to_owned()));
        }
    }
    for c in crit {
        if !present(c) {
            return Err(EnvelopeError::Critical(c.clone()));
        }
    }
    let mut seen = std::collections::HashSet::new();
    if !crit.iter().all(|c| seen.insert(c)) {
        return Err(malformed("crit lists a header twice"));
    }
    Ok(())
}
