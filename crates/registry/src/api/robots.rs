//! Robot accounts of a project: nobody creates or deletes a robot holding more than they
//! hold; a robot never outlives the robot that created it.

use axum::body::Body;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use zoll_store::{Account, AccountKind};

use super::accounts::account_json;
use super::{Ctx, bad, created, json_body, no_content, not_found, ok, valid_account};
use crate::access::{self, Action, RobotPermission};
use crate::auth::password;
use crate::error::{ApiError, ApiResult};

pub(super) async fn route(c: &Ctx<'_>, m: &str, segs: &[&str], body: Body) -> ApiResult {
    match (m, segs) {
        ("GET", ["projects", p, "robots"]) => {
            let list: Vec<Value> = list(c, p).await?.iter().map(account_json).collect();
            ok(json!(list))
        }
        ("POST", ["projects", p, "robots"]) => {
            c.require(Action::ManageMembers, p, "robot.create").await?;
            let r: NewRobot = json_body(body).await?;
            let made = create(c, p, r).await?;
            created(
                json!({"name": made.name, "secret": made.secret, "expires_ms": made.expires_ms}),
            )
        }
        ("DELETE", ["projects", p, "robots", name]) => {
            delete(c, p, name).await?;
            no_content()
        }
        _ => Err(not_found("endpoint")),
    }
}

/// Longest robot lifetime a request may ask for.
const MAX_ROBOT_DAYS: u32 = 36_500;

pub(super) fn robot_name(project: &str, name: &str) -> String {
    if name.starts_with("robot$") {
        name.to_owned()
    } else {
        format!("robot${project}+{name}")
    }
}

/// The robots of a project (`GET /api/v1/projects/{p}/robots` and the console): for those
/// who manage its members.
pub(crate) async fn list(c: &Ctx<'_>, p: &str) -> ApiResult<Vec<Account>> {
    c.require(Action::ManageMembers, p, "robot.list").await?;
    let mut robots = c.app.store.accounts(Some(p)).await?;
    robots.retain(|a| a.kind == AccountKind::Robot);
    Ok(robots)
}

/// Deletes a robot of `p` (`DELETE /api/v1/projects/{p}/robots/{name}` and the console):
/// not one holding more than the caller; audited.
pub(crate) async fn delete(c: &Ctx<'_>, p: &str, name: &str) -> ApiResult<()> {
    c.require(Action::ManageMembers, p, "robot.delete").await?;
    let full = robot_name(p, name);
    let robot = c
        .app
        .store
        .account(&full)
        .await?
        .filter(|a| a.kind == AccountKind::Robot && a.project.as_deref() == Some(p));
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
    Ok(())
}

/// A robot to create, as `POST /api/v1/projects/{p}/robots` takes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRobot {
    pub(crate) name: String,
    pub(crate) permissions: Vec<RobotPermission>,
    /// Expiry as milliseconds since the epoch, or
    pub(crate) expires_ms: Option<i64>,
    /// days from now.
    pub(crate) expires_in_days: Option<u32>,
    #[serde(default)]
    pub(crate) description: String,
}

/// A robot just created: its secret exists only here (the store keeps a hash).
pub(crate) struct CreatedRobot {
    pub(crate) name: String,
    pub(crate) secret: String,
    pub(crate) expires_ms: Option<i64>,
}

/// Creates a robot in `project` (the API's `POST` and the console's form): the caller
/// manages members and holds every permission it grants (`pull-ungated`: system
/// administrators only); audited, with a record of its own for `pull-ungated`.
pub(crate) async fn create(c: &Ctx<'_>, project: &str, r: NewRobot) -> ApiResult<CreatedRobot> {
    c.require(Action::ManageMembers, project, "robot.create")
        .await?;
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
    let now = c.app.store.now_ms();
    let max_ms = now.saturating_add(i64::from(MAX_ROBOT_DAYS) * 86_400_000);
    let mut expires_ms = match (r.expires_ms, r.expires_in_days) {
        (Some(ms), _) => Some(ms),
        (None, Some(d)) if d > MAX_ROBOT_DAYS => {
            return Err(bad(format!("expires_in_days is at most {MAX_ROBOT_DAYS}")));
        }
        (None, Some(d)) => Some(now + i64::from(d) * 86_400_000),
        (None, None) => None,
    };
    if let Some(ms) = expires_ms
        && (ms <= now || ms > max_ms)
    {
        return Err(bad(format!(
            "a robot's expiry must be in the future and within {MAX_ROBOT_DAYS} days"
        )));
    }
    // A robot cannot outlive the robot that creates it.
    if let Some(creator) = c.id.account().filter(|a| a.kind == AccountKind::Robot)
        && let Some(limit) = creator.expires_ms
    {
        match expires_ms {
            None => expires_ms = Some(limit),
            Some(ms) if ms > limit => {
                return Err(bad(format!(
                    "{} expires at {limit} ms; a robot it creates cannot expire later",
                    creator.name
                )));
            }
            Some(_) => {}
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
    Ok(CreatedRobot {
        name,
        secret,
        expires_ms,
    })
}
