//! Who is asking: authentication of every request (Basic, Bearer tokens this registry
//! issued, or nobody), the token endpoint of the Docker/OCI token flow, and the first-start
//! administrator. What an identity may do is `crate::access`.

pub mod jwt;
mod login_cache;
pub mod password;
mod throttle;
mod token;

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use zoll_store::{Account, AccountKind, Store, StoreError};

use crate::error::ApiError;
pub use throttle::ThrottleSettings;
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
    /// Failed-login limits per source address and per account.
    pub throttle: ThrottleSettings,
    /// Password hashes computed at once (each takes 19 MiB while it runs); 0: one per
    /// core, at most four.
    pub password_checks: usize,
    /// Token requests per second from one client address (bursts of five times as many);
    /// 0: unlimited.
    pub token_rate_per_source: u32,
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
            throttle: ThrottleSettings::default(),
            password_checks: 0,
            token_rate_per_source: 20,
        }
    }
}

/// Longest token lifetime accepted (a day); longer settings are refused at start.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Authentication state shared by all requests: settings and the token keys (which live in
/// the metadata database, so every replica signs and verifies with the same ones).
pub struct Auth {
    pub settings: AuthSettings,
    pub keys: jwt::KeySet,
    /// Every password hash the server computes goes through this bound.
    pub hashing: password::Hashing,
    logins: login_cache::LoginCache,
    throttle: throttle::Throttle,
    throttled: std::sync::atomic::AtomicU64,
    /// Token requests per client address.
    pub(crate) token_requests: crate::ratelimit::RateLimiter,
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
            hashing: password::Hashing::new(settings.password_checks),
            logins: login_cache::LoginCache::new(settings.token_ttl),
            throttle: throttle::Throttle::new(settings.throttle.clone()),
            throttled: Default::default(),
            token_requests: crate::ratelimit::RateLimiter::new(
                settings.token_rate_per_source,
                settings.token_rate_per_source.saturating_mul(5),
            ),
            settings,
            keys: jwt::KeySet::new(keys),
        })
    }
}

/// Names the registry itself uses for callers without an account (audit records, token
/// subjects); an account by one of these names would be confused with them.
pub const RESERVED_NAMES: [&str; 3] = ["anonymous", "unknown", "-"];

/// Whether `name` may name an account: 1 to 64 of `A-Za-z0-9._-@`, not reserved.
pub fn check_account_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if !ok {
        return Err(format!(
            "invalid account name {:?} (1 to 64 of A-Z a-z 0-9 . _ - @)",
            name.chars().take(80).collect::<String>()
        ));
    }
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(format!("the account name {name:?} is reserved"));
    }
    Ok(())
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

/// Why credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Wrong, malformed or unusable credentials: 401.
    Credentials(String),
    /// Too many failed logins, or too many password checks waiting: 429 with
    /// `Retry-After`, and no password hash computed.
    Throttled { why: String, retry_after_secs: u64 },
}

impl Refused {
    pub fn why(&self) -> &str {
        match self {
            Refused::Credentials(w) | Refused::Throttled { why: w, .. } => w,
        }
    }

    /// The error response: a throttled attempt gets 429, anything else `unauthorized`.
    pub fn into_error(self, unauthorized: impl FnOnce(String) -> ApiError) -> ApiError {
        match self {
            Refused::Credentials(why) => unauthorized(why),
            Refused::Throttled {
                why,
                retry_after_secs,
            } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", why).with_header(
                header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            ),
        }
    }
}

/// `user:password` of a Basic Authorization header.
pub(crate) fn basic_credentials(h: &HeaderMap) -> Option<Result<(String, String), Refused>> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bad = || Refused::Credentials("malformed Basic credentials".into());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad());
    Some(raw.and_then(|raw| {
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (u, p) = text.split_once(':').ok_or_else(bad)?;
        Ok((u.to_owned(), p.to_owned()))
    }))
}

/// What a login is checked against when the account does not exist, so that unknown
/// users cost the same as known ones (an argon2id hash of our parameters, or for robot
/// names a robot secret's hash).
const UNKNOWN_USER_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
/// Longest name a login may give (robot names are `robot$<project>+<name>`).
const MAX_LOGIN_NAME: usize = 200;
const UNKNOWN_ROBOT_HASH: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

impl Auth {
    /// Login attempts refused without a password check so far (for the metrics).
    pub fn throttled(&self) -> u64 {
        self.throttled.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_throttled(&self) {
        self.throttled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Checks an account's password and whether the account may log in at all: from the
    /// verified-login cache, else — unless `source` or the account used up its failures —
    /// with a bounded password hash. A hash from htpasswd is upgraded to argon2id on success.
    pub async fn login(
        &self,
        store: &Store,
        user: &str,
        pass: &str,
        source: &str,
        now_ms: i64,
    ) -> Result<Account, Refused> {
        // No account has a name this long or with control characters: refused before any
        // lookup, hash or throttle entry (which a client would otherwise size).
        if user.is_empty() || user.len() > MAX_LOGIN_NAME || user.chars().any(char::is_control) {
            return Err(Refused::Credentials("invalid credentials".into()));
        }
        let refused = || Refused::Credentials(format!("invalid credentials for {user}"));
        let account = store
            .account(user)
            .await
            .map_err(|e| Refused::Credentials(format!("account lookup failed: {e}")))?;
        let stored = match &account {
            Some(a) => a.password_hash.as_str(),
            None if user.starts_with("robot$") => UNKNOWN_ROBOT_HASH,
            None => UNKNOWN_USER_HASH,
        };
        if let Some(a) = &account
            && self.logins.verified(user, pass, stored, now_ms)
        {
            return usable(a.clone(), now_ms);
        }
        if let Some(retry_after_secs) = self.throttle.check(source, user, now_ms) {
            self.count_throttled();
            return Err(Refused::Throttled {
                why: format!("too many failed logins for {user} or from {source}; try again later"),
                retry_after_secs,
            });
        }
        let verdict = self
            .hashing
            .verify(pass, stored)
            .await
            .map_err(|password::Busy| {
                self.count_throttled();
                Refused::Throttled {
                    why: "too many logins in progress; try again shortly".into(),
                    retry_after_secs: 1,
                }
            })?;
        let Some(account) = account else {
            self.throttle.failed(source, None, now_ms);
            return Err(refused());
        };
        match verdict {
            password::Verdict::Wrong => {
                self.throttle.failed(source, Some(user), now_ms);
                return Err(refused());
            }
            password::Verdict::RightRehash => {
                if let Ok(h) = self.hashing.hash(pass).await
                    && let Err(e) = store.set_password_hash(user, &h).await
                {
                    tracing::warn!(user, error = %e, "could not upgrade an imported password hash");
                }
            }
            password::Verdict::Right => {
                self.logins
                    .remember(user, pass, &account.password_hash, now_ms);
            }
        }
        self.throttle.succeeded(user);
        usable(account, now_ms)
    }
}

/// Disabled accounts and expired robots cannot authenticate.
fn usable(a: Account, now_ms: i64) -> Result<Account, Refused> {
    if a.disabled {
        return Err(Refused::Credentials(format!(
            "account {} is disabled",
            a.name
        )));
    }
    if a.kind == AccountKind::Robot && a.expires_ms.is_some_and(|e| e <= now_ms) {
        return Err(Refused::Credentials(format!(
            "robot account {} has expired",
            a.name
        )));
    }
    Ok(a)
}

impl Auth {
    /// The identity of a request: nobody, an account (Basic), or a token's subject (Bearer,
    /// checked against the account as it is now: a disabled account's tokens stop working).
    pub async fn authenticate(
        &self,
        store: &Store,
        h: &HeaderMap,
        source: &str,
    ) -> Result<Identity, Refused> {
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
            .map_err(|_| Refused::Credentials("malformed Authorization header".into()))?;
        let now_ms = store.now_ms();
        if let Some(basic) = basic_credentials(h) {
            let (u, p) = basic?;
            let account = self.login(store, &u, &p, source, now_ms).await?;
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
            return Err(Refused::Credentials(
                "unsupported authorization scheme".into(),
            ));
        };
        let expect = jwt::Expect {
            issuer: &self.settings.issuer,
            audience: &self.settings.service,
            now: now_ms.div_euclid(1000),
        };
        let claims = self
            .keys
            .verify(token.trim(), &expect)
            .map_err(|e| Refused::Credentials(e.to_string()))?;
        let principal = if claims.sub == "anonymous" || claims.sub.is_empty() {
            Principal::Anonymous
        } else {
            let account = store
                .account(&claims.sub)
                .await
                .map_err(|e| Refused::Credentials(format!("account lookup failed: {e}")))?
                .ok_or_else(|| {
                    Refused::Credentials(format!("account {} no longer exists", claims.sub))
                })?;
            Principal::Account(Box::new(usable(account, now_ms)?))
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

    /// The response to refused credentials: a 401 that sends the client to the token
    /// endpoint, or a 429 for a throttled attempt.
    pub fn refusal(&self, h: &HeaderMap, scope: Option<&str>, refused: Refused) -> ApiError {
        refused.into_error(|why| self.unauthorized(h, scope, &why))
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
