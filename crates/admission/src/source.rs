//! Reading images from a zoll registry over HTTP (standalone `zoll admission`): pods name
//! the registry by the host clients use (`zoll.example.com`), the webhook reaches it at its
//! own URL (`https://zoll.zoll-system.svc:5000`).

use std::sync::Arc;

use zoll_client::{ClientConfig, PlainHttp};
use zoll_policy::{ClientSource, PolicyError, SignatureSource};
use zoll_trust::repository::RepositoryReader;

/// A [`ClientSource`] that sends every question to one registry endpoint, whatever host
/// the pod spec named (the webhook only asks about hosts configured as this registry).
pub struct Endpoint {
    host: String,
    inner: ClientSource,
}

impl Endpoint {
    /// `url` is `https://host[:port]` (or `http://` for loopback and test setups).
    pub fn new(url: &str, mut config: ClientConfig) -> Result<Endpoint, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("registry URL {url:?} needs https:// or http://"))?;
        config.plain_http = match scheme {
            "https" => PlainHttp::Never,
            "http" => PlainHttp::Always,
            other => return Err(format!("registry URL scheme {other:?}: use https or http")),
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(format!(
                "registry URL {url:?}: give scheme://host[:port] only"
            ));
        }
        Ok(Endpoint {
            host: host.to_owned(),
            inner: ClientSource::new(config),
        })
    }

    /// `host[:port]` of the endpoint.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl SignatureSource for Endpoint {
    fn open(
        &self,
        _registry: &str,
        repository: &str,
    ) -> Result<Arc<dyn RepositoryReader>, PolicyError> {
        self.inner.open(&self.host, repository)
    }
}
