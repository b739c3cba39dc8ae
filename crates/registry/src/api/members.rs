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
        _ => Err(not_found("endpoint")),
    }
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
