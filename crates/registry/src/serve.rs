//! Listening: plain HTTP or TLS (rustls), and graceful shutdown on SIGTERM/SIGINT: stop
//! accepting, let in-flight requests finish (up to a grace period), then return.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};

use crate::connections::{ConnectionLimits, Connections, Limited};
use crate::metrics::ConnectionStats;

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    /// How long in-flight requests may run after a shutdown signal.
    pub grace: Duration,
    /// How often the TLS certificate and key files are looked at: a renewed certificate
    /// (cert-manager rewriting a mounted secret, say) is served without a restart.
    pub tls_reload: Duration,
    /// Timeouts and the connection limit.
    pub connections: ConnectionLimits,
    /// Filled with connection counts (the registry's metrics show them).
    pub connection_stats: Arc<ConnectionStats>,
}

/// Serves `app` until SIGTERM or SIGINT. `on_bound` is told the bound address (useful with
/// port 0).
pub async fn serve(
    app: Router,
    opts: ServeOptions,
    on_bound: impl FnOnce(SocketAddr) + Send + 'static,
) -> std::io::Result<()> {
    let handle = Handle::new();
    let watcher = handle.clone();
    tokio::spawn(async move {
        if let Some(addr) = watcher.listening().await {
            on_bound(addr);
        }
    });
    let signals = handle.clone();
    let grace = opts.grace;
    // Handlers are installed here, before the listener is bound and announced: a SIGTERM
    // right after the "serving" line must shut down gracefully, not kill the process.
    let stop = shutdown_signal()?;
    tokio::spawn(async move {
        stop.await;
        tracing::info!("shutdown requested; finishing in-flight requests");
        signals.graceful_shutdown(Some(grace));
    });
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    let conns = Connections::new(opts.connections.clone(), opts.connection_stats.clone());
    // TCP_NODELAY: a streamed response (headers, then body chunks) must not wait for the
    // client's delayed ACK (Nagle), which adds 40 ms to every small blob read.
    match opts.tls {
        Some(tls) => {
            // Stamped before loading, so a renewal written in between is not missed.
            let stamp = tls_stamp(&tls)?;
            let config = RustlsConfig::from_pem_file(&tls.cert, &tls.key).await?;
            let reload = tokio::spawn(reload_tls(config.clone(), tls, stamp, opts.tls_reload));
            let tls = RustlsAcceptor::new(config).acceptor(NoDelayAcceptor::new());
            let acceptor = Limited::new(tls, conns, false);
            let mut server = axum_server::bind(opts.listen).acceptor(acceptor);
            limit_protocols(server.http_builder());
            let served = server.handle(handle).serve(service).await;
            reload.abort();
            served
        }
        None => {
            let mut server = axum_server::bind(opts.listen).acceptor(Limited::new(
                NoDelayAcceptor::new(),
                conns,
                true,
            ));
            limit_protocols(server.http_builder());
            server.handle(handle).serve(service).await
        }
    }
}

/// Bounds on what one connection may ask of the server: HTTP/2 streams at once (each is a
/// request in flight), the size of a header block, and pings that close a connection whose
/// peer stopped answering.
fn limit_protocols(b: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>) {
    b.http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(16)
        .max_header_list_size(64 << 10)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    b.http1().max_headers(100);
}

/// What identifies a version of the certificate and key files (followed through symlinks,
/// as Kubernetes swaps a mounted secret's `..data` link). The change time is in it so that
/// fixing a file's permissions counts as a change too.
type TlsStamp = [(std::time::SystemTime, i64, u64); 2];

fn tls_stamp(tls: &TlsFiles) -> std::io::Result<TlsStamp> {
    use std::os::unix::fs::MetadataExt;
    let stamp = |p: &PathBuf| -> std::io::Result<_> {
        let m = std::fs::metadata(p)?;
        Ok((m.modified()?, m.ctime(), m.len()))
    };
    Ok([stamp(&tls.cert)?, stamp(&tls.key)?])
}

/// Reloads the certificate and key when either file changes. A pair that does not load
/// (a half-written renewal, a key that does not match) leaves the one being served; so do
/// missing files (said once, not every tick).
async fn reload_tls(config: RustlsConfig, tls: TlsFiles, mut seen: TlsStamp, every: Duration) {
    // Bounded: a huge interval would overflow the timer, a zero one would spin.
    let every = every.clamp(Duration::from_secs(1), Duration::from_secs(24 * 3600));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut missing = false;
    loop {
        tick.tick().await;
        let now = match tls_stamp(&tls) {
            Ok(now) => now,
            Err(e) => {
                if !missing {
                    tracing::warn!(cert = %tls.cert.display(), key = %tls.key.display(), error = %e,
                        "TLS certificate files cannot be read; still serving the previous certificate");
                }
                missing = true;
                continue;
            }
        };
        missing = false;
        if now == seen {
            continue;
        }
        seen = now;
        match config.reload_from_pem_file(&tls.cert, &tls.key).await {
            Ok(()) => tracing::info!(cert = %tls.cert.display(), "TLS certificate reloaded"),
            Err(e) => tracing::warn!(
                cert = %tls.cert.display(),
                error = %e,
                "TLS certificate files changed but do not load; still serving the previous certificate"
            ),
        }
    }
}

/// Installs the SIGTERM and SIGINT handlers now; the returned future ends at the first.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
