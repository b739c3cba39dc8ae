//! The token endpoint of the Docker/OCI token flow (`GET /token?service=&scope=`, and the
//! OAuth2 `POST /token` with `grant_type=password`): authenticates the caller (Basic, or
//! nobody), grants of each requested scope what `access::allowed` permits, and returns a
//! short-lived ES256 token. Actions asked for and not granted are audited as denied, in one
//! record per request. Scopes are checked against the repository name grammar (a malformed
//! one is a 400), and each client address may ask for a bounded number of tokens a second.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use http_body_util::BodyExt;

use super::jwt::{Access, Claims};
use super::{Identity, Principal, basic_credentials};
use crate::App;
use crate::access::{Action, allowed};
use crate::error::{ApiError, ApiResult};

/// Largest form body of `POST /token`.
const MAX_FORM_BYTES: usize = 64 * 1024;
/// Most scopes one token request may ask for.
const MAX_SCOPES: usize = 64;
/// Most actions one scope may list (`pull,push,delete,*` and the management actions).
const MAX_ACTIONS: usize = 8;

fn unauthorized(why: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", why).with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"zoll\""),
    )
}

fn pairs(raw: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{raw}").parse().unwrap_or_default(),
    )
    .map(|q| q.0)
    .unwrap_or_default()
}

pub async fn token_endpoint(
    app: &App,
    parts: &axum::http::request::Parts,
    body: Body,
    source: &str,
) -> ApiResult {
    if !app.auth.settings.enabled {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
            "authentication is off on this registry",
        ));
    }
    if !app.auth.token_requests.take(source, app.store.now_ms()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            format!("too many token requests from {source}; slow down"),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")));
    }
    let mut params = pairs(parts.uri.query().unwrap_or(""));
    if parts.method == Method::POST {
        let bytes = http_body_util::Limited::new(body, MAX_FORM_BYTES)
            .collect()
            .await
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "UNSUPPORTED", "bad form body"))?
            .to_bytes();
        params.extend(pairs(&String::from_utf8_lossy(&bytes)));
    } else if parts.method != Method::GET {
        return Err(ApiError::unsupported("use GET or POST on /token"));
    }
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let credentials = match basic_credentials(&parts.headers) {
        Some(c) => Some(c.map_err(|e| e.into_error(unauthorized))?),
        None if param("grant_type").as_deref() == Some("password") => {
            match (param("username"), param("password")) {
                (Some(u), Some(p)) => Some((u, p)),
                _ => return Err(unauthorized("username and password are required".into())),
            }
        }
        None => None,
    };
    let identity = match credentials {
        Some((user, pass)) => match app
            .auth
            .login(&app.store, &user, &pass, source, app.store.now_ms())
            .await
        {
            Ok(a) => Identity {
                principal: Principal::Account(Box::new(a)),
                token_access: None,
            },
            Err(refused) => {
                crate::audit::record(
                    app,
                    &user,
                    source,
                    "login",
                    "token",
                    "denied",
                    refused.why(),
                )
                .await;
                return Err(refused.into_error(unauthorized));
            }
        },
        None => Identity::anonymous(),
    };
    let scopes: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' '))
        .filter(|s| !s.is_empty())
        .collect();
    if scopes.len() > MAX_SCOPES {
        return Err(invalid(format!(
            "at most {MAX_SCOPES} scopes per token request"
        )));
    }
    let mut access: Vec<Access> = Vec::new();
    let mut denied = Vec::new();
    for scope in scopes {
        let scope = Scope::parse(scope, app.limits.max_name_len)?;
        if let Some(a) = grant(app, &identity, &scope, &mut denied).await? {
            // The same repository in several scopes: one entry with every granted action.
            match access
                .iter_mut()
                .find(|x| x.kind == a.kind && x.name == a.name)
            {
                Some(x) => {
                    for action in a.actions {
                        if !x.actions.contains(&action) {
                            x.actions.push(action);
                        }
                    }
                }
                None => access.push(a),
            }
        }
    }
    if !denied.is_empty() {
        let target = denied.first().map(|(n, _)| n.clone()).unwrap_or_default();
        let detail = denied
            .iter()
            .map(|(name, a)| format!("{} on {name}", a.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        crate::audit::record(
            app,
            identity.name(),
            source,
            "token",
            &target,
            "denied",
            &format!("not granted: {detail}"),
        )
        .await;
    }
    // The claims' times are i64 (`exp` is added to with saturation below).
    let now = app.store.now_ms().div_euclid(1000);
    // Bounded whatever the settings say: an `exp` that overflowed would be negative.
    let ttl = app
        .auth
        .settings
        .token_ttl
        .min(super::MAX_TOKEN_TTL)
        .as_secs()
        .cast_signed();
    let claims = Claims {
        iss: app.auth.settings.issuer.clone(),
        sub: match &identity.principal {
            Principal::Account(a) => a.name.clone(),
            _ => "anonymous".into(),
        },
        aud: app.auth.settings.service.clone(),
        exp: now.saturating_add(ttl),
        nbf: now,
        iat: now,
        jti: zoll_stdx::rand::hex_id(16),
        access,
    };
    let token = app.auth.keys.signer().sign(&claims);
    let mut resp = axum::Json(serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": ttl,
    }))
    .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn invalid(why: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID", why)
}

/// One requested scope, checked: `repository:NAME:ACTIONS` (NAME by the repository name
/// grammar, ACTIONS known actions or `*`), `registry:catalog:*`, or another resource type,
/// which is granted nothing.
enum Scope {
    Repository { name: String, actions: Vec<String> },
    Catalog,
    Other,
}

impl Scope {
    fn parse(raw: &str, max_name_len: usize) -> ApiResult<Scope> {
        let bad = || {
            invalid(format!(
                "scope {:?} is not TYPE:NAME:ACTIONS",
                truncated(raw)
            ))
        };
        let (kind, rest) = raw.split_once(':').ok_or_else(bad)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(bad)?;
        if kind == "registry" && name == "catalog" {
            return Ok(Scope::Catalog);
        }
        // `repository(plugin)` is the old form some clients still send.
        if kind != "repository" && !kind.starts_with("repository(") {
            return Ok(Scope::Other);
        }
        zoll_oci::RepoName::parse(name, max_name_len)
            .map_err(|e| invalid(format!("scope {:?}: {e}", truncated(raw))))?;
        let listed: Vec<&str> = actions.split(',').collect();
        if listed.len() > MAX_ACTIONS {
            return Err(invalid(format!(
                "scope {:?}: at most {MAX_ACTIONS} actions",
                truncated(raw)
            )));
        }
        if let Some(a) = listed
            .iter()
            .find(|a| **a != "*" && Action::parse(a).is_none())
        {
            return Err(invalid(format!(
                "scope {:?}: unknown action {a:?}",
                truncated(raw)
            )));
        }
        // Each action once: a scope repeating one would cost a permission check each time.
        let mut actions: Vec<String> = Vec::new();
        for a in listed {
            if !actions.iter().any(|x| x == a) {
                actions.push(a.to_owned());
            }
        }
        Ok(Scope::Repository {
            name: name.to_owned(),
            actions,
        })
    }
}

/// At most 100 characters of client text in a message.
fn truncated(s: &str) -> String {
    s.chars().take(100).collect()
}

/// What of `scope` the identity gets; actions asked for by name and not granted are added
/// to `denied`.
async fn grant(
    app: &App,
    id: &Identity,
    scope: &Scope,
    denied: &mut Vec<(String, Action)>,
) -> ApiResult<Option<Access>> {
    let (name, actions) = match scope {
        Scope::Other => return Ok(None),
        Scope::Catalog => {
            let ok = !matches!(id.principal, Principal::Anonymous);
            return Ok(ok.then(|| Access {
                kind: "registry".into(),
                name: "catalog".into(),
                actions: vec!["*".into()],
            }));
        }
        Scope::Repository { name, actions } => (name, actions),
    };
    let mut granted = Vec::new();
    for a in actions {
        let wanted: Vec<Action> = match a.as_str() {
            "*" => vec![Action::Pull, Action::Push, Action::Delete],
            other => Action::parse(other).into_iter().collect(),
        };
        for action in wanted {
            if granted.contains(&action.as_str().to_owned()) {
                continue;
            }
            if allowed(&app.store, id, action, name).await? {
                granted.push(action.as_str().to_owned());
            } else if a != "*" && !denied.contains(&(name.clone(), action)) {
                denied.push((name.clone(), action));
            }
        }
    }
    Ok((!granted.is_empty()).then(|| Access {
        kind: "repository".into(),
        name: name.clone(),
        actions: granted,
    }))
}
