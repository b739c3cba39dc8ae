//! The crate's one error type. Messages are one line, name what was being read and never
//! carry key material or passwords.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not the DER or PEM structure `what` should be.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },

    /// Well-formed, but not a key or certificate zoll can use (algorithm, curve, cipher,
    /// a file without a key, …).
    #[error("{0}")]
    Unsupported(String),

    /// An `ENCRYPTED PRIVATE KEY` and no password to open it: the caller knows how its user
    /// gives one, so it words the hint.
    #[error("the private key is encrypted and no password was given")]
    PasswordRequired,

    /// The password did not decrypt the key (PBES2 padding did not check out, or what came
    /// out is not a private key).
    #[error("wrong password for the encrypted private key")]
    WrongPassword,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        what,
        reason: reason.into(),
    }
}

pub(crate) fn unsupported(reason: impl Into<String>) -> Error {
    Error::Unsupported(reason.into())
}
