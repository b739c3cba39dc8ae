//! The management REST API under `/api/v1/` (documented in `docs/gov-openapi.yaml`):
//! accounts, projects, members, robots, quotas, immutable-tag rules, retention, webhooks,
//! scans, the audit trail and online backup, one module per resource; this one authenticates, holds the
//! request context and sends each path to its module. Basic credentials only: registry tokens (from `/token`) are for `/v2/`.
//! Every change is authorized by `access` and audited. Errors use the OCI error JSON of
//! `error.rs`.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::Value;
use zoll_store::Project;

use crate::App;
use crate::access::{self, Action, RobotPermission, Role, allowed};
use crate::auth::{Identity, Principal};
use crate::error::{ApiError, ApiResult};

mod accounts;
pub(crate) mod audit;
mod backup;
pub(crate) mod members;
pub(crate) mod projects;
pub(crate) mod robots;
pub(crate) mod rules;
mod scans;
pub(crate) mod webhooks;

pub use accounts::account_json;

const MAX_BODY: usize = 256 * 1024;
/// No management document nests deeper.
const MAX_BODY_DEPTH: usize = 32;

pub(crate) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "INVALID", msg)
}

pub(crate) fn not_found(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("{what} not found"),
    )
}

/// A refusal as people read it: who, what they may not do, where, and which roles would let
/// them (the audit trail keeps the internal action name).
fn forbidden(id: &Identity, action: Action, target: &str) -> ApiError {
    let needs = match action.granted_by() {
        Some(roles) => format!(" (needs the role {roles})"),
        None => String::new(),
    };
    ApiError::new(
        StatusCode::FORBIDDEN,
        "DENIED",
        format!(
            "{} may not {} in {target}{needs}",
            id.name(),
            action.phrase()
        ),
    )
}

/// The administrator-only audit actions as people say them.
fn admin_phrase(what: &str) -> &str {
    match what {
        "account.list" => "list accounts",
        "account.create" => "create accounts",
        "account.delete" => "delete accounts",
        "account.password" => "set another account's password",
        "audit.verify" => "verify the audit trail",
        "audit.read" => "read the audit trail",
        "backup.read" => "read a backup of the registry",
        "project.create" => "create projects",
        "project.delete" => "delete projects",
        "quota.set" => "set quotas",
        other => other,
    }
}

/// A refusal of what only a system administrator may do.
fn admin_only(id: &Identity, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "DENIED",
        format!(
            "only a system administrator may {what}; {} is not one",
            id.name()
        ),
    )
}

fn unauthorized(why: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", why.to_owned()).with_header(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"zoll\""),
    )
}

pub(crate) fn ok(v: Value) -> ApiResult {
    Ok(axum::Json(v).into_response())
}

fn created(v: Value) -> ApiResult {
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A project name: one repository path component.
pub(crate) fn valid_project(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && zoll_oci::RepoName::parse(name, 64).is_ok()
        && !name.contains('/');
    ok.then_some(())
        .ok_or_else(|| bad(format!("invalid project name {name:?}")))
}

fn valid_account(name: &str) -> ApiResult<()> {
    crate::auth::check_account_name(name).map_err(bad)
}

/// A request that sends a body says it is JSON. A browser sends a cross-site form only as
/// `text/plain`, `application/x-www-form-urlencoded` or `multipart/form-data`; JSON needs a
/// preflight no other site passes. So a page elsewhere cannot post a body shaped like JSON
/// with credentials the browser cached for this registry (review finding: an
/// administrator's cached Basic credentials created an account).
fn json_content_type(parts: &axum::http::request::Parts, body: &Body) -> ApiResult<()> {
    use http_body::Body as _;
    let has_body = !body.is_end_stream() && body.size_hint().exact() != Some(0);
    if !has_body {
        return Ok(());
    }
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED",
            "send the request body as Content-Type: application/json",
        ))
    }
}

pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(body: Body) -> ApiResult<T> {
    let bytes = http_body_util::Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| bad("request body too large or unreadable"))?
        .to_bytes();
    if zoll_oci::json::too_deep(&bytes, MAX_BODY_DEPTH) {
        return Err(bad(format!(
            "JSON body nests deeper than {MAX_BODY_DEPTH} levels"
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

/// `/metrics`: a system administrator's credentials (Prometheus basic_auth or a token), or
/// nobody when authentication is off.
/// Registry tokens carry the access a docker client asked for on `/v2/`; every client
/// caches them, so they must not act with the account's full rights anywhere else.
const REGISTRY_TOKEN: &str =
    "registry tokens do not authorize the management API; use Basic credentials";

pub(crate) async fn metrics(
    app: &App,
    parts: &axum::http::request::Parts,
    source: &str,
) -> Response {
    let page = || async {
        let mut r = crate::metrics::render(app).await.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        );
        r
    };
    // The dedicated scraper: no account, so it is checked first and alone.
    if let Some(reader) = &app.metrics_reader
        && reader.admits(&parts.headers)
    {
        let mut r = page().await;
        r.extensions_mut()
            .insert(crate::AccessUser("(metrics token)".into()));
        return r;
    }
    match app
        .auth
        .authenticate(&app.store, &parts.headers, source)
        .await
    {
        Ok(id) if id.token_access.is_some() => unauthorized(REGISTRY_TOKEN).into_response(),
        Ok(id) if id.is_admin() => page().await,
        Ok(id) if !matches!(id.principal, Principal::Anonymous) => {
            admin_only(&id, "read metrics").into_response()
        }
        Ok(_) => unauthorized("authentication required").into_response(),
        Err(e) => e.into_error(|why| unauthorized(&why)).into_response(),
    }
}

pub(crate) async fn handle(
    app: &App,
    parts: &axum::http::request::Parts,
    body: Body,
    source: &str,
) -> Response {
    let id = match app
        .auth
        .authenticate(&app.store, &parts.headers, source)
        .await
    {
        Ok(id) => id,
        Err(e) => return e.into_error(|why| unauthorized(&why)).into_response(),
    };
    if matches!(id.principal, Principal::Anonymous) {
        return unauthorized("authentication required").into_response();
    }
    if id.token_access.is_some() {
        return unauthorized(REGISTRY_TOKEN).into_response();
    }
    if let Err(e) = json_content_type(parts, &body) {
        return e.into_response();
    }
    let path = parts
        .uri
        .path()
        .trim_start_matches("/api/v1")
        .trim_matches('/');
    let segs: Vec<&str> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    };
    let ctx = Ctx {
        app,
        id: &id,
        source,
        query: crate::query(&parts.uri),
    };
    let result = route(&ctx, &parts.method, &segs, body).await;
    let mut resp = result.unwrap_or_else(IntoResponse::into_response);
    resp.extensions_mut()
        .insert(crate::AccessUser(id.name().to_owned()));
    resp
}

pub(crate) struct Ctx<'a> {
    pub app: &'a App,
    pub id: &'a Identity,
    pub source: &'a str,
    pub query: std::collections::HashMap<String, String>,
}

impl Ctx<'_> {
    pub(crate) async fn audit(&self, action: &str, target: &str, outcome: &str, detail: &str) {
        crate::audit::record(
            self.app,
            self.id.name(),
            self.source,
            action,
            target,
            outcome,
            detail,
        )
        .await;
    }

    /// Checks `action` on `project`; a refusal is audited.
    pub(crate) async fn require(&self, action: Action, project: &str, what: &str) -> ApiResult<()> {
        if allowed(&self.app.store, self.id, action, project).await? {
            return Ok(());
        }
        self.audit(what, project, "denied", action.as_str()).await;
        Err(forbidden(self.id, action, project))
    }

    /// Refuses handing out (or taking away) `role` in `project` unless the caller holds
    /// every action it allows; the refusal is audited.
    pub(crate) async fn require_grantable_role(
        &self,
        project: &str,
        role: Role,
        what: &str,
        target: &str,
    ) -> ApiResult<()> {
        let own = access::own_role(&self.app.store, self.id, project).await?;
        let Some(missing) = access::missing_for_role(self.id, project, role, own) else {
            return Ok(());
        };
        let why = format!(
            "the role {} includes {}, which {} does not hold in {project}",
            role.as_str(),
            missing.as_str(),
            self.id.name()
        );
        self.audit(what, target, "denied", &why).await;
        Err(ApiError::new(StatusCode::FORBIDDEN, "DENIED", why))
    }

    /// Refuses granting (or revoking) robot permissions the caller does not hold itself;
    /// `pull-ungated` is granted by system administrators only. The refusal is audited.
    pub(crate) async fn require_grantable_robot(
        &self,
        project: &str,
        perms: &[RobotPermission],
        what: &str,
        target: &str,
    ) -> ApiResult<()> {
        let own = access::own_role(&self.app.store, self.id, project).await?;
        let Some((pattern, missing)) = access::missing_for_robot(self.id, project, perms, own)
        else {
            return Ok(());
        };
        let why = if missing == Action::PullUngated {
            format!(
                "only a system administrator may grant pull-ungated (a way around the trust \
                 policy); {} is not one",
                self.id.name()
            )
        } else {
            format!(
                "{} does not hold {} on {project}/{pattern}, so it cannot grant it",
                self.id.name(),
                missing.as_str()
            )
        };
        self.audit(what, target, "denied", &why).await;
        Err(ApiError::new(StatusCode::FORBIDDEN, "DENIED", why))
    }

    pub(crate) async fn require_admin(&self, what: &str, target: &str) -> ApiResult<()> {
        if self.id.is_admin() {
            return Ok(());
        }
        self.audit(what, target, "denied", "system administrator only")
            .await;
        Err(admin_only(self.id, admin_phrase(what)))
    }

    pub(crate) async fn project(&self, name: &str) -> ApiResult<Project> {
        self.app
            .store
            .project(name)
            .await?
            .ok_or_else(|| not_found(&format!("project {name}")))
    }
}

/// Sends a request to the module of its resource.
async fn route(c: &Ctx<'_>, m: &Method, segs: &[&str], body: Body) -> ApiResult {
    let method = m.as_str();
    match segs {
        ["approvals", rest @ ..] => crate::approvals::route(c, m, rest, body).await,
        ["whoami"] | ["users", ..] => accounts::route(c, method, segs, body).await,
        ["projects", _, "members", ..] => members::route(c, method, segs, body).await,
        ["projects", _, "robots", ..] => robots::route(c, method, segs, body).await,
        ["projects", _, "immutable" | "retention", ..] => rules::route(c, method, segs, body).await,
        ["projects", _, "webhooks", ..] => webhooks::route(c, method, segs, body).await,
        ["projects", ..] => projects::route(c, method, segs, body).await,
        ["scans"] | ["vulnerabilities", ..] => scans::route(c, method, segs, body).await,
        ["audit", ..] => audit::route(c, method, segs, body).await,
        ["backup", ..] => backup::route(c, method, segs, body).await,
        _ => Err(not_found("endpoint")),
    }
}
