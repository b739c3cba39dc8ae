//! `zoll admission`: the Kubernetes admission webhook standalone, reading images from a
//! zoll registry over HTTPS. Inside `zoll serve` it is mounted by `serve/admission.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use zoll_admission::{Endpoint, Settings, Webhook};
use zoll_policy::NoScanner;

use crate::serve::{admission_engine as engine, unknown_registries as unknown};

/// Standalone webhook. Environment variables share the names of `[admission]` in
/// `zoll serve`'s configuration.
#[derive(clap::Args)]
pub struct AdmissionArgs {
    /// The zoll registry to read images and signatures from: https://host[:port].
    #[arg(long)]
    registry: String,
    /// A host name pods use for that registry (repeatable; default: the --registry host).
    #[arg(
        long = "registry-host",
        env = "ZOLL_ADMISSION_REGISTRIES",
        value_delimiter = ','
    )]
    registry_hosts: Vec<String>,
    /// Extra PEM root certificates for the registry's TLS certificate.
    #[arg(long)]
    registry_ca: Vec<PathBuf>,
    /// The policy file.
    #[arg(long, env = "ZOLL_ADMISSION_POLICY")]
    policy: PathBuf,
    /// PEM certificate chain the API server verifies (against the webhook's caBundle).
    #[arg(long, env = "ZOLL_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "ZOLL_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Address to listen on (plain HTTP only on loopback, for local experiments).
    #[arg(long, env = "ZOLL_LISTEN", default_value = "0.0.0.0:8443")]
    listen: String,
    /// `deny` or `allow` images from registries other than --registry.
    #[arg(
        long,
        env = "ZOLL_ADMISSION_UNKNOWN_REGISTRIES",
        default_value = "deny"
    )]
    unknown_registries: String,
    /// Seconds a decision is reused while nothing it depends on changed (0: never).
    #[arg(long, default_value_t = 30)]
    cache_ttl_secs: u64,
    /// Seconds between checks of the policy file for changes.
    #[arg(long, default_value_t = 10)]
    policy_reload_secs: u64,
    /// Log format: human or json.
    #[arg(long, env = "ZOLL_LOG_FORMAT", default_value = "human")]
    log_format: String,
}

/// `zoll admission`.
pub fn run(args: AdmissionArgs) -> anyhow::Result<()> {
    let mut c = crate::config::Config::default();
    c.log.format = args.log_format.clone();
    crate::logging::init(&c)?;
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {:?} is not an address:port", args.listen))?;
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(zoll_registry::TlsFiles { cert, key }),
        (None, None) if listen.ip().is_loopback() => None,
        (None, None) => bail!(
            "the API server only calls webhooks over HTTPS: give --tls-cert and --tls-key \
             (plain HTTP is allowed on loopback addresses only)"
        ),
        _ => bail!("TLS needs both --tls-cert and --tls-key"),
    };
    // The API server waits 10 s for a review (deploy/kubernetes/webhooks.yaml): retried
    // registry reads leave most of that for the answer.
    let client = zoll_client::ClientConfig {
        extra_roots: args.registry_ca,
        retry: zoll_client::RetryPolicy {
            max_delay: std::time::Duration::from_secs(2),
            max_total: std::time::Duration::from_secs(3),
            ..Default::default()
        },
        ..Default::default()
    };
    let endpoint = Endpoint::new(&args.registry, client).map_err(anyhow::Error::msg)?;
    let hosts = if args.registry_hosts.is_empty() {
        vec![endpoint.host().to_owned()]
    } else {
        args.registry_hosts
    };
    let engine = engine(&args.policy, args.cache_ttl_secs, Arc::new(NoScanner))?;
    let settings = Settings::new(hosts, unknown(&args.unknown_registries)?);
    let webhook = Webhook::new(engine.clone(), Arc::new(endpoint), settings);
    let runtime = zoll_stdx::rt::multi_thread().context("cannot start the async runtime")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    runtime.block_on(async move {
        let watcher = tokio::spawn(zoll_admission::watch_policy(
            engine,
            args.policy,
            Duration::from_secs(args.policy_reload_secs.max(1)),
        ));
        let opts = zoll_registry::ServeOptions {
            listen,
            tls,
            grace: Duration::from_secs(10),
            tls_reload: Duration::from_secs(60),
            connections: zoll_registry::connections::ConnectionLimits::default(),
            connection_stats: Default::default(),
        };
        let result = zoll_registry::serve(zoll_admission::router(webhook), opts, move |addr| {
            tracing::info!(%addr, scheme, "zoll is serving the admission webhook");
        })
        .await;
        watcher.abort();
        result.context("admission webhook failed")
    })
}
