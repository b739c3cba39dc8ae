//! What goes into the audit trail, and from where: every mutating Distribution API action
//! (finished uploads, mounts, manifest pushes, deletes, cancelled uploads), every manifest
//! pull (`GET`), every refused attempt (bad credentials, missing permission, policy
//! violations) and every management API change. Upload chunks are not recorded one by one:
//! the finished upload is.

use axum::http::Method;
use zoll_store::AuditEntry;

use crate::access::Action;
use crate::route::Route;
use crate::App;

/// Appends one record; a failure to audit is logged loudly (the action already happened).
pub async fn record(
    app: &App,
    actor: &str,
    source: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: &str,
) {
    let entry = AuditEntry {
        actor: actor.to_owned(),
        source: source.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        outcome: outcome.to_owned(),
        detail: detail.to_owned(),
    };
    if let Err(e) = app.store.audit(&entry).await {
        tracing::error!(error = %e, action, target, "could not write the audit record");
    }
}

/// A refused attempt to do `action` on `target`; a refused pull is also a webhook event.
pub async fn denied(app: &App, actor: &str, source: &str, action: Action, target: &str, why: &str) {
    record(app, actor, source, action.as_str(), target, "denied", why).await;
    if action == Action::Pull {
        crate::events::emit(
            app,
            crate::events::Event::new(crate::events::PULL_DENIED, target)
                .actor(actor)
                .detail(why),
        )
        .await;
    }
}

/// The audit action of a Distribution API request, if it is one that is recorded.
pub fn v2_action(route: &Route<'_>, method: &Method, query: Option<&str>) -> Option<&'static str> {
    let q = query.unwrap_or("");
    Some(match (route, method.as_str()) {
        (Route::Manifest { .. }, "GET") => "pull",
        (Route::Manifest { reference, .. }, "PUT") => {
            let _ = reference;
            "manifest.push"
        }
        (Route::Manifest { reference, .. }, "DELETE") => {
            if reference.contains(':') {
                "manifest.delete"
            } else {
                "tag.delete"
            }
        }
        (Route::Blob { .. }, "DELETE") => "blob.delete",
        (Route::UploadStart { .. }, "POST") if q.contains("mount=") => "blob.mount",
        (Route::UploadStart { .. }, "POST") if q.contains("digest=") => "blob.upload",
        (Route::Upload { .. }, "PUT") => "blob.upload",
        (Route::Upload { .. }, "DELETE") => "upload.cancel",
        _ => return None,
    })
}

/// `repo:tag`, `repo@digest` or `repo` for the audit target of a request.
pub fn v2_target(route: &Route<'_>, query: Option<&str>) -> String {
    let digest_param = || {
        query
            .unwrap_or("")
            .split('&')
            .find_map(|kv| {
                kv.strip_prefix("digest=")
                    .or_else(|| kv.strip_prefix("mount="))
            })
            .map(|d| d.replace("%3A", ":").replace("%3a", ":"))
    };
    match route {
        Route::Manifest { name, reference } if reference.contains(':') => {
            format!("{name}@{reference}")
        }
        Route::Manifest { name, reference } => format!("{name}:{reference}"),
        Route::Blob { name, digest } => format!("{name}@{digest}"),
        Route::UploadStart { name } | Route::Upload { name, .. } => match digest_param() {
            Some(d) => format!("{name}@{d}"),
            None => (*name).to_owned(),
        },
        Route::Tags { name } | Route::Referrers { name, .. } => (*name).to_owned(),
        Route::Base | Route::Catalog => "registry".to_owned(),
    }
}
