//! The management REST API under `/api/v1/` (documented in `docs/gov-openapi.yaml`):
//! accounts, projects, members, robots, quotas, immutable-tag rules, retention, webhooks and
//! the audit trail. Basic credentials only: registry tokens (from `/token`) are for `/v2/`.
//! Every change is authorized by `access` and audited. Errors use the OCI error JSON of
//! `error.rs`.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use zoll_store::{Account, AccountKind, Project};

use crate::access::{self, allowed, Action, RobotPermission, Role};
use crate::auth::{password, Identity, Principal};
use crate::error::{ApiError, ApiResult};
use crate::push_rules::ImmutableRule;
use crate::retention::RetentionPolicy;
use crate::App;

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

fn forbidden(id: &Identity, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "DENIED",
        format!("{} may not {what}", id.name()),
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
fn valid_project(name: &str) -> ApiResult<()> {
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

pub async fn metrics(app: &App, parts: &axum::http::request::Parts, source: &str) -> Response {
    match app
        .auth
        .authenticate(&app.store, &parts.headers, source)
        .await
    {
        Ok(id) if id.token_access.is_some() => unauthorized(REGISTRY_TOKEN).into_response(),
        Ok(id) if id.is_admin() => {
            let mut r = crate::metrics::render(app).await.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            r
        }
        Ok(id) if !matches!(id.principal, Principal::Anonymous) => {
            forbidden(&id, "read metrics").into_response()
        }
        Ok(_) => unauthorized("authentication required").into_response(),
        Err(e) => e.into_error(|why| unauthorized(&why)).into_response(),
    }
}

pub async fn handle(
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
    result.unwrap_or_else(IntoResponse::into_response)
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
        Err(forbidden(self.id, what))
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

    async fn require_admin(&self, what: &str, target: &str) -> ApiResult<()> {
        if self.id.is_admin() {
            return Ok(());
        }
        self.audit(what, target, "denied", "system administrator only")
            .await;
        Err(forbidden(self.id, what))
    }

    async fn project(&self, name: &str) -> ApiResult<Project> {
        self.app
            .store
            .project(name)
            .await?
            .ok_or_else(|| not_found(&format!("project {name}")))
    }
}

async fn route(c: &Ctx<'_>, m: &Method, segs: &[&str], body: Body) -> ApiResult {
    match (m.as_str(), segs) {
        (_, ["approvals", rest @ ..]) => crate::approvals::route(c, m, rest, body).await,
        ("GET", ["whoami"]) => whoami(c).await,
        ("GET", ["users"]) => {
            c.require_admin("account.list", "accounts").await?;
            let list: Vec<Value> = c
                .app
                .store
                .accounts(None)
                .await?
                .iter()
                .map(account_json)
                .collect();
            ok(json!(list))
        }
        ("POST", ["users"]) => create_user(c, body).await,
        ("DELETE", ["users", name]) => {
            c.require_admin("account.delete", name).await?;
            if !c.app.store.delete_account(name).await? {
                return Err(not_found(&format!("account {name}")));
            }
            c.audit("account.delete", name, "ok", "").await;
            no_content()
        }
        ("PUT", ["users", name, "password"]) => set_password(c, name, body).await,
        ("GET", ["projects"]) => list_projects(c).await,
        ("POST", ["projects"]) => create_project(c, body).await,
        ("GET", ["projects", p]) => {
            c.require(Action::Pull, p, "project.read").await?;
            ok(project_json(&c.project(p).await?))
        }
        ("PATCH", ["projects", p]) => patch_project(c, p, body).await,
        ("DELETE", ["projects", p]) => {
            c.require_admin("project.delete", p).await?;
            if !c.app.store.delete_project(p).await? {
                return Err(not_found(&format!("project {p}")));
            }
            c.audit("project.delete", p, "ok", "").await;
            no_content()
        }
        ("GET", ["projects", p, "members"]) => {
            c.require(Action::Pull, p, "member.list").await?;
            let list: Vec<Value> = c
                .app
                .store
                .members(p)
                .await?
                .into_iter()
                .map(|(a, r)| json!({"account": a, "role": r}))
                .collect();
            ok(json!(list))
        }
        ("PUT", ["projects", p, "members", who]) => set_member(c, p, who, body).await,
        ("DELETE", ["projects", p, "members", who]) => {
            c.require(Action::ManageMembers, p, "member.remove").await?;
            if let Some(current) = member_role(c, p, who).await? {
                c.require_grantable_role(p, current, "member.remove", who)
                    .await?;
            }
            if !c.app.store.remove_member(p, who).await? {
                return Err(not_found(&format!("member {who}")));
            }
            c.audit("member.remove", &format!("{p}/{who}"), "ok", "")
                .await;
            no_content()
        }
        ("GET", ["projects", p, "robots"]) => {
            c.require(Action::ManageMembers, p, "robot.list").await?;
            let list: Vec<Value> = c
                .app
                .store
                .accounts(Some(p))
                .await?
                .iter()
                .filter(|a| a.kind == AccountKind::Robot)
                .map(account_json)
                .collect();
            ok(json!(list))
        }
        ("POST", ["projects", p, "robots"]) => create_robot(c, p, body).await,
        ("DELETE", ["projects", p, "robots", name]) => {
            c.require(Action::ManageMembers, p, "robot.delete").await?;
            let full = robot_name(p, name);
            let robot = c
                .app
                .store
                .account(&full)
                .await?
                .filter(|a| a.kind == AccountKind::Robot && a.project.as_deref() == Some(*p));
            let Some(robot) = robot else {
                return Err(not_found(&format!("robot {full}")));
            };
            // Removing a robot that holds more than the caller is not theirs to do either.
            c.require_grantable_robot(p, &access::robot_permissions(&robot), "robot.delete", &full)
                .await?;
            if !c.app.store.delete_account(&full).await? {
                return Err(not_found(&format!("robot {full}")));
            }
            c.audit("robot.delete", &full, "ok", "").await;
            no_content()
        }
        ("GET", ["projects", p, "quota"]) => {
            c.require(Action::Pull, p, "quota.read").await?;
            let project = c.project(p).await?;
            let u = c.app.store.usage(p).await?;
            ok(json!({
                "max_bytes": project.quota_bytes,
                "max_artifacts": project.quota_artifacts,
                "used_bytes": u.bytes(),
                "used_artifacts": u.manifests,
            }))
        }
        ("PUT", ["projects", p, "quota"]) => set_quota(c, p, body).await,
        ("GET", ["projects", p, "immutable"]) => {
            c.require(Action::Pull, p, "immutable.read").await?;
            ok(json!(crate::push_rules::rules(&c.project(p).await?)?))
        }
        ("PUT", ["projects", p, "immutable"]) => {
            c.require(Action::ManagePolicies, p, "immutable.set")
                .await?;
            let rules: Vec<ImmutableRule> = json_body(body).await?;
            if let Some(why) = rules.iter().find_map(ImmutableRule::invalid) {
                return Err(bad(format!("immutable-tag rule: {why}")));
            }
            let mut project = c.project(p).await?;
            project.immutable_rules = serde_json::to_string(&rules).expect("serializes");
            c.app.store.update_project(&project).await?;
            c.audit("immutable.set", p, "ok", &project.immutable_rules)
                .await;
            ok(json!(rules))
        }
        ("GET", ["projects", p, "retention"]) => {
            c.require(Action::Pull, p, "retention.read").await?;
            let project = c.project(p).await?;
            let policy: Value = project
                .retention
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or(Value::Null);
            ok(policy)
        }
        ("PUT", ["projects", p, "retention"]) => {
            c.require(Action::ManagePolicies, p, "retention.set")
                .await?;
            // A retention policy deletes on schedule: setting one is deleting.
            c.require(Action::Delete, p, "retention.set").await?;
            let policy: RetentionPolicy = json_body(body).await?;
            if !policy.is_valid() {
                return Err(bad(
                    "a retention policy needs keep_last or keep_days above 0, or keep_tags \
                     patterns (each a valid pattern: * within a tag, ? one character)",
                ));
            }
            let mut project = c.project(p).await?;
            project.retention = Some(serde_json::to_string(&policy).expect("serializes"));
            c.app.store.update_project(&project).await?;
            c.audit(
                "retention.set",
                p,
                "ok",
                project.retention.as_deref().unwrap_or(""),
            )
            .await;
            ok(json!(policy))
        }
        ("DELETE", ["projects", p, "retention"]) => {
            c.require(Action::ManagePolicies, p, "retention.set")
                .await?;
            let mut project = c.project(p).await?;
            project.retention = None;
            c.app.store.update_project(&project).await?;
            c.audit("retention.set", p, "ok", "removed").await;
            no_content()
        }
        ("POST", ["projects", p, "retention", "run"]) => {
            let dry_run = c.query.get("dry_run").is_none_or(|v| v != "false");
            c.require(Action::ManagePolicies, p, "retention.run")
                .await?;
            if !dry_run {
                c.require(Action::Delete, p, "retention.run").await?;
            }
            c.project(p).await?;
            let report = crate::retention::run(c.app, p, dry_run).await?;
            if !dry_run {
                c.audit(
                    "retention.run",
                    p,
                    "ok",
                    &format!("{} deleted", report.deleted.len()),
                )
                .await;
            }
            ok(serde_json::to_value(report).expect("serializes"))
        }
        ("GET", ["projects", p, "webhooks"]) => {
            c.require(Action::ManagePolicies, p, "webhook.list").await?;
            ok(json!(c.app.store.webhooks(p).await?))
        }
        ("POST", ["projects", p, "webhooks"]) => add_webhook(c, p, body).await,
        ("DELETE", ["projects", p, "webhooks", hook]) => {
            c.require(Action::ManagePolicies, p, "webhook.delete")
                .await?;
            if !c.app.store.delete_webhook(p, hook).await? {
                return Err(not_found(&format!("webhook {hook}")));
            }
            c.audit("webhook.delete", &format!("{p}/{hook}"), "ok", "")
                .await;
            no_content()
        }
        ("GET", ["projects", p, "webhooks", hook, "deliveries"]) => {
            c.require(Action::ManagePolicies, p, "webhook.deliveries")
                .await?;
            let hook_row = c.app.store.webhook(hook).await?;
            if hook_row.is_none_or(|h| h.project != *p) {
                return Err(not_found(&format!("webhook {hook}")));
            }
            let mut out = Vec::new();
            for d in c.app.store.deliveries(hook, 100).await? {
                let attempts = c.app.store.attempts(&d.id).await?;
                let mut v = serde_json::to_value(&d).expect("serializes");
                v["attempt_log"] = json!(attempts);
                out.push(v);
            }
            ok(json!(out))
        }
        ("GET", ["scans"]) => crate::api_scans::get(c).await,
        ("POST", ["scans"]) => crate::api_scans::rescan(c, body).await,
        ("GET", ["vulnerabilities", id]) => crate::api_scans::affected(c, id).await,
        ("GET", ["audit"]) => audit_export(c).await,
        ("GET", ["audit", "verify"]) => {
            c.require_admin("audit.verify", "audit").await?;
            let r = c.app.store.audit_verify().await?;
            ok(json!({
                "records": r.records,
                "head_seq": r.head_seq,
                "head_hash": r.head_hash,
                "intact": r.intact(),
                "findings": r.findings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }))
        }
        _ => Err(not_found("endpoint")),
    }
}

fn account_json(a: &Account) -> Value {
    json!({
        "name": a.name,
        "kind": match a.kind { AccountKind::User => "user", AccountKind::Robot => "robot" },
        "admin": a.admin,
        "disabled": a.disabled,
        "project": a.project,
        "permissions": a.permissions.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok()),
        "expires_ms": a.expires_ms,
        "description": a.description,
        "created_ms": a.created_ms,
    })
}

fn project_json(p: &Project) -> Value {
    json!({
        "name": p.name,
        "public": p.public,
        "quota": {"max_bytes": p.quota_bytes, "max_artifacts": p.quota_artifacts},
        "immutable": crate::push_rules::rules(p).ok(),
        "retention": p.retention.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok()),
        "created_ms": p.created_ms,
    })
}

async fn whoami(c: &Ctx<'_>) -> ApiResult {
    let memberships = match c.id.account() {
        Some(a) => c.app.store.memberships(&a.name).await?,
        None => Vec::new(),
    };
    ok(json!({
        "name": c.id.name(),
        "admin": c.id.is_admin(),
        "projects": memberships.into_iter().map(|(p, r)| json!({"project": p, "role": r})).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

async fn create_user(c: &Ctx<'_>, body: Body) -> ApiResult {
    let u: NewUser = json_body(body).await?;
    c.require_admin("account.create", &u.name).await?;
    valid_account(&u.name)?;
    if u.password.len() < 8 || u.password.len() > password::MAX_PASSWORD_BYTES {
        return Err(bad("passwords need 8 to 1024 bytes"));
    }
    let hash = hash_password(c, &u.password).await?;
    if !c
        .app
        .store
        .put_account(&Account::user(&u.name, hash, u.admin), false)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "EXISTS",
            format!("account {} exists", u.name),
        ));
    }
    c.audit(
        "account.create",
        &u.name,
        "ok",
        if u.admin { "admin" } else { "" },
    )
    .await;
    created(json!({"name": u.name, "admin": u.admin}))
}

/// An argon2id hash of a new password, through the server's bounded hashing.
async fn hash_password(c: &Ctx<'_>, password: &str) -> ApiResult<String> {
    c.app.auth.hashing.hash(password).await.map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            "too many password operations in progress; try again shortly",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    })
}

async fn set_password(c: &Ctx<'_>, name: &str, body: Body) -> ApiResult {
    #[derive(Deserialize)]
    struct Body_ {
        password: String,
    }
    let self_service =
        c.id.account()
            .is_some_and(|a| a.name == name && a.kind == AccountKind::User);
    if !self_service {
        c.require_admin("account.password", name).await?;
    }
    let b: Body_ = json_body(body).await?;
    if b.password.len() < 8 || b.password.len() > password::MAX_PASSWORD_BYTES {
        return Err(bad("passwords need 8 to 1024 bytes"));
    }
    let hash = hash_password(c, &b.password).await?;
    if !c.app.store.set_password_hash(name, &hash).await? {
        return Err(not_found(&format!("account {name}")));
    }
    c.audit("account.password", name, "ok", "").await;
    no_content()
}

async fn list_projects(c: &Ctx<'_>) -> ApiResult {
    let mut out = Vec::new();
    for p in c.app.store.projects().await? {
        if allowed(&c.app.store, c.id, Action::Pull, &p.name).await? {
            out.push(project_json(&p));
        }
    }
    ok(json!(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProject {
    name: String,
    #[serde(default)]
    public: bool,
}

async fn create_project(c: &Ctx<'_>, body: Body) -> ApiResult {
    let p: NewProject = json_body(body).await?;
    c.require_admin("project.create", &p.name).await?;
    valid_project(&p.name)?;
    let project = Project::new(&p.name, p.public);
    if !c.app.store.create_project(&project).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "EXISTS",
            format!("project {} exists", p.name),
        ));
    }
    c.audit(
        "project.create",
        &p.name,
        "ok",
        if p.public { "public" } else { "private" },
    )
    .await;
    created(project_json(&project))
}

async fn patch_project(c: &Ctx<'_>, name: &str, body: Body) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Patch {
        public: Option<bool>,
    }
    c.require(Action::ManageMembers, name, "project.update")
        .await?;
    let patch: Patch = json_body(body).await?;
    let mut project = c.project(name).await?;
    if let Some(public) = patch.public {
        // Making a project public grants pull to everyone: only for callers who hold it.
        if public && !project.public {
            c.require_grantable_role(name, Role::Guest, "project.update", name)
                .await?;
        }
        project.public = public;
    }
    c.app.store.update_project(&project).await?;
    c.audit(
        "project.update",
        name,
        "ok",
        &format!("public={}", project.public),
    )
    .await;
    ok(project_json(&project))
}

async fn set_member(c: &Ctx<'_>, project: &str, who: &str, body: Body) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Member {
        role: String,
    }
    c.require(Action::ManageMembers, project, "member.set")
        .await?;
    let m: Member = json_body(body).await?;
    let role = Role::parse(&m.role).ok_or_else(|| {
        bad(format!(
            "unknown role {:?} (project-admin, maintainer, developer, guest)",
            m.role
        ))
    })?;
    c.project(project).await?;
    match c.app.store.account(who).await? {
        Some(a) if a.kind == AccountKind::User => {}
        _ => return Err(not_found(&format!("user {who}"))),
    }
    let target = format!("{project}/{who}");
    c.require_grantable_role(project, role, "member.set", &target)
        .await?;
    // Nor may anyone change the role of a member who holds more than they do.
    if let Some(current) = member_role(c, project, who).await? {
        c.require_grantable_role(project, current, "member.set", &target)
            .await?;
    }
    c.app.store.set_member(project, who, role.as_str()).await?;
    c.audit(
        "member.set",
        &format!("{project}/{who}"),
        "ok",
        role.as_str(),
    )
    .await;
    ok(json!({"account": who, "role": role.as_str()}))
}

/// The role `who` has in `project` now.
async fn member_role(c: &Ctx<'_>, project: &str, who: &str) -> ApiResult<Option<Role>> {
    Ok(c.app
        .store
        .member_role(project, who)
        .await?
        .as_deref()
        .and_then(Role::parse))
}

/// Longest robot lifetime a request may ask for.
const MAX_ROBOT_DAYS: u32 = 36_500;

pub fn robot_name(project: &str, name: &str) -> String {
    if name.starts_with("robot$") {
        name.to_owned()
    } else {
        format!("robot${project}+{name}")
    }
}

async fn create_robot(c: &Ctx<'_>, project: &str, body: Body) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewRobot {
        name: String,
        permissions: Vec<RobotPermission>,
        /// Expiry as milliseconds since the epoch, or
        expires_ms: Option<i64>,
        /// days from now.
        expires_in_days: Option<u32>,
        #[serde(default)]
        description: String,
    }
    c.require(Action::ManageMembers, project, "robot.create")
        .await?;
    let r: NewRobot = json_body(body).await?;
    valid_account(&r.name)?;
    c.project(project).await?;
    if r.permissions.is_empty() {
        return Err(bad("a robot needs at least one permission"));
    }
    if r.permissions.len() > 64 || r.permissions.iter().any(|p| p.repositories.len() > 255) {
        return Err(bad(
            "at most 64 permissions, each pattern at most 255 bytes",
        ));
    }
    for p in &r.permissions {
        if let Err(e) = zoll_glob::Glob::parse_relative(&p.repositories) {
            return Err(bad(format!("permission on {:?}: {e}", p.repositories)));
        }
    }
    let name = robot_name(project, &r.name);
    c.require_grantable_robot(project, &r.permissions, "robot.create", &name)
        .await?;
    let now = crate::now_ms();
    let max_ms = now.saturating_add(i64::from(MAX_ROBOT_DAYS) * 86_400_000);
    let mut expires_ms = match (r.expires_ms, r.expires_in_days) {
        (Some(ms), _) => Some(ms),
        (None, Some(d)) if d > MAX_ROBOT_DAYS => {
            return Err(bad(format!("expires_in_days is at most {MAX_ROBOT_DAYS}")))
        }
        (None, Some(d)) => Some(now + i64::from(d) * 86_400_000),
        (None, None) => None,
    };
    if let Some(ms) = expires_ms {
        if ms <= now || ms > max_ms {
            return Err(bad(format!(
                "a robot's expiry must be in the future and within {MAX_ROBOT_DAYS} days"
            )));
        }
    }
    // A robot cannot outlive the robot that creates it.
    if let Some(creator) = c.id.account().filter(|a| a.kind == AccountKind::Robot) {
        if let Some(limit) = creator.expires_ms {
            match expires_ms {
                None => expires_ms = Some(limit),
                Some(ms) if ms > limit => {
                    return Err(bad(format!(
                        "{} expires at {limit} ms; a robot it creates cannot expire later",
                        creator.name
                    )))
                }
                Some(_) => {}
            }
        }
    }
    let (secret, stored) = password::robot_secret();
    let account = Account {
        kind: AccountKind::Robot,
        project: Some(project.to_owned()),
        permissions: Some(serde_json::to_string(&r.permissions).expect("serializes")),
        expires_ms,
        description: r.description,
        ..Account::user(&name, stored, false)
    };
    if !c.app.store.put_account(&account, false).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "EXISTS",
            format!("robot {name} exists"),
        ));
    }
    c.audit(
        "robot.create",
        &name,
        "ok",
        account.permissions.as_deref().unwrap_or(""),
    )
    .await;
    if r.permissions
        .iter()
        .any(|p| p.actions.contains(&Action::PullUngated))
    {
        // A trust-gate bypass gets a record of its own, easy to find in a review.
        c.audit(
            "grant.pull-ungated",
            &name,
            "ok",
            "a system administrator granted a way around the trust policy",
        )
        .await;
    }
    created(json!({"name": name, "secret": secret, "expires_ms": expires_ms}))
}

async fn set_quota(c: &Ctx<'_>, project: &str, body: Body) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Q {
        max_bytes: Option<u64>,
        max_artifacts: Option<u64>,
    }
    c.require_admin("quota.set", project).await?;
    let q: Q = json_body(body).await?;
    let mut p = c.project(project).await?;
    p.quota_bytes = q.max_bytes;
    p.quota_artifacts = q.max_artifacts;
    c.app.store.update_project(&p).await?;
    c.audit(
        "quota.set",
        project,
        "ok",
        &format!(
            "max_bytes={:?} max_artifacts={:?}",
            q.max_bytes, q.max_artifacts
        ),
    )
    .await;
    ok(json!({"max_bytes": q.max_bytes, "max_artifacts": q.max_artifacts}))
}

async fn add_webhook(c: &Ctx<'_>, project: &str, body: Body) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewHook {
        url: String,
        secret: String,
        #[serde(default)]
        events: Vec<String>,
    }
    c.require(Action::ManagePolicies, project, "webhook.create")
        .await?;
    let h: NewHook = json_body(body).await?;
    c.project(project).await?;
    if c.app.store.webhook_count(project).await? >= crate::events::MAX_WEBHOOKS_PER_PROJECT {
        return Err(bad(format!(
            "project {project} has {} webhooks, the most allowed",
            crate::events::MAX_WEBHOOKS_PER_PROJECT
        )));
    }
    if h.events.len() > crate::events::EVENT_TYPES.len() {
        return Err(bad("too many event types"));
    }
    let url = reqwest::Url::parse(&h.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && h.url.len() <= 2048)
        .ok_or_else(|| bad("webhook URLs are http:// or https:// URLs of at most 2048 bytes"))?;
    if let Err(why) = c.app.hooks.destinations.check_host(&url).await {
        c.audit("webhook.create", project, "denied", &why).await;
        return Err(bad(format!("webhook destination refused: {why}")));
    }
    if h.secret.len() < 16 {
        return Err(bad("webhook secrets need at least 16 bytes"));
    }
    if let Some(e) = h
        .events
        .iter()
        .find(|e| !crate::events::EVENT_TYPES.contains(&e.as_str()))
    {
        return Err(bad(format!("unknown event type {e}")));
    }
    let hook = c
        .app
        .store
        .add_webhook(project, &h.url, &h.secret, &h.events)
        .await?;
    c.audit(
        "webhook.create",
        &format!("{project}/{}", hook.id),
        "ok",
        &hook.url,
    )
    .await;
    created(json!(hook))
}

/// `GET /api/v1/audit?after=SEQ&limit=N&format=jsonl|csv|json`
async fn audit_export(c: &Ctx<'_>) -> ApiResult {
    c.require_admin("audit.read", "audit").await?;
    let after: i64 = c
        .query
        .get("after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let limit: u64 = c
        .query
        .get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .min(10_000);
    let records = c.app.store.audit_records(after, limit).await?;
    let format = c.query.get("format").map(String::as_str).unwrap_or("json");
    let (body, ctype) = match format {
        "jsonl" => (crate::export::jsonl(&records), "application/x-ndjson"),
        "csv" => (crate::export::csv(&records), "text/csv; charset=utf-8"),
        "json" => return ok(json!(records)),
        other => return Err(bad(format!("unknown format {other} (json, jsonl, csv)"))),
    };
    Ok(([(header::CONTENT_TYPE, ctype)], body).into_response())
}
