//! Registry authentication as docker, podman and skopeo do it: answer a `401` challenge with
//! Basic credentials, or fetch a Bearer token for the request's scope from the realm the
//! challenge names and retry. Tokens are cached per scope for the life of the client.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};

use crate::error::{ClientError, Result};
use crate::retry::RetryPolicy;
use crate::{ClientConfig, Credentials};

/// Largest token response read.
const MAX_TOKEN_RESPONSE: usize = 1 << 20;

/// The registry wanted credentials and none were found: where they were looked for.
const NO_CREDENTIALS: &str = "the registry wants credentials and none were found (none given; \
     none in $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json or \
     /run/containers/UID/auth.json, $DOCKER_CONFIG/config.json or ~/.docker/config.json, \
     or their credential helpers)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

pub(crate) struct Auth {
    host: String,
    credentials: Option<Credentials>,
    challenge: Mutex<Option<Challenge>>,
    tokens: Mutex<HashMap<String, String>>,
    retry: RetryPolicy,
}

impl Auth {
    /// Credentials for `host`: the configuration's, else those of its `auth_file` if it
    /// names one, else of the usual auth files; where they came from goes to the
    /// configuration's `on_credentials`.
    pub fn new(host: &str, config: &ClientConfig) -> Self {
        let (credentials, _) = credentials_for(host, config);
        Auth {
            host: host.to_owned(),
            credentials,
            challenge: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            retry: config.retry.clone(),
        }
    }

    fn header_for(&self, scope: &str) -> Option<HeaderValue> {
        let challenge = self.challenge.lock().expect("poisoned").clone();
        let value = match challenge? {
            Challenge::Basic => basic(self.credentials.as_ref()?),
            Challenge::Bearer { .. } => {
                let token = self.tokens.lock().expect("poisoned").get(scope)?.clone();
                format!("Bearer {token}")
            }
        };
        let mut v = HeaderValue::from_str(&value).ok()?;
        v.set_sensitive(true);
        Some(v)
    }

    /// Sends the request `make` builds, authenticated for `scope`
    /// (`repository:NAME:pull` or `repository:NAME:pull,push`). On a 401 it takes the
    /// challenge, obtains credentials or a token, and sends once more. Each of these
    /// exchanges is retried as the [`RetryPolicy`] allows.
    pub async fn send(
        &self,
        http: &reqwest::Client,
        scope: &str,
        make: impl Fn() -> RequestBuilder,
    ) -> Result<Response> {
        let first = self.exchange(http, make(), scope).await?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let challenge = parse_challenge(first.headers()).ok_or_else(|| {
            ClientError::Auth(self.host.clone(), "401 without a usable challenge".into())
        })?;
        if let Challenge::Bearer { realm, service } = &challenge {
            let token = self
                .fetch_token(http, realm, service.as_deref(), scope)
                .await?;
            self.tokens
                .lock()
                .expect("poisoned")
                .insert(scope.to_owned(), token);
        } else if self.credentials.is_none() {
            return Err(ClientError::Auth(self.host.clone(), NO_CREDENTIALS.into()));
        }
        *self.challenge.lock().expect("poisoned") = Some(challenge);
        let second = self.exchange(http, make(), scope).await?;
        if second.status() == StatusCode::UNAUTHORIZED {
            // Anonymous access was tried and not enough: say which of the two it was.
            let why = match &self.credentials {
                None => NO_CREDENTIALS.to_owned(),
                Some(c) => format!("the credentials of {} were refused", c.username),
            };
            return Err(ClientError::Auth(self.host.clone(), why));
        }
        Ok(second)
    }

    /// Sends a request that cannot be repeated (a streamed body): authenticated with what
    /// an earlier request for the same scope obtained.
    pub async fn send_once(&self, scope: &str, req: RequestBuilder) -> Result<Response> {
        let resp = self.with_header(req, scope).send().await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Auth(
                self.host.clone(),
                "the upload was refused as unauthenticated".into(),
            ));
        }
        Ok(resp)
    }

    async fn exchange(
        &self,
        http: &reqwest::Client,
        req: RequestBuilder,
        scope: &str,
    ) -> Result<Response> {
        let req = self.with_header(req, scope).build()?;
        self.retry.send(http, req).await
    }

    fn with_header(&self, req: RequestBuilder, scope: &str) -> RequestBuilder {
        match self.header_for(scope) {
            Some(h) => req.header(AUTHORIZATION, h),
            None => req,
        }
    }

    async fn fetch_token(
        &self,
        http: &reqwest::Client,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<String> {
        let mut url = reqwest::Url::parse(realm).map_err(|e| {
            ClientError::Auth(self.host.clone(), format!("bad token realm {realm:?}: {e}"))
        })?;
        url.query_pairs_mut().append_pair("scope", scope);
        if let Some(s) = service {
            url.query_pairs_mut().append_pair("service", s);
        }
        let mut req = http.get(url);
        if let Some(c) = &self.credentials {
            req = req.header(AUTHORIZATION, basic(c));
        }
        let resp = self.retry.send(http, req.build()?).await?;
        let status = resp.status();
        if let (StatusCode::UNAUTHORIZED, Some(c)) = (status, &self.credentials) {
            return Err(ClientError::Auth(
                self.host.clone(),
                format!("the credentials of {} were refused", c.username),
            ));
        }
        if !status.is_success() {
            return Err(ClientError::Auth(
                self.host.clone(),
                format!("the token endpoint answered {status}"),
            ));
        }
        let body = crate::registry::read_limited(resp, MAX_TOKEN_RESPONSE).await?;
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            ClientError::Auth(self.host.clone(), format!("bad token response: {e}"))
        })?;
        t.token.or(t.access_token).ok_or_else(|| {
            ClientError::Auth(self.host.clone(), "token response without a token".into())
        })
    }
}

fn basic(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.username, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub(crate) fn parse_challenge(headers: &HeaderMap) -> Option<Challenge> {
    for value in headers.get_all(WWW_AUTHENTICATE) {
        let Ok(v) = value.to_str() else { continue };
        let (scheme, params) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let params = parse_params(params);
            let realm = params.get("realm")?.clone();
            return Some(Challenge::Bearer {
                realm,
                service: params.get("service").cloned(),
            });
        }
    }
    None
}

/// `key="value",key2=value2` (quoted values may contain commas).
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, after) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_owned());
        rest = after.trim_start_matches([',', ' ']);
    }
    out
}

/// Credentials for `host` (`name[:port]`) as every client finds them: the configuration's,
/// else those of its `auth_file` if it names one, else of the usual auth files (and their
/// credential helpers); where they came from goes to the configuration's `on_credentials`
/// and back to the caller.
pub fn credentials_for(
    host: &str,
    config: &ClientConfig,
) -> (Option<Credentials>, CredentialSource) {
    let (credentials, source) = match (&config.credentials, &config.auth_file) {
        (Some(c), _) => (Some(c.clone()), CredentialSource::Given),
        (None, Some(file)) => lookup(std::slice::from_ref(file), host),
        (None, None) => lookup(&default_auth_files(), host),
    };
    if let Some(report) = &config.on_credentials {
        report.report(host, &source);
    }
    (credentials, source)
}

/// Where credentials for a registry came from, for `--verbose`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Given with the configuration (`--creds`).
    Given,
    /// The entry for the host in this auth file.
    AuthFile(PathBuf),
    /// The credential helper `docker-credential-NAME` this auth file names.
    Helper { name: String, file: PathBuf },
    /// Nothing found: each file looked at, and why it gave nothing.
    NotFound(Vec<(PathBuf, Miss)>),
}

/// Why an auth file gave no credentials for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// There is no such file.
    Absent,
    /// Too large, not JSON, or not readable.
    Unreadable,
    /// No entry and no credential helper for the host.
    NoEntry,
    /// The entry is not `base64(user:password)`.
    BadEntry,
    /// The credential helper it names failed or was not run (a name that is a path).
    HelperFailed(String),
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::Absent => f.write_str("no such file"),
            Miss::Unreadable => f.write_str("unreadable"),
            Miss::NoEntry => f.write_str("no entry for the host"),
            Miss::BadEntry => f.write_str("the entry is not base64 of user:password"),
            Miss::HelperFailed(name) => {
                write!(
                    f,
                    "its credential helper docker-credential-{name} gave none"
                )
            }
        }
    }
}

/// What the configuration is told about credentials as a client opens a registry.
pub trait CredentialReport: std::fmt::Debug + Send + Sync {
    fn report(&self, host: &str, source: &CredentialSource);
}

/// The auth files docker and the containers tools write, in the order they are read.
fn default_auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(f) = std::env::var("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(f));
    }
    match std::env::var("XDG_RUNTIME_DIR") {
        Ok(d) => files.push(std::path::Path::new(&d).join("containers/auth.json")),
        // Where podman and skopeo keep it when no runtime directory is set.
        Err(_) => {
            if let Ok(me) = std::fs::metadata("/proc/self") {
                let uid = std::os::unix::fs::MetadataExt::uid(&me);
                files.push(format!("/run/containers/{uid}/auth.json").into());
            }
        }
    }
    if let Ok(d) = std::env::var("DOCKER_CONFIG") {
        files.push(std::path::Path::new(&d).join("config.json"));
    }
    if let Ok(h) = std::env::var("HOME") {
        files.push(std::path::Path::new(&h).join(".docker/config.json"));
    }
    files
}

/// The first of `files` with credentials for `host`, and where they came from.
fn lookup(files: &[PathBuf], host: &str) -> (Option<Credentials>, CredentialSource) {
    let mut missed = Vec::new();
    for file in files {
        match auth_file_entry(file, host) {
            Ok((c, None)) => return (Some(c), CredentialSource::AuthFile(file.clone())),
            Ok((c, Some(name))) => {
                let file = file.clone();
                return (Some(c), CredentialSource::Helper { name, file });
            }
            Err(miss) => missed.push((file.clone(), miss)),
        }
    }
    (None, CredentialSource::NotFound(missed))
}

/// Longest a credential helper may take to answer.
const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Credentials from a docker credential helper: `docker-credential-NAME get` with the host
/// on standard input answers `{"Username": ..., "Secret": ...}`. Its output is bounded and it
/// is killed after [`HELPER_TIMEOUT`]; any failure means no credentials (the registry then
/// says whether it wanted some).
fn from_helper(name: &str, host: &str) -> Option<Credentials> {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    // A name, never a path: `docker-credential-../../x` must not run anything else.
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return None;
    }
    let mut child = Command::new(format!("docker-credential-{name}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let written = child.stdin.take()?.write_all(host.as_bytes());
    let mut stdout = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let read = (&mut stdout)
            .take(MAX_TOKEN_RESPONSE as u64)
            .read_to_end(&mut out);
        let _ = tx.send(read.map(|_| out));
    });
    let out = match (written, rx.recv_timeout(HELPER_TIMEOUT)) {
        (Ok(()), Ok(Ok(out))) => out,
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
    };
    if !child.wait().ok()?.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out).ok()?;
    Some(Credentials {
        username: v["Username"].as_str()?.to_owned(),
        password: v["Secret"].as_str()?.to_owned(),
    })
}

/// The credentials `path` holds for `host`, with the name of the credential helper that
/// gave them if one did.
fn auth_file_entry(
    path: &std::path::Path,
    host: &str,
) -> Result<(Credentials, Option<String>), Miss> {
    let meta = std::fs::metadata(path).map_err(|_| Miss::Absent)?;
    if meta.len() > MAX_TOKEN_RESPONSE as u64 {
        return Err(Miss::Unreadable);
    }
    let bytes = std::fs::read(path).map_err(|_| Miss::Unreadable)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| Miss::Unreadable)?;
    let helper = |name: &str| match from_helper(name, host) {
        Some(c) => Ok((c, Some(name.to_owned()))),
        None => Err(Miss::HelperFailed(name.to_owned())),
    };
    let store = || match v["credsStore"].as_str() {
        Some(name) => helper(name),
        None => Err(Miss::NoEntry),
    };
    // docker's order: a helper for this host, then the file's own entry, then the store
    // helper for every host (an entry is often only `{}` when a helper holds the secret).
    if let Some(name) = v["credHelpers"][host].as_str() {
        return helper(name);
    }
    let Some(auths) = v.get("auths").and_then(|a| a.as_object()) else {
        return store();
    };
    let entry = auths.get(host).or_else(|| {
        auths.iter().find_map(|(k, e)| {
            let bare = k
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            (bare.split('/').next() == Some(host)).then_some(e)
        })
    });
    let Some(encoded) = entry.and_then(|e| e.get("auth")).and_then(|a| a.as_str()) else {
        return store();
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| Miss::BadEntry)?;
    let raw = String::from_utf8(raw).map_err(|_| Miss::BadEntry)?;
    let (username, password) = raw.split_once(':').ok_or(Miss::BadEntry)?;
    let c = Credentials {
        username: username.to_owned(),
        password: password.to_owned(),
    };
    Ok((c, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: &str, expect: Option<Challenge>) {
        let mut h = HeaderMap::new();
        h.insert(WWW_AUTHENTICATE, HeaderValue::from_str(header).unwrap());
        assert_eq!(parse_challenge(&h), expect, "{header}");
    }

    #[test]
    fn challenges() {
        check(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull""#,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
            }),
        );
        check(
            r#"Bearer realm="http://127.0.0.1:5000/token", scope="repository:a,b:pull""#,
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:5000/token".into(),
                service: None,
            }),
        );
        check(r#"Basic realm="zoll""#, Some(Challenge::Basic));
        check("Bearer service=x", None);
        check("Negotiate", None);
    }

    #[test]
    fn auth_file_lookup() {
        let dir = std::env::temp_dir().join(format!("zoll-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("config.json");
        std::fs::write(
            &f,
            r#"{"auths":{"https://reg.example:5000/v1/":{"auth":"dXNlcjpwYTpzcw=="}}}"#,
        )
        .unwrap();
        let (c, helper) = auth_file_entry(&f, "reg.example:5000").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str(), helper),
            ("user", "pa:ss", None)
        );
        assert_eq!(
            auth_file_entry(&f, "other.example").unwrap_err(),
            Miss::NoEntry
        );
        assert_eq!(
            auth_file_entry(&dir.join("absent.json"), "x").unwrap_err(),
            Miss::Absent
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
