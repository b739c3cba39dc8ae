//! The Kubernetes admission webhook: standalone (`zoll admission`, reading images from a
//! zoll registry over HTTPS) or inside `zoll serve` (the `[admission]` section, reading
//! them straight from the store, on the registry's own listener).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Deserializer};
use zoll_admission::{Endpoint, Settings, UnknownRegistries, Webhook};
use zoll_policy::{Engine, NoScanner, PolicySet, ScanGate};

/// `[admission]` of the configuration file (`ZOLL_ADMISSION_*`): the webhook inside
/// `zoll serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Mount `/admission/validate` and `/admission/mutate` on the registry's listener.
    pub enabled: bool,
    /// The policy file (its `[admission]` section holds the pod checks and exemptions).
    pub policy: Option<PathBuf>,
    /// Host names (`host[:port]`) under which pods name this registry; a list, or one
    /// comma-separated string (as `ZOLL_ADMISSION_REGISTRIES` gives it).
    #[serde(deserialize_with = "list")]
    pub registries: Vec<String>,
    /// `deny` (default) or `allow` images from any other registry.
    pub unknown_registries: String,
    /// How long a decision is reused while nothing it depends on changed; 0 = never.
    pub cache_ttl_secs: u64,
    /// Seconds between checks of the policy file for changes.
    pub policy_reload_secs: u64,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            enabled: false,
            policy: None,
            registries: Vec::new(),
            unknown_registries: "deny".into(),
            cache_ttl_secs: 30,
            policy_reload_secs: 10,
        }
    }
}

fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

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

fn unknown(s: &str) -> anyhow::Result<UnknownRegistries> {
    UnknownRegistries::parse(s)
        .with_context(|| format!("unknown_registries {s:?}: use deny or allow"))
}

/// `scans` answers the policy's scan conditions: the registry's own scans inside `serve`,
/// [`NoScanner`] standalone (such a condition then refuses as "cannot be checked").
fn engine(
    policy: &std::path::Path,
    cache_ttl_secs: u64,
    scans: Arc<dyn ScanGate>,
) -> anyhow::Result<Arc<Engine>> {
    let set = PolicySet::load(policy).with_context(|| "cannot load the admission policy")?;
    Ok(Arc::new(Engine::with(
        set,
        scans,
        Duration::from_secs(cache_ttl_secs),
    )))
}

/// `zoll admission`.
pub fn run(args: AdmissionArgs) -> anyhow::Result<()> {
    let mut c = crate::config::Config::default();
    c.log.format = args.log_format.clone();
    crate::serve::init_logging(&c)?;
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
    let client = zoll_client::ClientConfig {
        extra_roots: args.registry_ca,
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

/// Mounts the webhook on the registry's Router when `[admission] enabled`; returns the
/// policy watcher to stop at shutdown. `pull_gate` is the `[policy]` file and the pull
/// gate's engine: admission without a policy of its own, or naming the same file, shares
/// that engine (one cache, one reload, scan conditions answered by the registry's scans).
pub fn mount(
    router: axum::Router,
    c: &AdmissionConfig,
    store: Arc<zoll_store::Store>,
    pull_gate: Option<(PathBuf, Arc<zoll_policy::Engine>)>,
) -> anyhow::Result<(axum::Router, Option<tokio::task::JoinHandle<()>>)> {
    if !c.enabled {
        return Ok((router, None));
    }
    if c.registries.is_empty() {
        bail!("[admission] enabled needs admission.registries: the host names pods use for this registry");
    }
    let source = zoll_registry::gate::StoreSource::new(store.clone());
    let settings = Settings::new(c.registries.clone(), unknown(&c.unknown_registries)?);
    let shared = pull_gate.filter(|(file, _)| c.policy.as_ref().is_none_or(|p| p == file));
    if let Some((_, engine)) = shared {
        let webhook = Webhook::new(engine, Arc::new(source), settings);
        tracing::info!(registries = ?c.registries, "admission webhook mounted on /admission/ (the pull gate's policy)");
        return Ok((router.merge(zoll_admission::router(webhook)), None));
    }
    let Some(policy) = &c.policy else {
        bail!("[admission] enabled needs admission.policy or [policy] file (the policy file)");
    };
    let scans = Arc::new(zoll_registry::scan_gate::StoreScanGate::new(store));
    let engine = engine(policy, c.cache_ttl_secs, scans)?;
    let webhook = Webhook::new(engine.clone(), Arc::new(source), settings);
    let watcher = tokio::spawn(zoll_admission::watch_policy(
        engine,
        policy.clone(),
        Duration::from_secs(c.policy_reload_secs.max(1)),
    ));
    tracing::info!(registries = ?c.registries, "admission webhook mounted on /admission/");
    Ok((router.merge(zoll_admission::router(webhook)), Some(watcher)))
}
