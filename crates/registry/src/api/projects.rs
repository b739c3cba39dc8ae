//! Projects: list, create, read, change, delete, and their quotas.

use axum::body::Body;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use zoll_store::Project;

use super::{Ctx, created, json_body, no_content, not_found, ok, valid_project};
use crate::access::{Action, Role, allowed};
use crate::error::{ApiError, ApiResult};

pub(super) async fn route(c: &Ctx<'_>, m: &str, segs: &[&str], body: Body) -> ApiResult {
    match (m, segs) {
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
        ("GET", ["projects", p, "quota"]) => {
            let (project, u) = quota(c, p).await?;
            ok(json!({
                "max_bytes": project.quota_bytes,
                "max_artifacts": project.quota_artifacts,
                "used_bytes": u.bytes(),
                "used_artifacts": u.manifests,
            }))
        }
        ("PUT", ["projects", p, "quota"]) => set_quota(c, p, body).await,
        _ => Err(not_found("endpoint")),
    }
}

/// A project with its usage, for whoever may pull from it (`GET .../quota` and the
/// console).
pub(crate) async fn quota(c: &Ctx<'_>, p: &str) -> ApiResult<(Project, zoll_store::Usage)> {
    c.require(Action::Pull, p, "quota.read").await?;
    let project = c.project(p).await?;
    let u = c.app.store.usage(p).await?;
    Ok((project, u))
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

async fn list_projects(c: &Ctx<'_>) -> ApiResult {
    let mut out = Vec::new();
    // Only the projects the caller can see at all are checked one by one (review finding:
    // every project cost a non-member two queries).
    let visible = crate::listing::visible_projects(c.app, c.id).await?;
    for p in c.app.store.projects().await? {
        if crate::listing::outside(visible.as_deref(), &p.name) {
            continue;
        }
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

async fn set_quota(c: &Ctx<'_>, project: &str, body: Body) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Q {
        max_bytes: Option<u64>,
        max_artifacts: Option<u64>,
    }
    c.require_admin("quota.set", project).await?;
    let q: Q = json_body(body).await?;
    set_quota_limits(c, project, q.max_bytes, q.max_artifacts).await?;
    ok(json!({"max_bytes": q.max_bytes, "max_artifacts": q.max_artifacts}))
}

/// Sets a project's quota (`None`: no limit): system administrators only (the API's
/// `PUT .../quota` and the console's form); audited.
pub(crate) async fn set_quota_limits(
    c: &Ctx<'_>,
    project: &str,
    max_bytes: Option<u64>,
    max_artifacts: Option<u64>,
) -> ApiResult<()> {
    c.require_admin("quota.set", project).await?;
    let mut p = c.project(project).await?;
    p.quota_bytes = max_bytes;
    p.quota_artifacts = max_artifacts;
    c.app.store.update_project(&p).await?;
    c.audit(
        "quota.set",
        project,
        "ok",
        &format!("max_bytes={max_bytes:?} max_artifacts={max_artifacts:?}"),
    )
    .await;
    Ok(())
}
