//! Who is asking: authentication of every request (Basic, Bearer tokens this registry
//! issued, or nobody), the token endpoint of the Docker/OCI token flow, and the first-start
//! administrator. What an identity may do is `crate::access`.

pub mod jwt;
pub mod password;
mod token;

use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode};
use base64::Engine;
use zoll_store::{Account, AccountKind, Store, StoreError};

use crate::error::ApiError;
pub use token::token_endpoint;

/// How the registry authenticates; filled from the `[auth]` configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Off only for local experiments and tests (`serve --no-auth`): everyone may do
    /// everything.
    pub enabled: bool,
    /// `iss` of issued tokens.
    pub issuer: String,
    /// `aud` of issued tokens and the `service` of challenges.
    pub service: String,
    pub token_ttl: Duration,
    /// Token endpoint URL announced in challenges; unset: `<scheme>://<Host>/token`.
    pub realm: Option<String>,
    /// Scheme of the announced realm when derived from the Host header.
    pub scheme: &'static str,
}

impl AuthSettings {
    pub fn disabled() -> AuthSettings {
        AuthSettings {
            enabled: false,
            ..AuthSettings::enabled()
        }
    }

    pub fn enabled() -> AuthSettings {
        AuthSettings {
            enabled: true,
            issuer: "zoll".into(),
            service: "zoll-registry".into(),
            token_ttl: Duration::from_secs(300),
            realm: None,
            scheme: "http",
        }
    }
}

/// Authentication state shared by all requests: settings and the token keys (which live in
/// the metadata database, so every replica signs and verifies with the same ones).
pub struct Auth {
    pub settings: AuthSettings,
    pub keys: jwt::KeySet,
}

impl Auth {
    /// Loads the token-signing keys, creating one on first start. Replicas starting together
    /// converge on the first key stored.
    pub async fn load(store: &Store, settings: AuthSettings) -> Result<Auth, StoreError> {
        let mut keys = store.token_keys().await?;
        if keys.is_empty() {
            let key = jwt::SigningKey::generate();
            store.add_token_key(&key.kid, &key.pkcs8_hex()).await?;
            keys = store.token_keys().await?;
        }
        let keys: Vec<jwt::SigningKey> = keys
            .iter()
            .filter_map(|(kid, der)| {
                let k = jwt::SigningKey::from_pkcs8_hex(der);
                if k.is_none() {
                    tracing::error!(kid, "unreadable token key in the metadata database");
                }
                k
            })
            .collect();
        if keys.is_empty() {
            return Err(StoreError::Denied("no usable token-signing key".into()));
        }
        Ok(Auth {
            settings,
            keys: jwt::KeySet::new(keys),
        })
    }
}

/// Who made a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// No credentials.
    Anonymous,
    Account(Box<Account>),
    /// Authentication is off (`--no-auth`).
    Unrestricted,
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub principal: Principal,
    /// With a Bearer token: the access it grants; requests outside it need a new token.
    pub token_access: Option<Vec<jwt::Access>>,
}

impl Identity {
    pub fn anonymous() -> Identity {
        Identity {
            principal: Principal::Anonymous,
            token_access: None,
        }
    }

    pub fn name(&self) -> &str {
        match &self.principal {
            Principal::Anonymous => "anonymous",
            Principal::Account(a) => &a.name,
            Principal::Unrestricted => "-",
        }
    }

    pub fn account(&self) -> Option<&Account> {
        match &self.principal {
            Principal::Account(a) => Some(a),
            _ => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        match &self.principal {
            Principal::Account(a) => a.admin,
            Principal::Unrestricted => true,
            Principal::Anonymous => false,
        }
    }
}

/// Why credentials were refused (a 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `user:password` of a Basic Authorization header.
pub(crate) fn basic_credentials(h: &HeaderMap) -> Option<Result<(String, String), Refused>> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bad = || Refused("malformed Basic credentials".into());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad());
    Some(raw.and_then(|raw| {
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (u, p) = text.split_once(':').ok_or_else(bad)?;
        Ok((u.to_owned(), p.to_owned()))
    }))
}

/// Checks an account's password (off the async threads) and whether the account may log
/// in at all. A hash from htpasswd is upgraded to argon2id on success.
pub async fn login(store: &Store, user: &str, pass: &str) -> Result<Account, Refused> {
    let refused = || Refused(format!("invalid credentials for {user}"));
    let account = store
        .account(user)
        .await
        .map_err(|e| Refused(format!("account lookup failed: {e}")))?;
    let stored = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        // Unknown users cost the same as known ones.
        .unwrap_or_else(|| "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());
    let p = pass.to_owned();
    let verdict = tokio::task::spawn_blocking(move || password::verify(&p, &stored))
        .await
        .map_err(|_| refused())?;
    let account = account.ok_or_else(refused)?;
    match verdict {
        password::Verdict::Wrong => return Err(refused()),
        password::Verdict::RightRehash => {
            let p = pass.to_owned();
            if let Ok(h) = tokio::task::spawn_blocking(move || password::hash(&p)).await {
                if let Err(e) = store.set_password_hash(user, &h).await {
                    tracing::warn!(user, error = %e, "could not upgrade an imported password hash");
                }
            }
        }
        password::Verdict::Right => {}
    }
    usable(account)
}

/// Disabled accounts and expired robots cannot authenticate.
fn usable(a: Account) -> Result<Account, Refused> {
    if a.disabled {
        return Err(Refused(format!("account {} is disabled", a.name)));
    }
    if a.kind == AccountKind::Robot && a.expires_ms.is_some_and(|e| e <= crate::now_ms()) {
        return Err(Refused(format!("robot account {} has expired", a.name)));
    }
    Ok(a)
}

impl Auth {
    /// The identity of a request: nobody, an account (Basic), or a token's subject (Bearer,
    /// checked against the account as it is now: a disabled account's tokens stop working).
    pub async fn authenticate(&self, store: &Store, h: &HeaderMap) -> Result<Identity, Refused> {
        if !self.settings.enabled {
            return Ok(Identity {
                principal: Principal::Unrestricted,
                token_access: None,
            });
        }
        let Some(value) = h.get(header::AUTHORIZATION) else {
            return Ok(Identity::anonymous());
        };
        let value = value
            .to_str()
            .map_err(|_| Refused("malformed Authorization header".into()))?;
        if let Some(basic) = basic_credentials(h) {
            let (u, p) = basic?;
            let account = login(store, &u, &p).await?;
            return Ok(Identity {
                principal: Principal::Account(Box::new(account)),
                token_access: None,
            });
        }
        let Some(token) = value
            .trim()
            .strip_prefix("Bearer ")
            .or_else(|| value.trim().strip_prefix("bearer "))
        else {
            return Err(Refused("unsupported authorization scheme".into()));
        };
        let expect = jwt::Expect {
            issuer: &self.settings.issuer,
            audience: &self.settings.service,
            now: now_secs(),
        };
        let claims = self
            .keys
            .verify(token.trim(), &expect)
            .map_err(|e| Refused(e.to_string()))?;
        let principal = if claims.sub == "anonymous" || claims.sub.is_empty() {
            Principal::Anonymous
        } else {
            let account = store
                .account(&claims.sub)
                .await
                .map_err(|e| Refused(format!("account lookup failed: {e}")))?
                .ok_or_else(|| Refused(format!("account {} no longer exists", claims.sub)))?;
            Principal::Account(Box::new(usable(account)?))
        };
        Ok(Identity {
            principal,
            token_access: Some(claims.access),
        })
    }

    /// The `WWW-Authenticate` challenge for a request to `host` needing `scope`.
    pub fn challenge(&self, host: Option<&str>, scope: Option<&str>) -> String {
        let realm = match &self.settings.realm {
            Some(r) => r.clone(),
            None => format!(
                "{}://{}/token",
                self.settings.scheme,
                host.unwrap_or("localhost")
            ),
        };
        let mut c = format!(
            "Bearer realm=\"{realm}\",service=\"{}\"",
            self.settings.service
        );
        if let Some(s) = scope {
            c.push_str(&format!(",scope=\"{s}\""));
        }
        c
    }

    /// A 401 that sends the client to the token endpoint.
    pub fn unauthorized(&self, h: &HeaderMap, scope: Option<&str>, why: &str) -> ApiError {
        let host = h.get(header::HOST).and_then(|v| v.to_str().ok());
        let challenge = self.challenge(host, scope);
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", why.to_owned()).with_header(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_str(&challenge)
                .unwrap_or_else(|_| axum::http::HeaderValue::from_static("Bearer")),
        )
    }
}

/// First start: when no account exists, create `admin` with the configured password or a
/// generated one, which is returned so the caller can show it once.
pub async fn bootstrap_admin(
    store: &Store,
    configured: Option<&str>,
) -> Result<Option<String>, StoreError> {
    if store.count_accounts().await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match configured {
        Some(p) => (p.to_owned(), false),
        None => {
            let mut b = [0u8; 18];
            aws_lc_rs::rand::fill(&mut b).expect("system RNG available");
            (
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b),
                true,
            )
        }
    };
    let p = password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&p))
        .await
        .map_err(|e| StoreError::Busy(e.to_string()))?;
    let created = store
        .put_account(&Account::user("admin", hash, true), false)
        .await?;
    Ok((created && generated).then_some(password))
}
