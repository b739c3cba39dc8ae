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
    /// The registry's trust policy refused to serve a manifest (zoll's pull gate).
    #[error(
        "the registry's trust policy refuses {what}: {reason} (a pipeline that signs or scans \
         gated images reads them as a robot with the pull-ungated action: `zoll robot create \
         PROJECT NAME --action pull --action pull-ungated`)"
    )]
    Gate { what: String, reason: String },
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
        let msg = ClientError::from_reqwest_text(&e);
        match connection_hint(&msg) {
            Some(hint) => ClientError::Http(format!("{hint} ({msg})")),
            None => ClientError::Http(msg),
        }
    }
}

impl ClientError {
    /// What a reqwest error says, with its causes and without the URL's query.
    pub fn from_reqwest_text(e: &reqwest::Error) -> String {
        // The URL may carry a token in its query; only the error's kind and host are kept.
        let mut msg = e.to_string();
        if let Some(url) = e.url() {
            let shown = format!("{}://{}{}", url.scheme(), url.authority(), url.path());
            msg = msg.replace(url.as_str(), &shown);
        }
        // The cause (refused connection, a request body that failed verification) is what
        // the user needs to read.
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            msg.push_str(": ");
            msg.push_str(&cause.to_string());
            source = cause.source();
        }
        msg
    }
}

/// What a TLS or protocol failure means, in the words of someone setting up a registry;
/// `None` for anything else. (rustls and hyper name the cause in their own terms:
/// `UnknownIssuer`, `CaUsedAsEndEntity`, "invalid HTTP version parsed".)
pub fn connection_hint(msg: &str) -> Option<&'static str> {
    const HINTS: &[(&str, &str)] = &[
        (
            "CaUsedAsEndEntity",
            "the registry's certificate is a CA certificate used as a server certificate; \
             serve a certificate issued by that CA instead",
        ),
        (
            "UnknownIssuer",
            "the registry's certificate is not issued by a CA this machine trusts; give the CA \
             with --registry-ca",
        ),
        (
            "NotValidForName",
            "the registry's certificate is not valid for the host name used to reach it",
        ),
        ("Expired", "the registry's certificate has expired"),
        ("NotValidYet", "the registry's certificate is not valid yet"),
        (
            "invalid HTTP version parsed",
            "the registry speaks HTTPS, not plain HTTP; give --registry-ca or \
             --insecure-skip-tls-verify",
        ),
        (
            "InvalidContentType",
            "the registry speaks plain HTTP, not HTTPS; give --plain-http",
        ),
    ];
    HINTS
        .iter()
        .find(|(cause, _)| msg.contains(cause))
        .map(|(_, hint)| *hint)
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::connection_hint;

    #[test]
    fn tls_failures_read_as_what_to_do() {
        let ca = "error sending request: client error (Connect): invalid peer certificate: \
                  Other(OtherError(CaUsedAsEndEntity))";
        assert!(
            connection_hint(ca)
                .unwrap()
                .contains("CA certificate used as a server")
        );
        let http = "client error (SendRequest): invalid HTTP version parsed";
        assert!(connection_hint(http).unwrap().contains("speaks HTTPS"));
        assert_eq!(connection_hint("connection refused"), None);
    }
}
