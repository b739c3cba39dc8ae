//! The approvals part of the management API, as the CLI uses it (`/api/v1/approvals`).
//! Requests carry Basic credentials; the registry authorizes and audits every call.

use serde_json::{Value, json};

use crate::ApprovalError;
use crate::request::Canonical;

/// A client of one registry's approvals API.
pub struct ApprovalsClient {
    base: String,
    http: reqwest::Client,
    credentials: Option<(String, String)>,
}

/// Largest API response read.
const MAX_RESPONSE: usize = 4 << 20;

fn api_error(e: impl std::fmt::Display) -> ApprovalError {
    ApprovalError::Api(e.to_string())
}

impl ApprovalsClient {
    /// `registry` is `host[:port]` — loopback hosts are spoken to over plain HTTP (as
    /// `zoll-client` does), everything else over HTTPS — or a base URL
    /// (`https://registry.example:5000`). `extra_root` is a PEM file of further trusted
    /// roots.
    pub fn new(
        registry: &str,
        credentials: Option<(String, String)>,
        extra_root: Option<&std::path::Path>,
    ) -> Result<ApprovalsClient, ApprovalError> {
        let base = if registry.starts_with("http://") || registry.starts_with("https://") {
            registry.trim_end_matches('/').to_owned()
        } else {
            let host = registry
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(registry);
            let loopback = host == "localhost"
                || host == "[::1]"
                || host
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback());
            let scheme = if loopback { "http" } else { "https" };
            format!("{scheme}://{registry}")
        };
        let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
        if let Some(path) = extra_root {
            let pem =
                std::fs::read(path).map_err(|e| api_error(format!("{}: {e}", path.display())))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(api_error)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Self::with_http(
            &base,
            builder.build().map_err(api_error)?,
            credentials,
        ))
    }

    /// A client of the registry at the base URL `base` (`https://host:port`) through `http`,
    /// whose TLS settings the caller chose.
    pub fn with_http(
        base: &str,
        http: reqwest::Client,
        credentials: Option<(String, String)>,
    ) -> ApprovalsClient {
        ApprovalsClient {
            base: format!("{}/api/v1/approvals", base.trim_end_matches('/')),
            http,
            credentials,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApprovalError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some((u, p)) = &self.credentials {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.map_err(api_error)?;
        let status = resp.status();
        let bytes = zoll_client::read_limited(resp, MAX_RESPONSE)
            .await
            .map_err(api_error)?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = v["errors"][0]["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(ApprovalError::Api(format!("{}: {msg}", status.as_u16())));
        }
        Ok(v)
    }

    /// Asks `key` to sign `repository:reference` with `claims`; `registry` is the host as
    /// the requester names it (cosign's identity, may be empty). Returns the pending request.
    pub async fn request(
        &self,
        key: &str,
        registry: &str,
        repository: &str,
        reference: &str,
        claims: &std::collections::BTreeMap<String, String>,
    ) -> Result<Value, ApprovalError> {
        let body = json!({
            "key": key,
            "registry": registry,
            "repository": repository,
            "reference": reference,
            "claims": claims,
        });
        self.call(reqwest::Method::POST, "", Some(body)).await
    }

    pub async fn list(&self, all: bool) -> Result<Value, ApprovalError> {
        self.call(
            reqwest::Method::GET,
            if all { "?all=true" } else { "" },
            None,
        )
        .await
    }

    pub async fn get(&self, id: &str) -> Result<Value, ApprovalError> {
        valid_id(id)?;
        self.call(reqwest::Method::GET, &format!("/{id}"), None)
            .await
    }

    /// The canonical bytes of request `id`, checked to be that request.
    pub async fn canonical(&self, id: &str) -> Result<(Canonical, Vec<u8>), ApprovalError> {
        let v = self.get(id).await?;
        let text = v["canonical"]
            .as_str()
            .ok_or_else(|| api_error("the response has no canonical request"))?;
        let c = Canonical::parse(text.as_bytes()).map_err(api_error)?;
        if c.id != id {
            return Err(api_error(format!(
                "the server returned request {} for {id}",
                c.id
            )));
        }
        Ok((c, text.as_bytes().to_vec()))
    }

    /// Sends a vote: `decision` is `approve` or `reject`, `signature` the approver's
    /// signature over the request's canonical bytes.
    pub async fn vote(
        &self,
        id: &str,
        decision: &str,
        signature: &[u8],
    ) -> Result<Value, ApprovalError> {
        valid_id(id)?;
        self.call(
            reqwest::Method::POST,
            &format!("/{id}/{decision}"),
            Some(json!({"signature": zoll_stdx::base64::encode(signature)})),
        )
        .await
    }

    /// Rejects without an approver key (the requester or a project administrator).
    pub async fn withdraw(&self, id: &str, reason: &str) -> Result<Value, ApprovalError> {
        valid_id(id)?;
        self.call(
            reqwest::Method::POST,
            &format!("/{id}/reject"),
            Some(json!({"reason": reason})),
        )
        .await
    }
}

fn valid_id(id: &str) -> Result<(), ApprovalError> {
    if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApprovalError::Invalid(format!(
            "{id:?} is not a request id (32 hex digits)"
        )))
    }
}
