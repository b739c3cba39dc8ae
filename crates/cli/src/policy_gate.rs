//! The pull gate inside `serve`: the `[policy]` file loaded into a `zoll-policy` engine whose
//! scan conditions are answered by the registry's own scans, and re-loaded when the file
//! changes (a decision depends on the policy version, so a new policy is never answered
//! from an old cached decision).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use zoll_policy::{Engine, PolicySet};
use zoll_store::Store;

use crate::config::PolicySection;

pub fn engine(c: &PolicySection, file: &Path, store: Arc<Store>) -> anyhow::Result<Arc<Engine>> {
    let set = PolicySet::load(file)
        .with_context(|| format!("cannot load the trust policy {}", file.display()))?;
    tracing::info!(file = %file.display(), "trust policy loaded: manifest pulls are gated");
    let scans = Arc::new(zoll_registry::scan_gate::StoreScanGate::new(store));
    Ok(Arc::new(Engine::with(
        set,
        scans,
        Duration::from_secs(c.cache_ttl_secs),
    )))
}

fn modified(file: &Path) -> Option<SystemTime> {
    std::fs::metadata(file).and_then(|m| m.modified()).ok()
}

/// Polls the file's modification time; a change that parses replaces the policy, one that
/// does not is logged and the policy in force stays.
pub async fn watch(engine: Arc<Engine>, file: PathBuf, every: Duration) {
    let mut seen = modified(&file);
    loop {
        tokio::time::sleep(every).await;
        let now = modified(&file);
        if now == seen {
            continue;
        }
        seen = now;
        match PolicySet::load(&file) {
            Ok(set) => {
                engine.replace(set);
                tracing::info!(file = %file.display(), "trust policy reloaded");
            }
            Err(e) => tracing::error!(
                file = %file.display(),
                error = %e,
                "the changed trust policy does not load; the previous one stays in force"
            ),
        }
    }
}
