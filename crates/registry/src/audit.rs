//! What goes into the audit trail, and from where: every mutating Distribution API action
//! (finished uploads, mounts, manifest pushes, deletes, cancelled uploads), every manifest
//! pull (`GET`), every refused attempt (bad credentials, missing permission, policy
//! violations) and every management API change. Upload chunks are not recorded one by one:
//! the finished upload is.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::http::Method;
use tokio::sync::{mpsc, oneshot};
use zoll_store::{AuditEntry, Store};

use crate::App;
use crate::access::Action;
use crate::route::Route;

/// Most records written in one transaction.
const MAX_BATCH: usize = 256;
/// Refused attempts recorded one by one per client address: a burst of this many, then
/// one a second. Beyond that they are counted, and the count is written as one record a
/// minute, so that a flood of refused requests cannot flood the trail.
const DENIALS_BURST: u32 = 60;
const DENIALS_PER_SEC: u32 = 1;
const SUMMARY_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// Client addresses with counted denials at most; more share one entry.
const MAX_SUMMARIES: usize = 10_000;
/// Actors and actions named in a summary at most.
const SUMMARY_NAMES: usize = 8;

type Pending = (AuditEntry, oneshot::Sender<()>);

/// Group commit for the audit trail: every record still reaches the database before the
/// request that caused it is answered, but concurrent requests share one transaction (one
/// lock of the chain head, one commit) instead of queueing for one each. Without it the
/// chain head serializes every audited request, pulls included.
pub(crate) struct Writer {
    queue: mpsc::Sender<Pending>,
    denials: Arc<Denials>,
}

/// Refused attempts beyond a client's budget, counted instead of recorded.
struct Denials {
    budget: crate::ratelimit::RateLimiter,
    counted: std::sync::Mutex<HashMap<String, Counted>>,
}

#[derive(Default)]
struct Counted {
    n: u64,
    since_ms: i64,
    actors: BTreeSet<String>,
    actions: BTreeSet<String>,
}

impl Denials {
    /// `true`: record this refusal; `false`: it was counted.
    fn admit(&self, e: &AuditEntry, now_ms: i64) -> bool {
        if self.budget.take(&e.source, now_ms) {
            return true;
        }
        let mut counted = self.counted.lock().unwrap_or_else(|p| p.into_inner());
        let key = if counted.contains_key(&e.source) || counted.len() < MAX_SUMMARIES {
            e.source.clone()
        } else {
            "*".to_owned()
        };
        let c = counted.entry(key).or_insert_with(|| Counted {
            since_ms: now_ms,
            ..Counted::default()
        });
        c.n += 1;
        for (set, name) in [(&mut c.actors, &e.actor), (&mut c.actions, &e.action)] {
            if set.len() < SUMMARY_NAMES {
                set.insert(name.chars().take(64).collect());
            }
        }
        false
    }

    /// One record per client for what was counted since the last summary.
    fn summaries(&self) -> Vec<AuditEntry> {
        let counted = std::mem::take(&mut *self.counted.lock().unwrap_or_else(|p| p.into_inner()));
        counted
            .into_iter()
            .map(|(source, c)| AuditEntry {
                actor: "-".into(),
                source,
                action: "denied.summary".into(),
                target: "registry".into(),
                outcome: "denied".into(),
                detail: format!(
                    "{} more refused attempts since {} (over the per-client budget; counted, \
                     not recorded one by one): actions {}; actors {}",
                    c.n,
                    zoll_stdx::time::rfc3339_ms(c.since_ms),
                    c.actions.into_iter().collect::<Vec<_>>().join(", "),
                    c.actors.into_iter().collect::<Vec<_>>().join(", "),
                ),
            })
            .collect()
    }
}

impl Writer {
    /// Starts the writing task; it ends when the `Writer` is dropped. It holds the store
    /// only while it writes, so closing the store never waits for it.
    pub(crate) fn start(store: &Arc<Store>) -> Writer {
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
        let denials = Arc::new(Denials {
            budget: crate::ratelimit::RateLimiter::new(DENIALS_PER_SEC, DENIALS_BURST),
            counted: Default::default(),
        });
        let summarize = Arc::downgrade(&denials);
        let summary_queue = queue.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SUMMARY_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(denials) = summarize.upgrade() else {
                    break;
                };
                for entry in denials.summaries() {
                    let (done, _) = oneshot::channel();
                    if summary_queue.send((entry, done)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Writer { queue, denials }
    }

    /// Writes the counts of refused attempts now (instead of at the next minute).
    pub(crate) async fn summarize_denials(&self) {
        for entry in self.denials.summaries() {
            let _ = self.append(entry).await;
        }
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

/// Longest field kept in a record (names and details a client chose are cut here).
const MAX_FIELD: usize = 1024;

fn field(s: &str) -> String {
    if s.len() <= MAX_FIELD {
        return s.to_owned();
    }
    let mut end = MAX_FIELD;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Appends one record; a failure to audit is logged loudly (the action already happened).
/// `false`: a refusal over its client's budget, counted into a summary instead.
pub(crate) async fn record(
    app: &App,
    actor: &str,
    source: &str,
    action: &str,
    target: &str,
    outcome: &str,
    detail: &str,
) -> bool {
    let entry = AuditEntry {
        actor: field(actor),
        source: field(source),
        action: field(action),
        target: field(target),
        outcome: field(outcome),
        detail: field(detail),
    };
    if outcome == "denied" && !app.audit_log.denials.admit(&entry, app.store.now_ms()) {
        return false;
    }
    // Err: the writing task is gone (the runtime is shutting down): write directly.
    let Err(entry) = app.audit_log.append(entry).await else {
        return true;
    };
    if let Err(e) = app.store.audit(&entry).await {
        tracing::error!(error = %e, action, "could not write the audit record");
    }
    true
}

/// A refused attempt to do `action` on `target`; a refused pull is also a webhook event.
pub(crate) async fn denied(
    app: &App,
    actor: &str,
    source: &str,
    action: Action,
    target: &str,
    why: &str,
) {
    let recorded = record(app, actor, source, action.as_str(), target, "denied", why).await;
    // A refusal counted into a summary (a flood) queues no webhook deliveries either.
    if recorded && action == Action::Pull {
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
pub(crate) fn v2_action(
    route: &Route<'_>,
    method: &Method,
    query: Option<&str>,
) -> Option<&'static str> {
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
pub(crate) fn v2_target(route: &Route<'_>, query: Option<&str>) -> String {
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
