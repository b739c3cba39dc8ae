//! A project's rules: immutable-tag rules and retention.

use axum::body::Body;
use serde_json::{Value, json};

use super::{Ctx, bad, json_body, no_content, not_found, ok};
use crate::access::Action;
use crate::error::ApiResult;
use crate::push_rules::ImmutableRule;
use crate::retention::RetentionPolicy;

pub(super) async fn route(c: &Ctx<'_>, m: &str, segs: &[&str], body: Body) -> ApiResult {
    match (m, segs) {
        ("GET", ["projects", p, "immutable"]) => ok(json!(immutable(c, p).await?)),
        ("PUT", ["projects", p, "immutable"]) => {
            c.require(Action::ManagePolicies, p, "immutable.set")
                .await?;
            let new: Vec<ImmutableRule> = json_body(body).await?;
            ok(json!(edit_immutable(c, p, |rules| *rules = new).await?))
        }
        ("GET", ["projects", p, "retention"]) => {
            let policy: Value = retention(c, p).await?.map_or(Value::Null, |r| {
                serde_json::to_value(r).expect("serializes")
            });
            ok(policy)
        }
        ("PUT", ["projects", p, "retention"]) => {
            require_retention_set(c, p).await?;
            let policy: RetentionPolicy = json_body(body).await?;
            ok(json!(set_retention(c, p, policy).await?))
        }
        ("DELETE", ["projects", p, "retention"]) => {
            remove_retention(c, p).await?;
            no_content()
        }
        ("POST", ["projects", p, "retention", "run"]) => {
            let dry_run = c.query.get("dry_run").is_none_or(|v| v != "false");
            let report = run_retention(c, p, dry_run).await?;
            ok(serde_json::to_value(report).expect("serializes"))
        }
        _ => Err(not_found("endpoint")),
    }
}

/// A project's immutable-tag rules, for whoever may pull from it (the API and the console).
pub(crate) async fn immutable(c: &Ctx<'_>, p: &str) -> ApiResult<Vec<ImmutableRule>> {
    c.require(Action::Pull, p, "immutable.read").await?;
    Ok(crate::push_rules::rules(&c.project(p).await?)?)
}

/// A project's retention policy, for whoever may pull from it (the API and the console).
pub(crate) async fn retention(c: &Ctx<'_>, p: &str) -> ApiResult<Option<RetentionPolicy>> {
    c.require(Action::Pull, p, "retention.read").await?;
    let project = c.project(p).await?;
    Ok(project
        .retention
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok()))
}

/// Runs the retention policy, or with `dry_run` only says what it would keep and delete
/// and why (`POST .../retention/run` and the console's preview): for those who manage the
/// project's policies, and who may delete in it unless it is a dry run; a real run is
/// audited.
pub(crate) async fn run_retention(
    c: &Ctx<'_>,
    p: &str,
    dry_run: bool,
) -> ApiResult<crate::retention::RetentionReport> {
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
    Ok(report)
}

/// Changes a project's immutable-tag rules with `edit` (the API's `PUT` replaces them; the
/// console adds or removes one): for those who manage its policies; every rule must be
/// valid; audited with the new rules.
pub(crate) async fn edit_immutable(
    c: &Ctx<'_>,
    p: &str,
    edit: impl FnOnce(&mut Vec<ImmutableRule>),
) -> ApiResult<Vec<ImmutableRule>> {
    c.require(Action::ManagePolicies, p, "immutable.set")
        .await?;
    let mut project = c.project(p).await?;
    let mut rules = crate::push_rules::rules(&project)?;
    edit(&mut rules);
    if let Some(why) = rules.iter().find_map(ImmutableRule::invalid) {
        return Err(bad(format!("immutable-tag rule: {why}")));
    }
    if rules.len() > MAX_IMMUTABLE_RULES {
        return Err(bad(format!(
            "at most {MAX_IMMUTABLE_RULES} immutable-tag rules"
        )));
    }
    project.immutable_rules = serde_json::to_string(&rules).expect("serializes");
    c.app.store.update_project(&project).await?;
    c.audit("immutable.set", p, "ok", &project.immutable_rules)
        .await;
    Ok(rules)
}

/// Most immutable-tag rules of one project.
const MAX_IMMUTABLE_RULES: usize = 256;

/// Setting a retention policy: managing the project's policies, and deleting in it (a
/// policy deletes on schedule, so setting one is deleting).
async fn require_retention_set(c: &Ctx<'_>, p: &str) -> ApiResult<()> {
    c.require(Action::ManagePolicies, p, "retention.set")
        .await?;
    c.require(Action::Delete, p, "retention.set").await
}

/// Sets a project's retention policy (the API's `PUT .../retention` and the console's
/// form); audited.
pub(crate) async fn set_retention(
    c: &Ctx<'_>,
    p: &str,
    policy: RetentionPolicy,
) -> ApiResult<RetentionPolicy> {
    require_retention_set(c, p).await?;
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
    Ok(policy)
}

/// Removes a project's retention policy (the API's `DELETE` and the console); audited.
pub(crate) async fn remove_retention(c: &Ctx<'_>, p: &str) -> ApiResult<()> {
    c.require(Action::ManagePolicies, p, "retention.set")
        .await?;
    let mut project = c.project(p).await?;
    project.retention = None;
    c.app.store.update_project(&project).await?;
    c.audit("retention.set", p, "ok", "removed").await;
    Ok(())
}
