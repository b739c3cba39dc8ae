//! What goes into the audit trail, and from where: every mutating Distribution API action
//! (finished uploads, mounts, manifest pushes, deletes, cancelled uploads), every manifest
//! pull (`GET`), every refused attempt (bad credentials, missing permission, policy
//! violations) and every management API change. Upload chunks are not recorded one by one:
//! the finished upload is.

use std::sync::Arc;

use axum::http::Method;
use tokio::sync::{mpsc, oneshot};
use zoll_store::{AuditEntry, Store};

use crate::access::Action;
use crate::route::Route;
use crate::App;

/// Most records written in one transaction.
const MAX_BATCH: usize = 256;

type Pending = (AuditEntry, oneshot::Sender<()>);

/// Group commit for the audit trail: every record still reaches the database before the
/// request that caused it is answered, but concurrent requests share one transaction (one
/// lock of the chain head, one commit) instead of queueing for one each. Without it the
/// chain head serializes every audited request, pulls included.
pub struct Writer {
    queue: mpsc::Sender<Pending>,
}

impl Writer {
    /// Starts the writing task; it ends when the `Writer` is dropped. It holds the store
    /// only while it writes, so closing the store never waits for it.
    pub fn start(store: &Arc<Store>) -> Writer {
        let (queue, mut pending) = mpsc::channel::<Pending>(4 * MAX_BATCH);
        let store = Arc::downgrade(store);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let (entries, waiting): (Vec<AuditEntry>, Vec<oneshot::Sender<()>>) =
                    batch.drain(..).unzip();
                let Some(store) = store.upgrade() else {
                    // Unreachable while anyone waits: every caller holds the App, which
                    // holds the store.
                    break;
                };
                // One retry: a transient conflict on the chain head must not lose a batch.
                let written = match store.audit_batch(&entries).await {
                    Ok(_) => Ok(()),
                    Err(_) => store.audit_batch(&entries).await.map(|_| ()),
                };
                drop(store);
                if let Err(e) = written {
                    tracing::error!(error = %e, records = entries.len(), "could not write audit records");
                }
                for w in waiting {
                    let _ = w.send(());
                }
            }
        });
        Writer { queue }
    }

    /// Queues `entry` and waits until its batch was written (or failed, which is logged).
    /// Gives the entry back if the writing task is gone.
    async fn append(&self, entry: AuditEntry) -> Result<(), AuditEntry> {
        let (done, written) = oneshot::channel();
        if let Err(mpsc::error::SendError((entry, _))) = self.queue.send((entry, done)).await {
            return Err(entry);
        }
        // The task drops the sender only after the write was attempted.
        let _ = written.await;
        Ok(())
    }
}

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
    // Err: the writing task is gone (the runtime is shutting down): write directly.
    let Err(entry) = app.audit_log.append(entry).await else {
        return;
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
