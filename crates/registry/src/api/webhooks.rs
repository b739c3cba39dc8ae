//! A project's webhooks and their deliveries.

use axum::body::Body;
use serde::Deserialize;
use serde_json::json;

use super::{Ctx, bad, created, json_body, no_content, not_found, ok};
use crate::access::Action;
use crate::error::ApiResult;
use zoll_store::{Attempt, Delivery, Webhook};

pub(super) async fn route(c: &Ctx<'_>, m: &str, segs: &[&str], body: Body) -> ApiResult {
    match (m, segs) {
        ("GET", ["projects", p, "webhooks"]) => ok(json!(list(c, p).await?)),
        ("POST", ["projects", p, "webhooks"]) => add_webhook(c, p, body).await,
        ("DELETE", ["projects", p, "webhooks", hook]) => {
            delete(c, p, hook).await?;
            no_content()
        }
        ("GET", ["projects", p, "webhooks", hook, "deliveries"]) => {
            let mut out = Vec::new();
            for (d, attempts) in deliveries(c, p, hook, 100).await? {
                let mut v = serde_json::to_value(&d).expect("serializes");
                v["attempt_log"] = json!(attempts);
                out.push(v);
            }
            ok(json!(out))
        }
        _ => Err(not_found("endpoint")),
    }
}

/// A project's webhooks (`GET /api/v1/projects/{p}/webhooks` and the console): for those
/// who manage its policies.
pub(crate) async fn list(c: &Ctx<'_>, p: &str) -> ApiResult<Vec<Webhook>> {
    c.require(Action::ManagePolicies, p, "webhook.list").await?;
    Ok(c.app.store.webhooks(p).await?)
}

/// The newest `n` deliveries of a webhook of `p` with their attempts (the API's
/// `.../deliveries` and the console's delivery log).
pub(crate) async fn deliveries(
    c: &Ctx<'_>,
    p: &str,
    hook: &str,
    n: u64,
) -> ApiResult<Vec<(Delivery, Vec<Attempt>)>> {
    c.require(Action::ManagePolicies, p, "webhook.deliveries")
        .await?;
    let hook_row = c.app.store.webhook(hook).await?;
    if hook_row.is_none_or(|h| h.project != p) {
        return Err(not_found(&format!("webhook {hook}")));
    }
    let mut out = Vec::new();
    for d in c.app.store.deliveries(hook, n).await? {
        let attempts = c.app.store.attempts(&d.id).await?;
        out.push((d, attempts));
    }
    Ok(out)
}

async fn add_webhook(c: &Ctx<'_>, project: &str, body: Body) -> ApiResult {
    c.require(Action::ManagePolicies, project, "webhook.create")
        .await?;
    let h: NewHook = json_body(body).await?;
    created(json!(add(c, project, h).await?))
}

/// Deletes a webhook of `p` (the API's `DELETE` and the console); audited.
pub(crate) async fn delete(c: &Ctx<'_>, p: &str, hook: &str) -> ApiResult<()> {
    c.require(Action::ManagePolicies, p, "webhook.delete")
        .await?;
    if !c.app.store.delete_webhook(p, hook).await? {
        return Err(not_found(&format!("webhook {hook}")));
    }
    c.audit("webhook.delete", &format!("{p}/{hook}"), "ok", "")
        .await;
    Ok(())
}

/// A webhook to add, as `POST /api/v1/projects/{p}/webhooks` takes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewHook {
    pub(crate) url: String,
    pub(crate) secret: String,
    #[serde(default)]
    pub(crate) events: Vec<String>,
}

/// Adds a webhook to `project` (the API's `POST` and the console's form): for those who
/// manage its policies, to a destination the registry may reach, with a secret of at least
/// 16 bytes and known event types; audited.
pub(crate) async fn add(c: &Ctx<'_>, project: &str, h: NewHook) -> ApiResult<Webhook> {
    c.require(Action::ManagePolicies, project, "webhook.create")
        .await?;
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
    Ok(hook)
}
