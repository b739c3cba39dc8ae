//! Prometheus metrics in the text exposition format: request counts, latency histograms and
//! bytes per endpoint, webhook attempts (kept per process, as Prometheus expects of each
//! replica), and at scrape time storage per project and the webhook queue depth (read from
//! the shared metadata).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::App;

const BUCKETS_MS: [f64; 10] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0, 5000.0, 30000.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS_MS.len()],
    sum_ms: f64,
    n: u64,
}

#[derive(Default)]
pub struct Metrics {
    /// (endpoint, method, status) → count
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    hook_ok: AtomicU64,
    hook_failed: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn observe(
        &self,
        endpoint: &'static str,
        method: &str,
        status: u16,
        ms: f64,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        *self
            .requests
            .lock()
            .expect("poisoned")
            .entry((endpoint, method.to_owned(), status))
            .or_default() += 1;
        let mut lat = self.latency.lock().expect("poisoned");
        let h = lat.entry(endpoint).or_default();
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            if ms <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum_ms += ms;
        h.n += 1;
        self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
    }

    pub fn webhook_attempt(&self, ok: bool) {
        let c = if ok { &self.hook_ok } else { &self.hook_failed };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The exposition text.
pub async fn render(app: &App) -> String {
    let m = &app.metrics;
    let mut out = String::new();
    out.push_str("# HELP zoll_http_requests_total HTTP requests by endpoint, method and status.\n");
    out.push_str("# TYPE zoll_http_requests_total counter\n");
    for ((endpoint, method, status), n) in m.requests.lock().expect("poisoned").iter() {
        let _ = writeln!(
            out,
            "zoll_http_requests_total{{endpoint=\"{endpoint}\",method=\"{method}\",status=\"{status}\"}} {n}"
        );
    }
    out.push_str("# HELP zoll_http_request_duration_seconds Request latency by endpoint.\n");
    out.push_str("# TYPE zoll_http_request_duration_seconds histogram\n");
    for (endpoint, h) in m.latency.lock().expect("poisoned").iter() {
        for (i, b) in BUCKETS_MS.iter().enumerate() {
            let _ = writeln!(
                out,
                "zoll_http_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{}\"}} {}",
                b / 1000.0,
                h.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "zoll_http_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {}",
            h.n
        );
        let _ = writeln!(
            out,
            "zoll_http_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {}",
            h.sum_ms / 1000.0
        );
        let _ = writeln!(
            out,
            "zoll_http_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {}",
            h.n
        );
    }
    let counter = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    };
    counter(
        &mut out,
        "zoll_http_request_bytes_total",
        "Request body bytes announced by Content-Length.",
        m.bytes_in.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "zoll_http_response_bytes_total",
        "Response body bytes announced by Content-Length.",
        m.bytes_out.load(Ordering::Relaxed),
    );
    out.push_str("# HELP zoll_webhook_attempts_total Webhook delivery attempts by result.\n");
    out.push_str("# TYPE zoll_webhook_attempts_total counter\n");
    let _ = writeln!(
        out,
        "zoll_webhook_attempts_total{{result=\"ok\"}} {}\nzoll_webhook_attempts_total{{result=\"failed\"}} {}",
        m.hook_ok.load(Ordering::Relaxed),
        m.hook_failed.load(Ordering::Relaxed)
    );
    if let Ok(n) = app.store.pending_deliveries().await {
        let _ = writeln!(
            out,
            "# HELP zoll_webhook_queue_depth Webhook deliveries waiting.\n# TYPE zoll_webhook_queue_depth gauge\nzoll_webhook_queue_depth {n}"
        );
    }
    if let Ok(projects) = app.store.projects().await {
        out.push_str("# HELP zoll_project_storage_bytes Storage used by a project's manifests and the blobs they reference.\n");
        out.push_str("# TYPE zoll_project_storage_bytes gauge\n");
        let mut artifacts = String::new();
        for p in projects {
            if let Ok(u) = app.store.usage(&p.name).await {
                let _ = writeln!(
                    out,
                    "zoll_project_storage_bytes{{project=\"{}\"}} {}",
                    p.name,
                    u.bytes()
                );
                let _ = writeln!(
                    artifacts,
                    "zoll_project_artifacts{{project=\"{}\"}} {}",
                    p.name, u.manifests
                );
            }
        }
        out.push_str("# HELP zoll_project_artifacts Manifests stored in a project.\n");
        out.push_str("# TYPE zoll_project_artifacts gauge\n");
        out.push_str(&artifacts);
    }
    out
}
