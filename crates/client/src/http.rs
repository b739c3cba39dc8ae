//! The HTTP side every connection to a registry shares, whether it speaks the Distribution
//! API or zoll's management API: which scheme a registry gets and the one `reqwest::Client`
//! shape (user agent, connect timeout, extra roots, the insecure switch).

use crate::error::{ClientError, Result};
use crate::{ClientConfig, PlainHttp};

/// Whether `host` (`name[:port]` or `[v6][:port]`) is a loopback address.
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The base URL (ending in `/`) of `registry`: a URL with its scheme as given, or
/// `host[:port]` with the scheme `plain` says.
pub fn base_url(registry: &str, plain: PlainHttp) -> Result<reqwest::Url> {
    let bad = |reason: String| ClientError::BadReference {
        input: registry.to_owned(),
        reason,
    };
    let with_scheme = if registry.starts_with("http://") || registry.starts_with("https://") {
        registry.to_owned()
    } else {
        let plain = match plain {
            PlainHttp::Always => true,
            PlainHttp::Never => false,
            PlainHttp::Loopback => is_loopback(registry),
        };
        format!("{}://{registry}", if plain { "http" } else { "https" })
    };
    let mut url = reqwest::Url::parse(&with_scheme).map_err(|e| bad(e.to_string()))?;
    if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "not a registry address (host[:port] or a base URL)".into()
        ));
    }
    // A password in the address would be printed with it in every error and log line.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials do not belong in the registry's address; give them with --user / \
             ZOLL_PASSWORD or --creds"
                .into(),
        ));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The HTTP client for `config`'s TLS settings: the system roots plus `extra_roots`, or no
/// verification at all with `danger_accept_invalid_certs`.
pub fn http_client(config: &ClientConfig) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("zoll/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
        .danger_accept_invalid_certs(config.danger_accept_invalid_certs);
    for path in &config.extra_roots {
        let pem = std::fs::read(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)?;
        if certs.is_empty() {
            return Err(ClientError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: no PEM certificate in it", path.display()),
            )));
        }
        for cert in certs {
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for (h, want) in [
            ("localhost:5000", true),
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("[::1]:5000", true),
            ("reg.example:5000", false),
            ("10.0.0.1:5000", false),
        ] {
            assert_eq!(is_loopback(h), want, "{h}");
        }
    }

    #[test]
    fn base_urls() {
        let u = |r, p| base_url(r, p).map(|u| u.to_string());
        assert_eq!(
            u("127.0.0.1:5000", PlainHttp::Loopback).unwrap(),
            "http://127.0.0.1:5000/"
        );
        assert_eq!(
            u("reg.example", PlainHttp::Loopback).unwrap(),
            "https://reg.example/"
        );
        assert_eq!(
            u("localhost:5000", PlainHttp::Never).unwrap(),
            "https://localhost:5000/"
        );
        assert_eq!(
            u("reg.example", PlainHttp::Always).unwrap(),
            "http://reg.example/"
        );
        assert_eq!(
            u("https://127.0.0.1:5443", PlainHttp::Loopback).unwrap(),
            "https://127.0.0.1:5443/"
        );
        assert_eq!(
            u("http://r.example/base", PlainHttp::Never).unwrap(),
            "http://r.example/base/"
        );
        assert!(u("https://r.example/?x=1", PlainHttp::Never).is_err());
        assert!(u("https://", PlainHttp::Never).is_err());
        assert!(u("https://admin:secret@r.example", PlainHttp::Never).is_err());
    }
}
