//! The pull gate inside `serve`: the `[policy]` file loaded into a `zoll-policy` engine whose
//! scan conditions are answered by the registry's own scans (re-loaded by
//! `zoll_policy::watch_policy` when the file changes; a decision depends on the policy
//! version, so a new policy is never answered from an old cached decision). Admission in
//! the same process shares this engine when it names the same file.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use zoll_policy::{Engine, PolicySet};
use zoll_store::Store;

use crate::config::PolicySection;

pub fn engine(c: &PolicySection, file: &Path, store: Arc<Store>) -> anyhow::Result<Arc<Engine>> {
    let set = PolicySet::load(file)
        .with_context(|| format!("cannot load the trust policy {}", file.display()))?;
    if c.registry.is_none() && set.has_named_notation_scopes() {
        anyhow::bail!(
            "the trust policy {} uses a Notation trust policy with named scopes: set [policy] \
             registry to this registry's name so that the pull gate can match them",
            file.display()
        );
    }
    tracing::info!(file = %file.display(), "trust policy loaded: manifest pulls are gated");
    let scans = Arc::new(zoll_registry::scan_gate::StoreScanGate::new(store));
    Ok(Arc::new(Engine::with(
        set,
        scans,
        Duration::from_secs(c.cache_ttl_secs),
    )))
}
