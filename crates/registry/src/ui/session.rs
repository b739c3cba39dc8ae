//! Console sessions and the defences of its forms.
//!
//! A session is an opaque 256-bit token in a cookie; the metadata database keeps only a
//! SHA-256 of it (with a label, so the hash is of no use elsewhere), so every replica
//! recognises it and a reader of the database cannot log in. The per-session form token is
//! another labelled SHA-256 of the session token: stable for the session, never stored, and
//! not derivable from what is stored. Expiry is decided here from the registry's clock
//! (`Store::now_ms`): idle and absolute, both from [`UiSettings`].

use axum::http::{HeaderMap, HeaderValue, Uri, header};
use zoll_store::Store;

use super::UiSettings;
use crate::auth::{Identity, Principal};

/// The cookie's name when it is `Secure` (TLS, or a TLS-terminating proxy in front): the
/// `__Host-` prefix makes browsers refuse it unless it is `Secure`, `Path=/` and set
/// without a `Domain`, so no sibling host can plant or overwrite it.
pub const SECURE_COOKIE: &str = "__Host-zoll_session";
/// The name over plain HTTP on a loopback listener (local experiments): browsers refuse the
/// `__Host-` prefix without `Secure`, and `Secure` cookies are not sent over plain HTTP.
pub const PLAIN_COOKIE: &str = "zoll_session";

/// Length of a session token in hex digits (256 bits).
const TOKEN_HEX: usize = 64;
/// A session's `seen` time is written at most this often (not on every page view).
const TOUCH_EVERY_MS: i64 = 60_000;

/// A logged-in browser: who, and its token (the cookie's value).
pub(crate) struct Session {
    pub(crate) identity: Identity,
    pub(crate) token: String,
}

impl Session {
    pub(crate) fn name(&self) -> &str {
        self.identity.name()
    }

    /// The token the session's forms carry.
    pub(crate) fn form_token(&self) -> String {
        form_token(&self.token)
    }
}

pub(crate) fn cookie_name(s: &UiSettings) -> &'static str {
    if s.secure_cookie {
        SECURE_COOKIE
    } else {
        PLAIN_COOKIE
    }
}

/// A fresh session token: 256 bits from the system RNG, as hex.
pub(crate) fn new_token() -> String {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).expect("system RNG available");
    zoll_stdx::hex::encode(&b)
}

fn labelled_hash(label: &str, token: &str) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(label.as_bytes());
    ctx.update(b"\n");
    ctx.update(token.as_bytes());
    zoll_stdx::hex::encode(ctx.finish().as_ref())
}

/// What the database keeps of a session token.
pub(crate) fn token_hash(token: &str) -> String {
    labelled_hash("zoll console session", token)
}

/// The form token of a session.
pub(crate) fn form_token(token: &str) -> String {
    labelled_hash("zoll console form", token)
}

/// Whether a submitted form token is the session's (constant time).
pub(crate) fn form_token_ok(session: &Session, submitted: &str) -> bool {
    zoll_stdx::ct::eq(session.form_token().as_bytes(), submitted.as_bytes())
}

/// The session token of the request's cookie, if it has one of the right shape.
pub(crate) fn cookie_token(s: &UiSettings, h: &HeaderMap) -> Option<String> {
    let name = cookie_name(s);
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| v.len() == TOKEN_HEX && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
}

/// `Set-Cookie` for a new session.
pub(crate) fn set_cookie(s: &UiSettings, token: &str) -> HeaderValue {
    let secure = if s.secure_cookie { "; Secure" } else { "" };
    let v = format!(
        "{}={token}; Path=/; HttpOnly{secure}; SameSite=Lax",
        cookie_name(s)
    );
    HeaderValue::from_str(&v).expect("hex token")
}

/// `Set-Cookie` that makes the browser forget the session.
pub(crate) fn clear_cookie(s: &UiSettings) -> HeaderValue {
    let secure = if s.secure_cookie { "; Secure" } else { "" };
    let v = format!(
        "{}=; Path=/; Max-Age=0; HttpOnly{secure}; SameSite=Lax",
        cookie_name(s)
    );
    HeaderValue::from_str(&v).expect("fixed text")
}

/// Starts a session for `account` (the oldest of its sessions beyond the bound end) and
/// returns its token.
pub(crate) async fn start(
    store: &Store,
    s: &UiSettings,
    account: &str,
) -> Result<String, zoll_store::StoreError> {
    let token = new_token();
    store
        .create_console_session(
            &token_hash(&token),
            account,
            store.now_ms(),
            s.max_sessions_per_account,
        )
        .await?;
    Ok(token)
}

/// Ends the session of `token` (logout, or a new login replacing it).
pub(crate) async fn end(store: &Store, token: &str) -> Result<bool, zoll_store::StoreError> {
    store.delete_console_session(&token_hash(token)).await
}

/// The request's session: its cookie names a stored session that has not expired, of an
/// account that still exists and may log in. An expired session is deleted.
pub(crate) async fn current(
    store: &Store,
    s: &UiSettings,
    h: &HeaderMap,
) -> Result<Option<Session>, zoll_store::StoreError> {
    let Some(token) = cookie_token(s, h) else {
        return Ok(None);
    };
    let hash = token_hash(&token);
    let Some(row) = store.console_session(&hash).await? else {
        return Ok(None);
    };
    let now = store.now_ms();
    let idle = i64::try_from(s.idle.as_millis()).unwrap_or(i64::MAX);
    let absolute = i64::try_from(s.absolute.as_millis()).unwrap_or(i64::MAX);
    let expired =
        now.saturating_sub(row.seen_ms) >= idle || now.saturating_sub(row.created_ms) >= absolute;
    let account = match store.account(&row.account).await? {
        Some(a) if !expired && !a.disabled && a.kind == zoll_store::AccountKind::User => a,
        _ => {
            store.delete_console_session(&hash).await?;
            return Ok(None);
        }
    };
    if now.saturating_sub(row.seen_ms) >= TOUCH_EVERY_MS {
        store.touch_console_session(&hash, now).await?;
    }
    Ok(Some(Session {
        identity: Identity {
            principal: Principal::Account(Box::new(account)),
            token_access: None,
        },
        token,
    }))
}

/// The origin this server is reached at, as browsers write it in `Origin`.
fn served_origin(s: &UiSettings, h: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(origin) = &s.origin {
        return Some(origin.clone());
    }
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))?;
    let scheme = if s.secure_cookie { "https" } else { "http" };
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// Whether a state-changing request comes from a page of this server: its `Origin` (or,
/// without one, its `Referer`) names the served scheme and host. Neither header: refused.
pub(crate) fn same_origin(s: &UiSettings, h: &HeaderMap, uri: &Uri) -> bool {
    let Some(expected) = served_origin(s, h, uri) else {
        return false;
    };
    if let Some(origin) = h.get(header::ORIGIN) {
        return origin
            .to_str()
            .is_ok_and(|o| o.eq_ignore_ascii_case(&expected));
    }
    h.get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.get(..expected.len() + 1).map(|head| (head, r)))
        .is_some_and(|(head, _)| {
            head[..expected.len()].eq_ignore_ascii_case(&expected) && head.ends_with('/')
        })
}
