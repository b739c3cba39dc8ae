use zoll_oci::Digest;

/// What reading or writing an image can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid image reference {input:?}: {reason}")]
    BadReference { input: String, reason: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("registry refused {what}: {status} {code}: {message}")]
    Registry {
        what: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("authentication to {0} failed: {1}")]
    Auth(String, String),
    #[error("content of {expected} does not match its digest (got {actual})")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
    #[error("blob {digest} has {actual} bytes, its descriptor says {expected}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("invalid manifest: {0}")]
    ManifestInvalid(String),
    #[error("invalid OCI layout at {0}: {1}")]
    Layout(String, String),
    #[error("HTTP request failed: {0}")]
    Http(String),
    #[error("I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        // The URL may carry a token in its query; only the error's kind and host are kept.
        let mut msg = e.to_string();
        if let Some(url) = e.url() {
            let shown = format!("{}://{}{}", url.scheme(), url.authority(), url.path());
            msg = msg.replace(url.as_str(), &shown);
        }
        // The cause (refused connection, a request body that failed verification) is what
        // the user needs to read.
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            msg.push_str(": ");
            msg.push_str(&cause.to_string());
            source = cause.source();
        }
        ClientError::Http(msg)
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
