//! The Kubernetes admission webhook inside `zoll serve` (the `[admission]` section), on the
//! registry's own listener, reading images straight from the store. `zoll admission`
//! (`cmd/admission.rs`) runs the same webhook standalone.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Deserializer};
use zoll_admission::{Settings, UnknownRegistries, Webhook};
use zoll_policy::{Engine, PolicySet, ScanGate};

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

pub fn unknown_registries(s: &str) -> anyhow::Result<UnknownRegistries> {
    UnknownRegistries::parse(s)
        .with_context(|| format!("unknown_registries {s:?}: use deny or allow"))
}

/// `scans` answers the policy's scan conditions: the registry's own scans inside `serve`,
/// [`NoScanner`] standalone (such a condition then refuses as "cannot be checked").
pub fn engine(
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
        bail!(
            "[admission] enabled needs admission.registries: the host names pods use for this registry"
        );
    }
    let source = zoll_registry::gate::StoreSource::new(store.clone());
    let settings = Settings::new(
        c.registries.clone(),
        unknown_registries(&c.unknown_registries)?,
    );
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
