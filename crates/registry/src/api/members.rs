//! Project members and their roles: nobody hands out (or takes away) a role holding more
//! than they hold.

use axum::body::Body;
use serde::Deserialize;
use serde_json::{Value, json};
use zoll_store::AccountKind;

use super::{Ctx, bad, json_body, no_content, not_found, ok};
use crate::access::{Action, Role};
use crate::error::ApiResult;

pub(super) async fn route(c: &Ctx<'_>, m: &str, segs: &[&str], body: Body) -> ApiResult {
    match (m, segs) {
        ("GET", ["projects", p, "members"]) => {
            let list: Vec<Value> = list(c, p)
                .await?
                .into_iter()
                .map(|(a, r)| json!({"account": a, "role": r}))
                .collect();
            ok(json!(list))
        }
        ("PUT", ["projects", p, "members", who]) => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Member {
                role: String,
            }
            c.require(Action::ManageMembers, p, "member.set").await?;
            let m: Member = json_body(body).await?;
            let role = set(c, p, who, &m.role).await?;
            ok(json!({"account": who, "role": role.as_str()}))
        }
        ("DELETE", ["projects", p, "members", who]) => {
            remove(c, p, who).await?;
            no_content()
        }
        _ => Err(not_found("endpoint")),
    }
}

/// The members of a project and their roles (whoever may pull from it may see them):
/// `GET /api/v1/projects/{p}/members` and the console's members page.
pub(crate) async fn list(c: &Ctx<'_>, project: &str) -> ApiResult<Vec<(String, String)>> {
    c.require(Action::Pull, project, "member.list").await?;
    Ok(c.app.store.members(project).await?)
}

/// Gives `who` the role `role` in `project` (`PUT /api/v1/projects/{p}/members/{who}` and
/// the console's form): the caller manages members, holds everything the role allows and
/// everything the member's present role allows; audited.
pub(crate) async fn set(c: &Ctx<'_>, project: &str, who: &str, role: &str) -> ApiResult<Role> {
    c.require(Action::ManageMembers, project, "member.set")
        .await?;
    let role = Role::parse(role).ok_or_else(|| {
        bad(format!(
            "unknown role {role:?} (project-admin, maintainer, developer, guest)"
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
    Ok(role)
}

/// Removes `who` from `project` (`DELETE /api/v1/projects/{p}/members/{who}` and the
/// console's form): nobody removes a member who holds more than they do; audited.
pub(crate) async fn remove(c: &Ctx<'_>, p: &str, who: &str) -> ApiResult<()> {
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
    Ok(())
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
