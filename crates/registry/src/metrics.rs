//! Prometheus metrics (text format 0.0.4, written by `prometheus-client`, which escapes
//! label values): request counts, latency histograms and bytes per endpoint, webhook
//! attempts and settled deliveries, scans by outcome, pull-gate decisions by verdict and
//! reason class, approval steps, garbage collection, password hashes, throttled logins and
//! connections (kept per process, as Prometheus expects of each replica), and at scrape
//! time storage per project and the webhook queue depth (read from the shared metadata).
//!
//! Readers: system administrators (Basic), and a dedicated scraper holding the reader token
//! (`[metrics] token_file`, sent as `Authorization: Bearer <token>`), which is no account
//! and authorizes nothing else.
//!
//! Every label value comes from a fixed set or from names only an administrator creates
//! (projects): a client's raw method, path or header never becomes a label, so requests
//! cannot grow the number of series.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::Method;
use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::App;

pub(crate) use prometheus_text::CONTENT_TYPE;

const BUCKETS_SECONDS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0];

/// The method label: the methods the API uses, everything else is `other`.
pub(crate) fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The secret a dedicated scraper presents as `Authorization: Bearer <token>` to read
/// `/metrics` without an account. Kept only as its SHA-256, compared in constant time, never
/// printed (its `Debug` says nothing of it).
pub struct ReaderToken([u8; 32]);

impl ReaderToken {
    /// Fewest characters a reader token has: guessing it is hopeless.
    pub const MIN_LEN: usize = 32;
    /// Most characters a reader token has.
    pub const MAX_LEN: usize = 1024;

    /// The token `secret` (surrounding white space ignored, as a file's last newline): at
    /// least [`Self::MIN_LEN`] visible ASCII characters, as a header can carry them.
    pub fn new(secret: &str) -> Result<ReaderToken, String> {
        let secret = secret.trim();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&secret.len()) {
            return Err(format!(
                "a metrics token has {} to {} characters, not {}",
                Self::MIN_LEN,
                Self::MAX_LEN,
                secret.len()
            ));
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a metrics token is visible ASCII characters only".into());
        }
        Ok(ReaderToken(Self::hash(secret)))
    }

    fn hash(secret: &str) -> [u8; 32] {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// Whether the request's `Authorization: Bearer` carries this token.
    pub(crate) fn admits(&self, h: &axum::http::HeaderMap) -> bool {
        let Some(value) = h
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let value = value.trim();
        let Some(presented) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return false;
        };
        zoll_stdx::ct::eq(&Self::hash(presented.trim()), &self.0)
    }
}

impl std::fmt::Debug for ReaderToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReaderToken(..)")
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GateLabels {
    decision: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApprovalLabels {
    event: &'static str,
    step: &'static str,
}

/// How a scan job ended, as [`Metrics::scan`] counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// Scanned; the results are stored.
    Done,
    /// An encrypted layer: recorded as not scanned.
    Encrypted,
    /// Another worker took the job over after this one's lease ran out.
    TakenOver,
    /// Failed; it will be tried again.
    Retry,
    /// Failed for the last time.
    Failed,
}

impl ScanEnd {
    fn label(self) -> &'static str {
        match self {
            ScanEnd::Done => "done",
            ScanEnd::Encrypted => "encrypted",
            ScanEnd::TakenOver => "taken-over",
            ScanEnd::Retry => "retry",
            ScanEnd::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProjectLabels {
    project: String,
}

/// Connection counts, shared with the listener (`serve.rs`), which fills them.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    pub open: AtomicU64,
    pub accepted: AtomicU64,
    /// Refused because the connection limit was reached and none could be shed.
    pub refused: AtomicU64,
    /// Idle connections closed to make room for a new one.
    pub shed: AtomicU64,
}

type HistogramFamily = Family<EndpointLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    bytes_in: Counter,
    bytes_out: Counter,
    hook_attempts: Family<ResultLabels, Counter>,
    hook_deliveries: Family<ResultLabels, Counter>,
    scans: Family<OutcomeLabels, Counter>,
    gate: Family<GateLabels, Counter>,
    approvals: Family<ApprovalLabels, Counter>,
    pub connections: Arc<ConnectionStats>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS_SECONDS)
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("zoll");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by endpoint, method and status",
            requests.clone(),
        );
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Request latency by endpoint",
            latency.clone(),
        );
        let bytes_in = Counter::default();
        registry.register(
            "http_request_bytes",
            "Request body bytes announced by Content-Length",
            bytes_in.clone(),
        );
        let bytes_out = Counter::default();
        registry.register(
            "http_response_bytes",
            "Response body bytes announced by Content-Length",
            bytes_out.clone(),
        );
        let hook_attempts = Family::<ResultLabels, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts by result",
            hook_attempts.clone(),
        );
        let hook_deliveries = Family::<ResultLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries settled: delivered, or failed after the last attempt",
            hook_deliveries.clone(),
        );
        let scans = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "scans",
            "Scan jobs finished by outcome (done, encrypted, taken-over, retry, failed)",
            scans.clone(),
        );
        let gate = Family::<GateLabels, Counter>::default();
        registry.register(
            "pull_gate_decisions",
            "Trust-policy pull gate decisions (allow, deny, provisional: made while a scan \
             was not finished; error: none could be made) by reason class (the kind of the \
             first failed check, policy when satisfied, pull-ungated for a bypass)",
            gate.clone(),
        );
        let approvals = Family::<ApprovalLabels, Counter>::default();
        registry.register(
            "approval_events",
            "Quorum approval steps by event (requested, voted, granted, signed, ended) and \
             step",
            approvals.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            bytes_in,
            bytes_out,
            hook_attempts,
            hook_deliveries,
            scans,
            gate,
            approvals,
            connections: Arc::default(),
        }
    }
}

impl Metrics {
    pub fn observe(
        &self,
        endpoint: &'static str,
        method: &Method,
        status: u16,
        ms: f64,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint,
                method: method_label(method),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&EndpointLabels { endpoint })
            .observe(ms / 1000.0);
        self.bytes_in.inc_by(bytes_in);
        self.bytes_out.inc_by(bytes_out);
    }

    /// One delivery attempt; `settled`: no further attempt follows it.
    pub fn webhook_attempt(&self, ok: bool, settled: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.hook_attempts
            .get_or_create(&ResultLabels { result })
            .inc();
        if settled {
            let result = if ok { "delivered" } else { "failed" };
            self.hook_deliveries
                .get_or_create(&ResultLabels { result })
                .inc();
        }
    }

    pub(crate) fn scan(&self, outcome: ScanEnd) {
        self.scans
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
    }

    /// A pull-gate verdict (`allow`, `deny`, `provisional`, `error`) and its reason class,
    /// both from fixed sets.
    pub(crate) fn gate_decision(&self, decision: &'static str, reason: &'static str) {
        self.gate
            .get_or_create(&GateLabels { decision, reason })
            .inc();
    }

    /// An approval step: `event` is the webhook class of `step`.
    pub(crate) fn approval(&self, event: &'static str, step: &'static str) {
        self.approvals
            .get_or_create(&ApprovalLabels { event, step })
            .inc();
    }
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let g = Gauge::<i64>::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, g);
}

/// The exposition text.
pub(crate) async fn render(app: &App) -> String {
    let m = &app.metrics;
    let mut out = String::new();
    if let Err(e) = prometheus_text::encode(&mut out, &m.registry) {
        tracing::error!(error = %e, "cannot encode metrics");
    }
    // Values owned elsewhere or read from the database now, in a registry of this scrape.
    let mut now = Registry::with_prefix("zoll");
    let c = &m.connections;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    gauge(
        &mut now,
        "http_connections_open",
        "Open client connections",
        load(&c.open),
    );
    counter(
        &mut now,
        "http_connections_accepted",
        "Client connections accepted",
        load(&c.accepted),
    );
    counter(
        &mut now,
        "http_connections_refused",
        "Connections refused at the connection limit",
        load(&c.refused),
    );
    counter(
        &mut now,
        "http_connections_shed",
        "Idle connections closed at the connection limit to admit a new one",
        load(&c.shed),
    );
    counter(
        &mut now,
        "password_hashes",
        "Password hashes computed (logins not answered from the verified-login cache)",
        app.auth.hashing.computed(),
    );
    counter(
        &mut now,
        "logins_throttled",
        "Login attempts refused without a password check (too many failures or checks waiting)",
        app.auth.throttled(),
    );
    let integrity = app.store.integrity_counts();
    counter(
        &mut now,
        "blob_reads_damaged",
        "Blob reads stopped before sending a chunk that failed its checksum, or bytes that \
         were missing or short",
        integrity.damaged_reads,
    );
    counter(
        &mut now,
        "blob_reads_unreadable",
        "Blob reads stopped because the storage backend failed to deliver the bytes",
        integrity.unreadable_reads,
    );
    counter(
        &mut now,
        "blobs_quarantined",
        "Blobs whose stored bytes failed verification and were moved aside (reads and scrub)",
        integrity.quarantined,
    );
    counter(
        &mut now,
        "blob_chunk_tables_built",
        "Chunk tables computed on first read for blobs stored without one",
        integrity.tables_built,
    );
    let gc = app.store.gc_counts();
    counter(
        &mut now,
        "gc_runs",
        "Garbage collections run (dry runs not counted)",
        gc.runs,
    );
    counter(
        &mut now,
        "gc_runs_failed",
        "Garbage collections that stopped on an error",
        gc.failed_runs,
    );
    counter(
        &mut now,
        "gc_blobs_removed",
        "Unreferenced blobs garbage collection removed",
        gc.blobs_removed,
    );
    counter(
        &mut now,
        "gc_bytes_removed",
        "Bytes of the blobs garbage collection removed",
        gc.bytes_removed,
    );
    counter(
        &mut now,
        "gc_manifests_removed",
        "Untagged manifests garbage collection removed",
        gc.manifests_removed,
    );
    if let Ok(n) = app.store.pending_deliveries().await {
        gauge(
            &mut now,
            "webhook_queue_depth",
            "Webhook deliveries waiting",
            n,
        );
    }
    if let Ok(projects) = app.store.projects().await {
        let bytes = Family::<ProjectLabels, Gauge>::default();
        let artifacts = Family::<ProjectLabels, Gauge>::default();
        for p in projects {
            if let Ok(u) = app.store.usage(&p.name).await {
                let labels = ProjectLabels { project: p.name };
                bytes
                    .get_or_create(&labels)
                    .set(i64::try_from(u.bytes()).unwrap_or(i64::MAX));
                artifacts
                    .get_or_create(&labels)
                    .set(i64::try_from(u.manifests).unwrap_or(i64::MAX));
            }
        }
        now.register(
            "project_storage_bytes",
            "Storage used by a project's manifests and the blobs they reference",
            bytes,
        );
        now.register(
            "project_artifacts",
            "Manifests stored in a project",
            artifacts,
        );
    }
    if let Err(e) = prometheus_text::encode(&mut out, &now) {
        tracing::error!(error = %e, "cannot encode metrics");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_tokens_are_long_visible_and_matched_exactly() {
        assert!(ReaderToken::new("short").is_err());
        assert!(ReaderToken::new(&"x".repeat(40).replace("xx", "x ")).is_err());
        let t = ReaderToken::new(&format!("{}\n", "s".repeat(40))).unwrap();
        assert_eq!(format!("{t:?}"), "ReaderToken(..)");
        let with = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(axum::http::header::AUTHORIZATION, v.parse().unwrap());
            t.admits(&h)
        };
        assert!(with(&format!("Bearer {}", "s".repeat(40))));
        assert!(!with(&format!("Bearer {}", "s".repeat(41))));
        assert!(!with(&format!("Basic {}", "s".repeat(40))));
        assert!(!t.admits(&axum::http::HeaderMap::new()));
    }

    #[test]
    fn methods_map_to_a_fixed_set() {
        let m = Metrics::default();
        for raw in ["R4ND0M", "FOO", "BAR", "get"] {
            let method = Method::from_bytes(raw.as_bytes()).unwrap();
            m.observe("base", &method, 405, 1.0, 0, 0);
        }
        m.observe("base", &Method::GET, 200, 1.0, 0, 0);
        let mut out = String::new();
        prometheus_text::encode(&mut out, &m.registry).unwrap();
        let series = out
            .lines()
            .filter(|l| l.starts_with("zoll_http_requests_total{"))
            .count();
        assert_eq!(series, 2, "one series for all unknown methods: {out}");
        assert!(
            out.contains(
                r#"zoll_http_requests_total{endpoint="base",method="other",status="405"} 4"#
            ),
            "{out}"
        );
    }
}
