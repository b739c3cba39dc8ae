//! The management API client of the CLI (`/api/v1`): where the registry is, who calls it,
//! the password, and one bounded request helper every management command goes through.

use std::io::Read;

use anyhow::{Context, bail};
use serde_json::Value;
use zoll_registry::auth::password;

use crate::runtime;

/// Where the management API is and who calls it.
#[derive(clap::Args)]
pub struct Remote {
    /// Registry base URL.
    #[arg(long, env = "ZOLL_REGISTRY", default_value = "http://127.0.0.1:5000")]
    pub(crate) registry: String,
    /// Account name; the password comes from ZOLL_PASSWORD, a prompt on a terminal, or
    /// standard input.
    #[arg(long, env = "ZOLL_USER", default_value = "admin")]
    pub(crate) user: String,
    /// Read the password from standard input even on a terminal.
    #[arg(long)]
    pub(crate) password_stdin: bool,
}

/// The password of `who`: `ZOLL_PASSWORD`; else, on a terminal, a prompt that does not echo;
/// else (a pipe, or `from_stdin`: `--password-stdin`) the first line of standard input.
pub fn read_password(who: &str, from_stdin: bool) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("ZOLL_PASSWORD") {
        return Ok(p);
    }
    let p = if !from_stdin && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        rpassword::prompt_password(format!("password for {who}: "))
            .context("cannot read the password from the terminal")?
    } else {
        let mut s = String::new();
        std::io::stdin()
            .take(password::MAX_PASSWORD_BYTES as u64 + 2)
            .read_to_string(&mut s)
            .context("cannot read the password from standard input")?;
        s.lines().next().unwrap_or_default().to_owned()
    };
    if p.len() < 8 || p.len() > password::MAX_PASSWORD_BYTES {
        bail!("passwords need 8 to {} bytes", password::MAX_PASSWORD_BYTES);
    }
    Ok(p)
}

/// Largest management-API response read (the audit export pages, listings): a server that
const MAX_RESPONSE: usize = 64 << 20;

pub fn call(
    remote: &Remote,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let password = read_password(&remote.user, remote.password_stdin)?;
    let url = format!("{}/api/v1{path}", remote.registry.trim_end_matches('/'));
    runtime()?.block_on(async {
        let http = reqwest::Client::new();
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut req = http
            .request(method, &url)
            .basic_auth(&remote.user, Some(&password));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        let body = zoll_client::read_limited(resp, MAX_RESPONSE)
            .await
            .with_context(|| format!("{url}: reading the response"))?;
        let text = String::from_utf8_lossy(&body).into_owned();
        let v: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let msg = v["errors"][0]["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            bail!("{status}: {msg}");
        }
        Ok(v)
    })
}

pub fn show(v: &Value) {
    if !v.is_null() {
        println!("{}", serde_json::to_string_pretty(v).expect("serializes"));
    }
}
