//! The one error type of the crate boundary. Every variant is a distinct, testable reason;
//! messages never contain key material.

use zoll_oci::Digest;

#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// A key, certificate or key file could not be used.
    #[error("{what}: {reason}")]
    InvalidKey { what: String, reason: String },

    /// A `--recipient` / `--key` argument is not of a known form.
    #[error("invalid key specification {spec:?}: {reason}")]
    InvalidSpec { spec: String, reason: String },

    #[error("no recipients given")]
    NoRecipients,

    #[error("no decryption keys given")]
    NoKeys,

    /// The descriptor carries no `org.opencontainers.image.enc.keys.*` annotation.
    #[error("layer {0} is not encrypted")]
    NotEncrypted(Digest),

    /// The layer is already encrypted (encrypting it again would nest ocicrypt layers).
    #[error("layer {0} is already encrypted")]
    AlreadyEncrypted(Digest),

    /// None of the given keys unwraps any of the layer's wrapped keys.
    #[error("none of the given keys can decrypt layer {digest} (recipients: {schemes})")]
    NoMatchingKey { digest: Digest, schemes: String },

    /// An encryption annotation or wrapped key is not well-formed.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },

    /// Well-formed, but uses something this implementation does not do.
    #[error("unsupported {what}: {value}")]
    Unsupported { what: &'static str, value: String },

    /// HMAC-SHA256 over the ciphertext did not match `pubopts.hmac`: the ciphertext, the
    /// public options or the wrapped key were changed. No plaintext is released.
    #[error(
        "layer authentication failed: HMAC-SHA256 over the ciphertext does not match (ciphertext or annotations were modified)"
    )]
    HmacMismatch,

    /// The blob read does not have the descriptor's digest.
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },

    /// The blob read is shorter or longer than its descriptor says.
    #[error("content size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch { expected: u64, actual: u64 },

    /// RSA-OAEP cannot carry the options with this key size and hash.
    #[error(
        "RSA-OAEP-{hash} with a {bits}-bit key holds at most {max} bytes, but the layer options are {len} bytes; use a larger key or SHA-1 OAEP"
    )]
    OaepCapacity {
        hash: &'static str,
        bits: usize,
        max: usize,
        len: usize,
    },

    #[error("PKCS#11: {0}")]
    Pkcs11(String),

    #[error("key provider {name:?}: {reason}")]
    KeyProvider { name: String, reason: String },

    /// An input exceeded a fixed bound (annotation size, recipient count, …).
    #[error("limit exceeded: {0}")]
    Limit(String),

    #[error("recipient {0} is not among the layer's recipients")]
    RecipientNotFound(String),

    #[error("removing these recipients would leave layer {0} without any")]
    LastRecipient(Digest),

    /// Reading or writing the image (registry or layout) failed.
    #[error(transparent)]
    Client(#[from] zoll_client::ClientError),

    #[error("crypto operation failed: {0}")]
    Crypto(&'static str),
}

pub type Result<T, E = CryptError> = std::result::Result<T, E>;

/// A URI that cannot be used is a bad `--recipient`/`--key` (its text arrives redacted);
/// everything else is the token's answer.
impl From<zoll_pkcs11::Error> for CryptError {
    fn from(e: zoll_pkcs11::Error) -> CryptError {
        match e {
            zoll_pkcs11::Error::Uri { uri, reason } => {
                CryptError::InvalidSpec { spec: uri, reason }
            }
            zoll_pkcs11::Error::Call { function, error } => pkcs11_call(function, error),
            other => CryptError::Pkcs11(other.to_string()),
        }
    }
}

/// A failed PKCS#11 call `what`, with the function and return value the module named.
pub(crate) fn pkcs11_call(what: &str, e: cryptoki::error::Error) -> CryptError {
    let reason = match &e {
        cryptoki::error::Error::Pkcs11(rv, function) => format!("{function:?} returned {rv:?}"),
        other => format!("{other:?}"),
    };
    CryptError::Pkcs11(format!("{what}: {reason}"))
}

/// What `zoll-der`'s reader finds wrong with a structure is `Malformed`; the rest of its
/// errors concern keys.
impl From<zoll_der::Error> for CryptError {
    fn from(e: zoll_der::Error) -> CryptError {
        match e {
            zoll_der::Error::Malformed { what, reason } => CryptError::Malformed { what, reason },
            other => invalid_key("key", other.to_string()),
        }
    }
}

pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> CryptError {
    CryptError::Malformed {
        what,
        reason: reason.into(),
    }
}

pub(crate) fn unsupported(what: &'static str, value: impl Into<String>) -> CryptError {
    CryptError::Unsupported {
        what,
        value: value.into(),
    }
}

pub(crate) fn invalid_key(what: impl Into<String>, reason: impl Into<String>) -> CryptError {
    CryptError::InvalidKey {
        what: what.into(),
        reason: reason.into(),
    }
}
