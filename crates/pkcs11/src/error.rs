//! What can go wrong between a `pkcs11:` URI and a key on a token. The variants are kept
//! apart so that each caller can map them onto its own error type: a bad URI is the user's
//! input (`zoll-crypt`'s `InvalidSpec`, `zoll-trust`'s `Pkcs11Uri`), the rest is the token's
//! answer. No message carries a PIN: URIs in messages are always [`crate::redact`]ed.

use std::path::PathBuf;

use cryptoki::error::Error as CkError;

#[derive(Debug)]
pub enum Error {
    /// The URI is not one zoll can use (grammar, an unknown attribute, a module that
    /// cannot be found, an unreadable `pin-source`). `uri` is redacted.
    Uri { uri: String, reason: String },
    /// The module could not be loaded.
    Load { path: PathBuf, reason: String },
    /// A PKCS#11 function failed.
    Call {
        function: &'static str,
        error: CkError,
    },
    /// The token refused the PIN.
    PinIncorrect,
    /// The token is logged in already, by this process, with a different PIN.
    PinDiffers,
    /// No token, or no object, matches the URI.
    NotFound(String),
    /// More than one token or object matches the URI, and zoll will not guess.
    Ambiguous(String),
    /// The key is not of the type the caller reads it as (no RSA modulus, no EC point).
    WrongKeyType(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Uri { uri, reason } => write!(f, "invalid PKCS#11 URI {uri}: {reason}"),
            Error::Load { path, reason } => {
                write!(f, "cannot load PKCS#11 module {}: {reason}", path.display())
            }
            Error::Call { function, error } => write!(f, "{function}: {error}"),
            Error::PinIncorrect => f.write_str("the token rejected the PIN"),
            Error::PinDiffers => f.write_str(
                "the token is logged in with another PIN in this process; this key's PIN is wrong",
            ),
            Error::NotFound(what) | Error::Ambiguous(what) | Error::WrongKeyType(what) => {
                f.write_str(what)
            }
        }
    }
}

impl std::error::Error for Error {}

/// A failed call of the PKCS#11 function `function`.
pub(crate) fn call(function: &'static str) -> impl FnOnce(CkError) -> Error {
    move |error| Error::Call { function, error }
}
