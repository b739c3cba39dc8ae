//! `zoll serve`: resolve configuration, open the store, serve until told to stop. The
//! wiring of what runs inside it lives beside this file: the pull gate (`policy_gate.rs`),
//! the admission webhook mount (`admission.rs`) and the GC and scrub schedules
//! (`schedules.rs`).

mod admission;
mod policy_gate;
mod schedules;

pub use admission::{AdmissionConfig, engine as admission_engine, unknown_registries};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::ServeArgs;
use crate::config::{self, Config};

fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
    let mut c = config::load_for(&args.store)?;
    if let Some(v) = args.listen {
        c.server.listen = v;
    }
    if let Some(v) = args.log_format {
        c.log.format = v;
    }
    if args.tls_cert.is_some() {
        c.server.tls_cert = args.tls_cert;
    }
    if args.tls_key.is_some() {
        c.server.tls_key = args.tls_key;
    }
    if args.no_auth {
        c.auth.enabled = false;
    }
    Ok(c)
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let c = resolve(args)?;
    crate::logging::init(&c)?;
    let listen: SocketAddr = c
        .server
        .listen
        .parse()
        .with_context(|| format!("--listen {:?} is not an address:port", c.server.listen))?;
    let tls = match (&c.server.tls_cert, &c.server.tls_key) {
        (Some(cert), Some(key)) => Some(zoll_registry::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None) => None,
        _ => bail!("TLS needs both --tls-cert and --tls-key"),
    };
    if tls.is_none() && !listen.ip().is_loopback() && !c.server.danger_allow_plain_http {
        bail!(
            "refusing plain HTTP on non-loopback address {listen}: give --tls-cert/--tls-key, \
             or set server.danger_allow_plain_http behind a TLS-terminating proxy"
        );
    }
    if !c.auth.enabled {
        if !listen.ip().is_loopback() {
            bail!(
                "refusing to serve without authentication on non-loopback address {listen}: \
                 --no-auth is for local experiments only"
            );
        }
        tracing::warn!(
            "authentication is OFF (--no-auth): anyone who can connect may push, pull and \
             delete; never use this outside local experiments"
        );
    }
    let runtime = zoll_stdx::rt::multi_thread().context("cannot start the async runtime")?;
    runtime.block_on(serve(c, listen, tls))
}

async fn serve(
    c: Config,
    listen: SocketAddr,
    tls: Option<zoll_registry::TlsFiles>,
) -> anyhow::Result<()> {
    let auth = c.auth_settings(tls.is_some())?;
    let connections = c.connection_limits()?;
    let limits = zoll_registry::Limits {
        max_manifest_bytes: c.limits.max_manifest_bytes,
        max_name_len: c.limits.max_name_len,
        max_page: c.limits.max_page,
        body_timeout: Duration::from_secs(c.server.body_timeout_secs),
        max_json_depth: c.limits.max_json_depth,
    };
    if !(1..=zoll_oci::json::MAX_DEPTH).contains(&limits.max_json_depth) {
        bail!(
            "limits.max_json_depth must be 1 to {}, not {}",
            zoll_oci::json::MAX_DEPTH,
            limits.max_json_depth
        );
    }
    let allowed = c
        .webhooks
        .allowed_networks
        .iter()
        .map(|n| n.parse())
        .collect::<Result<Vec<_>, String>>()
        .map_err(|e| anyhow::anyhow!("webhooks.allowed_networks: {e}"))?;

    let store = Arc::new(crate::open_store(&c).await?);
    let mut background = vec![
        tokio::spawn(expire_uploads(store.clone())),
        tokio::spawn(schedules::gc(store.clone(), c.gc.clone())),
        tokio::spawn(schedules::scrub(store.clone(), c.scrub.clone())),
    ];
    let mut app = zoll_registry::App::new(store.clone(), limits, auth)
        .await
        .context("cannot load the token-signing key")?;
    app.ui = c.ui_settings(tls.is_some(), listen)?;
    app.audit_pulls = c.audit.pulls;
    app.create_projects_on_push = c.projects.create_on_push;
    app.metrics_reader = c.metrics_reader()?;
    app.access_log = c.log.access;
    let scan = c.scan_settings();
    if let Some(db) = scan
        .db
        .as_ref()
        .filter(|db| scan.workers > 0 && !db.exists())
    {
        // Without a database a scan still writes the SBOM and the lint report, but finds no
        // vulnerability: say so once, with how to get one, instead of a quiet empty result.
        tracing::warn!(
            db = %db.display(),
            "scanning is on but there is no vulnerability database: scans find no \
             vulnerabilities until one is imported (`zoll db import OSV-ZIPS --data DIR`)"
        );
    }
    app.scanner = zoll_registry::scanner::Scanner::new(scan);
    app.hooks = zoll_registry::HookSettings {
        retry_base: Duration::from_secs(c.webhooks.retry_base_secs),
        max_attempts: c.webhooks.max_attempts,
        timeout: Duration::from_secs(c.webhooks.timeout_secs),
        destinations: zoll_registry::outbound::Destinations { allowed },
        history: Duration::from_secs(c.webhooks.history_days.saturating_mul(86_400)),
    };
    if let Some(file) = &c.policy.file {
        let engine = policy_gate::engine(&c.policy, file, store.clone())?;
        background.push(tokio::spawn(zoll_policy::watch_policy(
            engine.clone(),
            file.clone(),
            Duration::from_secs(c.policy.reload_secs.max(1)),
        )));
        app.pull_gate = Some(engine);
        app.pull_gate_registry = c.policy.registry.clone().unwrap_or_default();
    }
    let pull_gate = c.policy.file.clone().zip(app.pull_gate.clone());
    let app = match &c.approvals.keys {
        Some(path) => {
            let keys = zoll_approval::QuorumKeys::load(path)?;
            tracing::info!(keys = keys.keys.len(), file = %path.display(), "quorum keys loaded");
            zoll_registry::approvals::enable(app, keys)
        }
        None => Arc::new(app),
    };
    background.push(tokio::spawn(zoll_registry::approvals::run(
        app.clone(),
        Duration::from_secs(c.approvals.tick_secs.max(1)),
    )));
    background.push(tokio::spawn(zoll_registry::events::run_deliveries(
        app.clone(),
    )));
    background.push(tokio::spawn(zoll_registry::scanner::run_workers(
        app.clone(),
    )));
    background.push(tokio::spawn(zoll_registry::scanner::watch_db(app.clone())));
    background.push(tokio::spawn(zoll_registry::retention::scheduled(
        app.clone(),
        Duration::from_secs(c.retention.interval_secs),
    )));
    let scheme = if tls.is_some() { "https" } else { "http" };
    let data_dir = c.storage.data_dir.display().to_string();
    let opts = zoll_registry::ServeOptions {
        listen,
        tls,
        grace: Duration::from_secs(c.server.shutdown_grace_secs),
        tls_reload: Duration::from_secs(c.server.tls_reload_secs),
        connections,
        connection_stats: app.metrics.connections.clone(),
    };
    let registry = app.clone();
    let (router, watcher) = admission::mount(
        zoll_registry::router(app),
        &c.admission,
        store.clone(),
        pull_gate,
    )?;
    background.extend(watcher);
    // The first administrator is made once the listener is bound: a first start that cannot
    // serve (the port is taken) must not create an account whose password nobody saw.
    let bootstrap = c
        .auth
        .enabled
        .then(|| (store.clone(), c.auth.admin_password.clone()));
    let result = zoll_registry::serve(router, opts, move |addr| {
        // "serving" is said once the administrator exists (clients wait for that line).
        tokio::spawn(async move {
            if let Some((store, configured)) = bootstrap {
                bootstrap_admin(store, configured).await;
            }
            tracing::info!(%addr, scheme, data = %data_dir, "zoll is serving the OCI Distribution API");
        });
    })
    .await;
    for task in background {
        task.abort();
    }
    // Counted refusals are not lost with the process.
    registry.write_denial_summaries().await;
    drop(registry);
    store.close().await;
    tracing::info!("stopped");
    result.context("server failed")
}

/// Creates the first administrator if there is none; a generated password is shown once,
/// on standard output rather than in the log.
async fn bootstrap_admin(store: Arc<zoll_store::Store>, configured: Option<String>) {
    match zoll_registry::auth::bootstrap_admin(&store, configured.as_deref()).await {
        Ok(Some(password)) => println!(
            "zoll: created the administrator account \"admin\" with password {password} \
             (shown only now; change it with the management API)"
        ),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "cannot create the first administrator"),
    }
}

/// Removes idle upload sessions every few minutes.
async fn expire_uploads(store: Arc<zoll_store::Store>) {
    let every =
        (store.config().upload_ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    loop {
        tokio::time::sleep(every).await;
        match store.expire_uploads().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired idle upload sessions"),
            Err(e) => tracing::warn!(error = %e, "upload expiry failed"),
        }
    }
}
