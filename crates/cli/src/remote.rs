//! The management API client of the CLI (`/api/v1`): where the registry is, who calls it,
//! the passwords, and one bounded request helper every management command goes through.

use std::io::Read;

use anyhow::{Context, bail};
use serde_json::Value;
use zoll_registry::auth::password;

use crate::connect::Tls;
use crate::output::OutputArg;
use crate::runtime;

/// Where the management API is and who calls it.
#[derive(clap::Args)]
pub struct Remote {
    /// The registry: a base URL (`https://registry.example:5000`) or `host[:port]` (plain
    /// HTTP for loopback hosts unless a TLS flag is given, HTTPS for every other host).
    #[arg(long, env = "ZOLL_REGISTRY", default_value = "http://127.0.0.1:5000")]
    pub(crate) registry: String,
    /// Account name; the password comes from ZOLL_PASSWORD, a prompt on a terminal, or
    /// standard input. Without it (and without ZOLL_PASSWORD), the credentials skopeo,
    /// podman and docker keep for the registry are used if there are any, else `admin`.
    #[arg(long, env = "ZOLL_USER")]
    pub(crate) user: Option<String>,
    /// Read the password from standard input even on a terminal.
    #[arg(long)]
    pub(crate) password_stdin: bool,
    /// Say on standard error whose credentials are used and where they came from.
    #[arg(long, short = 'v')]
    pub(crate) verbose: bool,
    #[command(flatten)]
    pub(crate) tls: Tls,
    #[command(flatten)]
    pub(crate) out: OutputArg,
}

impl Remote {
    /// The HTTP client and the registry's base URL, TLS as the flags say.
    pub fn endpoint(&self) -> anyhow::Result<(reqwest::Client, reqwest::Url)> {
        let config = self.tls.client_config();
        let base = zoll_client::http::base_url(&self.registry, config.plain_http)
            .with_context(|| format!("--registry {:?}", self.registry))?;
        Ok((zoll_client::http::http_client(&config)?, base))
    }

    /// Who calls and their password: `--user` with the password `read_password` finds;
    /// else, when no ZOLL_PASSWORD is set, what the auth files (and credential helpers)
    /// skopeo, podman and docker use hold for the registry; else `admin`.
    pub fn credentials(&self) -> anyhow::Result<(String, String)> {
        let say = |line: String| {
            if self.verbose {
                eprintln!("{line}");
            }
        };
        let user = match &self.user {
            Some(user) => {
                say(format!("credentials: {user} (--user or ZOLL_USER)"));
                user.clone()
            }
            None if std::env::var_os("ZOLL_PASSWORD").is_some() || self.password_stdin => {
                say("credentials: admin (no --user; the password given)".to_owned());
                "admin".to_owned()
            }
            None => {
                let (_, base) = self.endpoint()?;
                let host = match (base.host_str(), base.port()) {
                    (Some(h), Some(p)) => format!("{h}:{p}"),
                    (Some(h), None) => h.to_owned(),
                    (None, _) => String::new(),
                };
                let config = zoll_client::ClientConfig::default();
                let (found, source) = zoll_client::credentials_for(&host, &config);
                say(crate::connect::credentials_line(&host, &source));
                if let Some(c) = found {
                    return Ok((c.username, c.password));
                }
                say("credentials: admin (none found)".to_owned());
                "admin".to_owned()
            }
        };
        let password = read_password(&user, self.password_stdin)?;
        Ok((user, password))
    }
}

fn is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdin())
}

/// Whether a password was read from standard input already in this process: it then holds
/// no second one.
static STDIN_READ: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The first line of standard input (bounded), for a password.
fn password_line() -> anyhow::Result<String> {
    if STDIN_READ.swap(true, std::sync::atomic::Ordering::Relaxed) {
        bail!(
            "standard input cannot hold two passwords: give yours in ZOLL_PASSWORD, or the new \
             one in ZOLL_NEW_PASSWORD"
        );
    }
    let mut s = String::new();
    std::io::stdin()
        .take(password::MAX_PASSWORD_BYTES as u64 + 2)
        .read_to_string(&mut s)
        .context("cannot read the password from standard input")?;
    Ok(s.lines().next().unwrap_or_default().to_owned())
}

fn checked(p: String) -> anyhow::Result<String> {
    if p.len() < 8 || p.len() > password::MAX_PASSWORD_BYTES {
        bail!("passwords need 8 to {} bytes", password::MAX_PASSWORD_BYTES);
    }
    Ok(p)
}

/// The password of `who`: `ZOLL_PASSWORD`; else, on a terminal, a prompt that does not echo;
/// else (a pipe, or `from_stdin`: `--password-stdin`) the first line of standard input.
pub fn read_password(who: &str, from_stdin: bool) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("ZOLL_PASSWORD") {
        return Ok(p);
    }
    let p = if !from_stdin && is_terminal() {
        rpassword::prompt_password(format!("password for {who}: "))
            .context("cannot read the password from the terminal")?
    } else {
        password_line()?
    };
    checked(p)
}

/// A new password for the account `name` (`user add`, `user passwd`): `ZOLL_NEW_PASSWORD`;
/// else, on a terminal, typed twice without echo; else (a pipe, or `from_stdin`) the first
/// line of standard input, unless the caller's own password came from there.
pub fn new_password(name: &str, from_stdin: bool) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("ZOLL_NEW_PASSWORD") {
        return checked(p);
    }
    if !from_stdin && is_terminal() {
        let p = rpassword::prompt_password(format!("new password for {name}: "))
            .context("cannot read the password from the terminal")?;
        let again = rpassword::prompt_password("the same again: ")
            .context("cannot read the password from the terminal")?;
        if !zoll_stdx::ct::eq(p.as_bytes(), again.as_bytes()) {
            bail!("the two passwords differ; nothing was changed");
        }
        return checked(p);
    }
    checked(password_line()?)
}

/// Largest management-API answer read into memory (the audit export pages, listings): a
/// server that sends more is refused, not buffered.
const MAX_RESPONSE: usize = 64 << 20;

/// Most bytes of a registry's error message printed.
const MAX_SHOWN_ERROR: usize = 2000;

/// A connection to one registry's management API as one account.
pub struct Api {
    http: reqwest::Client,
    base: reqwest::Url,
    user: String,
    password: String,
}

impl Api {
    /// Reads the caller's password and prepares the client; nothing is sent yet.
    pub fn connect(remote: &Remote) -> anyhow::Result<Api> {
        let (user, password) = remote.credentials()?;
        let (http, base) = remote.endpoint()?;
        Ok(Api {
            http,
            base,
            user,
            password,
        })
    }

    fn url(&self, path: &str) -> anyhow::Result<reqwest::Url> {
        self.base
            .join("api/v1/")
            .and_then(|b| b.join(path.trim_start_matches('/')))
            .with_context(|| format!("bad API path {path}"))
    }

    /// Sends the request; a refusal becomes the registry's message, a failure to connect
    /// says why in words (`--registry-ca`, `--plain-http`).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = self.url(path)?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut req = self
            .http
            .request(method, url.clone())
            .basic_auth(&self.user, Some(&self.password));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| unreachable(&url, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let v = answer(resp, &url).await?;
        let msg = v["errors"][0]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string());
        // What a server says is shown as text, and not all of it.
        let mut msg = zoll_stdx::text::shown(&msg);
        if msg.len() > MAX_SHOWN_ERROR {
            let cut = (0..=MAX_SHOWN_ERROR)
                .rev()
                .find(|i| msg.is_char_boundary(*i))
                .unwrap_or(0);
            msg.truncate(cut);
            msg.push_str("...");
        }
        bail!("{status}: {msg}");
    }

    /// `method path` with a JSON `body`; the answer's JSON (null for none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = self.url(path)?;
        let resp = self.send(method, path, body).await?;
        answer(resp, &url).await
    }
}

async fn answer(resp: reqwest::Response, url: &reqwest::Url) -> anyhow::Result<Value> {
    let body = zoll_client::read_limited(resp, MAX_RESPONSE)
        .await
        .with_context(|| format!("{url}: reading the response"))?;
    let text = String::from_utf8_lossy(&body).into_owned();
    Ok(if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    })
}

/// One management call from a command that makes only this one.
pub fn call(
    remote: &Remote,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let api = Api::connect(remote)?;
    runtime()?.block_on(api.call(method, path, body))
}

/// A request that did not get an answer, in one line: the registry's address and why (a
/// TLS failure in words, else the deepest cause: "Connection refused").
pub fn unreachable(url: &reqwest::Url, e: reqwest::Error) -> anyhow::Error {
    let full = zoll_client::ClientError::from_reqwest_text(&e);
    let mut deepest = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        deepest = cause.to_string();
        source = cause.source();
    }
    let why = zoll_client::connection_hint(&full).map_or(deepest, str::to_owned);
    anyhow::anyhow!("cannot reach {}: {why}", url.origin().ascii_serialization())
}
