//! Listening: plain HTTP or TLS (rustls), and graceful shutdown on SIGTERM/SIGINT: stop
//! accepting, let in-flight requests finish (up to a grace period), then return.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;

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
    // TCP_NODELAY: a streamed response (headers, then body chunks) must not wait for the
    // client's delayed ACK (Nagle), which adds 40 ms to every small blob read.
    match opts.tls {
        Some(tls) => {
            let config = RustlsConfig::from_pem_file(&tls.cert, &tls.key).await?;
            let acceptor = RustlsAcceptor::new(config).acceptor(NoDelayAcceptor::new());
            axum_server::bind(opts.listen)
                .acceptor(acceptor)
                .handle(handle)
                .serve(service)
                .await
        }
        None => {
            axum_server::bind(opts.listen)
                .acceptor(NoDelayAcceptor::new())
                .handle(handle)
                .serve(service)
                .await
        }
    }
}

/// Installs the SIGTERM and SIGINT handlers now; the returned future ends at the first.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
