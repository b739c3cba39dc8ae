//! Events and their webhooks. [`emit`] is the internal event API: the registry emits push,
//! delete and pull-denied events, and later subsystems (scanner, signer, approvals) emit
//! theirs through the same call. An event is queued in the metadata database (one delivery
//! per subscribed webhook of its project), so it survives restarts and any replica delivers
//! it. [`deliver_due`] posts due deliveries as CloudEvents 1.0 JSON (structured mode) with
//! an HMAC-SHA256 signature header, retrying with exponential backoff, and records every
//! attempt.

use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use serde_json::{Value, json};
use zoll_store::{Attempt, Delivery};

use crate::App;
use crate::access::project_of;

pub const PUSHED: &str = "io.zoll.artifact.pushed";
pub const DELETED: &str = "io.zoll.artifact.deleted";
pub const PULL_DENIED: &str = "io.zoll.pull.denied";
pub const SCAN_COMPLETED: &str = "io.zoll.scan.completed";
pub const VULNERABILITY_FOUND: &str = "io.zoll.vulnerability.found";
pub const SIGNED: &str = "io.zoll.artifact.signed";
pub const APPROVAL_REQUESTED: &str = "io.zoll.approval.requested";
pub const APPROVAL_GRANTED: &str = "io.zoll.approval.granted";
/// An approver's vote was counted, or a vote was refused (forged, replayed, duplicate, late).
pub const APPROVAL_VOTED: &str = "io.zoll.approval.voted";
/// A signing request ended unsigned: rejected, expired, superseded by a moved tag, failed.
pub const APPROVAL_ENDED: &str = "io.zoll.approval.ended";

/// Every event type a webhook can subscribe to.
pub const EVENT_TYPES: [&str; 10] = [
    PUSHED,
    DELETED,
    PULL_DENIED,
    SCAN_COMPLETED,
    VULNERABILITY_FOUND,
    SIGNED,
    APPROVAL_REQUESTED,
    APPROVAL_GRANTED,
    APPROVAL_VOTED,
    APPROVAL_ENDED,
];

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>` keyed with the webhook secret.
pub const SIGNATURE_HEADER: &str = "x-zoll-signature-256";

/// Webhook delivery settings (`[webhooks]`).
#[derive(Debug, Clone)]
pub struct HookSettings {
    /// Delay before the first retry; doubled for each further one.
    pub retry_base: Duration,
    pub max_attempts: u32,
    pub timeout: Duration,
    /// Internal networks deliveries may reach (public addresses always may).
    pub destinations: crate::outbound::Destinations,
    /// How long settled deliveries and their attempts are kept.
    pub history: Duration,
}

/// Deliveries in flight at once (per replica).
const CONCURRENT_DELIVERIES: usize = 8;
/// How often settled deliveries older than the history are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Webhooks one project may have.
pub const MAX_WEBHOOKS_PER_PROJECT: u64 = 32;

impl Default for HookSettings {
    fn default() -> Self {
        HookSettings {
            retry_base: Duration::from_secs(10),
            max_attempts: 8,
            timeout: Duration::from_secs(10),
            destinations: Default::default(),
            history: Duration::from_secs(14 * 86_400),
        }
    }
}

/// Something that happened to an artifact of a project.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: &'static str,
    /// Repository name (its first component selects the project's webhooks), optionally
    /// with `:tag` or `@digest`.
    pub subject: String,
    pub actor: String,
    pub data: Value,
}

impl Event {
    pub fn new(kind: &'static str, subject: &str) -> Event {
        Event {
            kind,
            subject: subject.to_owned(),
            actor: "-".into(),
            data: json!({}),
        }
    }

    pub fn actor(mut self, actor: &str) -> Event {
        actor.clone_into(&mut self.actor);
        self
    }

    pub fn detail(mut self, detail: &str) -> Event {
        self.data["detail"] = json!(detail);
        self
    }

    pub fn data(mut self, key: &str, value: Value) -> Event {
        self.data[key] = value;
        self
    }

    fn repository(&self) -> &str {
        let s = self.subject.split('@').next().unwrap_or(&self.subject);
        // A tag follows the last ':' after the last '/'.
        match s.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => repo,
            _ => s,
        }
    }

    /// The CloudEvents 1.0 document.
    pub fn cloudevent(&self, service: &str, now_ms: i64) -> Value {
        let mut data = self.data.clone();
        data["repository"] = json!(self.repository());
        data["actor"] = json!(self.actor);
        json!({
            "specversion": "1.0",
            "id": zoll_stdx::rand::hex_id(16),
            "source": format!("/zoll/{service}"),
            "type": self.kind,
            "subject": self.subject,
            "time": zoll_stdx::time::rfc3339_ms(now_ms),
            "datacontenttype": "application/json",
            "data": data,
        })
    }
}

/// Queues `event` for the webhooks of its project. Never fails the caller: a queueing
/// failure is logged.
pub async fn emit(app: &App, event: Event) {
    let project = project_of(event.repository()).to_owned();
    let payload = event
        .cloudevent(&app.auth.settings.service, app.store.now_ms())
        .to_string();
    match app
        .store
        .enqueue_event(&project, event.kind, &payload)
        .await
    {
        Ok(0) => {}
        Ok(n) => {
            tracing::debug!(kind = event.kind, project, n, "queued webhook deliveries");
            app.hook_wakeup.notify_one();
        }
        Err(e) => tracing::error!(error = %e, kind = event.kind, "could not queue an event"),
    }
}

/// `sha256=<hex>` of the body under the webhook's secret.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, body);
    format!("sha256={}", zoll_stdx::hex::encode(tag.as_ref()))
}

/// Delivers what is due now; returns how many deliveries were attempted.
pub async fn deliver_due(app: &App, http: &reqwest::Client) -> usize {
    let s = &app.hooks;
    let lease = i64::try_from(s.timeout.as_millis() * 2).unwrap_or(i64::MAX);
    let due = match app.store.claim_deliveries(32, lease).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the webhook outbox");
            return 0;
        }
    };
    let n = due.len();
    // Concurrently, so that one slow receiver does not hold every project's deliveries.
    futures_util::StreamExt::for_each_concurrent(
        futures_util::stream::iter(due),
        CONCURRENT_DELIVERIES,
        |d| deliver(app, http, d),
    )
    .await;
    n
}

async fn deliver(app: &App, http: &reqwest::Client, d: Delivery) {
    let s = &app.hooks;
    let hook = match app.store.webhook(&d.webhook_id).await {
        Ok(Some(h)) => h,
        Ok(None) => return, // webhook deleted meanwhile: its deliveries stay as history
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a webhook");
            return;
        }
    };
    let started = Instant::now();
    let body = d.payload.clone().into_bytes();
    let sig = signature(&hook.secret, &body);
    // A literal address does not pass the client's resolver: check it here. (A hook
    // stored before this check existed may point anywhere.)
    let target = reqwest::Url::parse(&hook.url)
        .map_err(|e| e.to_string())
        .and_then(|u| s.destinations.check_url(&u));
    let result = match target {
        Err(why) => Err(why),
        Ok(()) => http
            .post(&hook.url)
            .timeout(s.timeout)
            .header(
                "content-type",
                "application/cloudevents+json; charset=utf-8",
            )
            .header(SIGNATURE_HEADER, sig)
            .header("ce-type", d.event_type.as_str())
            .header("x-zoll-delivery", d.id.as_str())
            .body(body)
            .send()
            .await
            .map_err(|e| error_chain(&e)),
    };
    let (status, error) = match result {
        Ok(r) => (Some(r.status().as_u16()), None),
        Err(e) => (None, Some(e)),
    };
    let success = status.is_some_and(|c| (200..300).contains(&c));
    let attempt = d.attempts + 1;
    let now = app.store.now_ms();
    let retry_at = (!success && attempt < s.max_attempts).then(|| {
        let base = i64::try_from(s.retry_base.as_millis()).unwrap_or(i64::MAX);
        now.saturating_add(base.saturating_mul(1 << (attempt - 1).min(20)))
    });
    let at = Attempt {
        attempt,
        at_ms: now,
        status,
        error,
        ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
    };
    app.metrics.webhook_attempt(success, retry_at.is_none());
    if let Err(e) = app.store.record_attempt(&d, &at, success, retry_at).await {
        tracing::warn!(error = %e, "cannot record a webhook attempt");
    }
}

/// An error with its causes (reqwest's own text hides why a connection was refused).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Runs deliveries until the process ends: whenever an event was queued here, and every
/// second for retries and for events other replicas queued.
pub async fn run_deliveries(app: std::sync::Arc<App>) {
    let http = match app.hooks.destinations.client(app.hooks.timeout) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client");
            return;
        }
    };
    let mut pruned_at = tokio::time::Instant::now();
    loop {
        while deliver_due(&app, &http).await > 0 {}
        if pruned_at.elapsed() >= PRUNE_EVERY {
            pruned_at = tokio::time::Instant::now();
            let keep = i64::try_from(app.hooks.history.as_millis()).unwrap_or(i64::MAX);
            match app
                .store
                .prune_deliveries(app.store.now_ms().saturating_sub(keep))
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "pruned old webhook deliveries"),
                Err(e) => tracing::warn!(error = %e, "cannot prune webhook deliveries"),
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), app.hook_wakeup.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_repositories() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let e = Event::new(PUSHED, "team/app:v1");
        assert_eq!(e.repository(), "team/app");
        let e = Event::new(PUSHED, "localhost/team/app@sha256:ab");
        assert_eq!(e.repository(), "localhost/team/app");
    }
}
