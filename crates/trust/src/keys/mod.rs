//! Key sources: where a private key lives (a PEM file, a PKCS#11 token) behind one trait, and
//! the public half that verifiers use.

mod cosign_import;
mod file;
mod generate;
mod pkcs11;
mod public;

pub use cosign_import::import_cosign_key;
pub use file::FileKey;
pub use generate::{
    CertificateProfile, CertificateRequest, GeneratedKey, TestCa, certificates_to_pem,
    generate_key, generate_pem, self_signed_certificate,
};
pub use pkcs11::Pkcs11Key;
pub use public::PublicKey;
/// The one `pkcs11:` URI grammar, `zoll-pkcs11`'s.
pub use zoll_pkcs11::{PinSource, Uri as Pkcs11Uri};

use std::fmt;

/// What kind of key a source holds. RSA keys carry their modulus size because Notation
/// derives the signature algorithm from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    EcP256,
    EcP384,
    EcP521,
    Rsa { bits: u32 },
    Ed25519,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::EcP256 => f.write_str("ecdsa-p256"),
            KeyKind::EcP384 => f.write_str("ecdsa-p384"),
            KeyKind::EcP521 => f.write_str("ecdsa-p521"),
            KeyKind::Rsa { bits } => write!(f, "rsa-{bits}"),
            KeyKind::Ed25519 => f.write_str("ed25519"),
        }
    }
}

/// A signature algorithm: the hash and the padding/curve together, never one without the
/// other, so that a verifier can refuse an algorithm that does not belong to a key
/// (algorithm confusion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    RsaPssSha256,
    RsaPssSha384,
    RsaPssSha512,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    EcdsaP256Sha256,
    EcdsaP384Sha384,
    EcdsaP521Sha512,
    Ed25519,
}

/// The hash a signature algorithm applies to the message before signing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    pub fn digest(self, message: &[u8]) -> Vec<u8> {
        use aws_lc_rs::digest;
        let alg = match self {
            HashAlgorithm::Sha256 => &digest::SHA256,
            HashAlgorithm::Sha384 => &digest::SHA384,
            HashAlgorithm::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, message).as_ref().to_vec()
    }

    pub fn output_len(self) -> usize {
        match self {
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }
}

impl SignatureAlgorithm {
    /// The hash applied before signing; `None` for Ed25519 (it hashes internally).
    pub fn hash(self) -> Option<HashAlgorithm> {
        use SignatureAlgorithm::*;
        match self {
            RsaPssSha256 | RsaPkcs1Sha256 | EcdsaP256Sha256 => Some(HashAlgorithm::Sha256),
            RsaPssSha384 | RsaPkcs1Sha384 | EcdsaP384Sha384 => Some(HashAlgorithm::Sha384),
            RsaPssSha512 | RsaPkcs1Sha512 | EcdsaP521Sha512 => Some(HashAlgorithm::Sha512),
            Ed25519 => None,
        }
    }

    /// Whether a key of `kind` may make or check signatures of this algorithm.
    pub fn fits(self, kind: KeyKind) -> bool {
        use SignatureAlgorithm::*;
        match (self, kind) {
            (EcdsaP256Sha256, KeyKind::EcP256)
            | (EcdsaP384Sha384, KeyKind::EcP384)
            | (EcdsaP521Sha512, KeyKind::EcP521)
            | (Ed25519, KeyKind::Ed25519) => true,
            (
                RsaPssSha256 | RsaPssSha384 | RsaPssSha512 | RsaPkcs1Sha256 | RsaPkcs1Sha384
                | RsaPkcs1Sha512,
                KeyKind::Rsa { bits },
            ) => bits >= 2048,
            _ => false,
        }
    }

    /// The algorithm the Notary Project signature specification assigns to a key: the key
    /// type and size decide, there is no choice (RSA-PSS by modulus size, ECDSA by curve).
    pub fn notation_for(kind: KeyKind) -> Option<SignatureAlgorithm> {
        match kind {
            KeyKind::Rsa { bits: 2048 } => Some(SignatureAlgorithm::RsaPssSha256),
            KeyKind::Rsa { bits: 3072 } => Some(SignatureAlgorithm::RsaPssSha384),
            KeyKind::Rsa { bits: 4096 } => Some(SignatureAlgorithm::RsaPssSha512),
            KeyKind::EcP256 => Some(SignatureAlgorithm::EcdsaP256Sha256),
            KeyKind::EcP384 => Some(SignatureAlgorithm::EcdsaP384Sha384),
            KeyKind::EcP521 => Some(SignatureAlgorithm::EcdsaP521Sha512),
            KeyKind::Rsa { .. } | KeyKind::Ed25519 => None,
        }
    }

    /// The algorithm sigstore (cosign, DSSE) uses for a key: ECDSA by curve, RSA PKCS#1 v1.5
    /// with SHA-256, Ed25519 as is.
    pub fn sigstore_for(kind: KeyKind) -> SignatureAlgorithm {
        match kind {
            KeyKind::EcP256 => SignatureAlgorithm::EcdsaP256Sha256,
            KeyKind::EcP384 => SignatureAlgorithm::EcdsaP384Sha384,
            KeyKind::EcP521 => SignatureAlgorithm::EcdsaP521Sha512,
            KeyKind::Rsa { .. } => SignatureAlgorithm::RsaPkcs1Sha256,
            KeyKind::Ed25519 => SignatureAlgorithm::Ed25519,
        }
    }
}

/// Errors of key sources.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not a supported private key: {0}")]
    UnsupportedKey(String),
    #[error("{kind} keys cannot make {algorithm:?} signatures")]
    AlgorithmMismatch {
        kind: KeyKind,
        algorithm: SignatureAlgorithm,
    },
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("invalid pkcs11 URI: {0}")]
    Pkcs11Uri(String),
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
    #[error("cosign key: {0}")]
    CosignKey(String),
    #[error("certificate: {0}")]
    Certificate(String),
}

/// A URI zoll cannot use is `Pkcs11Uri` (its text arrives redacted); the rest is the
/// token's answer.
impl From<zoll_pkcs11::Error> for KeyError {
    fn from(e: zoll_pkcs11::Error) -> KeyError {
        match e {
            zoll_pkcs11::Error::Uri { uri, reason } => {
                KeyError::Pkcs11Uri(format!("{uri}: {reason}"))
            }
            other => KeyError::Pkcs11(other.to_string()),
        }
    }
}

/// A private key that can sign, wherever it lives. Implementations never expose private key
/// material; a PKCS#11 key stays on its token.
///
/// ECDSA signatures are returned in the fixed-width `r || s` form (what JWS, COSE and PKCS#11
/// use); [`zoll_der::ecdsa::fixed_to_der`] converts for formats that want ASN.1.
pub trait KeySource: Send + Sync {
    /// A label for messages and logs: never secret (no PIN, no key bytes).
    fn describe(&self) -> String;
    /// The public half.
    fn public_key(&self) -> &PublicKey;
    /// Signs `message` (the whole message: the source hashes it as `algorithm` says).
    fn sign(&self, algorithm: SignatureAlgorithm, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// Opens a key given on the command line: `pkcs11:` URIs go to the token, anything else is a
/// PEM file path.
pub fn open_key(spec: &str) -> Result<Box<dyn KeySource>, KeyError> {
    if spec.starts_with("pkcs11:") {
        let uri: Pkcs11Uri = spec.parse()?;
        Ok(Box::new(Pkcs11Key::open(&uri)?))
    } else {
        Ok(Box::new(FileKey::from_file(std::path::Path::new(spec))?))
    }
}

fn check_fits(kind: KeyKind, algorithm: SignatureAlgorithm) -> Result<(), KeyError> {
    if algorithm.fits(kind) {
        Ok(())
    } else {
        Err(KeyError::AlgorithmMismatch { kind, algorithm })
    }
}

/// Writes private key text to a new file readable only by its owner; refuses to overwrite.
pub fn write_private_key(path: &std::path::Path, pem: &str) -> Result<(), KeyError> {
    use std::io::Write;
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(pem.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Parses every `CERTIFICATE` block of a PEM file into DER, in order.
pub fn certificates_from_pem(text: &[u8]) -> Result<Vec<Vec<u8>>, KeyError> {
    zoll_der::keys::certificate_chain(text).map_err(|e| KeyError::Certificate(e.to_string()))
}

/// Parses `ecdsa-p256`, `rsa-3072`, ... as printed by [`KeyKind`]'s `Display`.
impl std::str::FromStr for KeyKind {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<KeyKind, KeyError> {
        Ok(match s {
            "ecdsa-p256" => KeyKind::EcP256,
            "ecdsa-p384" => KeyKind::EcP384,
            "ecdsa-p521" => KeyKind::EcP521,
            "rsa-2048" => KeyKind::Rsa { bits: 2048 },
            "rsa-3072" => KeyKind::Rsa { bits: 3072 },
            "rsa-4096" => KeyKind::Rsa { bits: 4096 },
            "ed25519" => KeyKind::Ed25519,
            other => {
                return Err(KeyError::UnsupportedKey(format!(
                    "key type {other:?}: use ecdsa-p256, ecdsa-p384, ecdsa-p521, rsa-3072, rsa-4096 or ed25519"
                )));
            }
        })
    }
}
