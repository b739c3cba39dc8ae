//! GC and scrub on a schedule inside `serve` (0 seconds: off); `zoll gc` and `zoll scrub`
//! run the same store operations once.

use std::sync::Arc;
use std::time::Duration;

use zoll_store::{GcOptions, Store};

use crate::config;

pub async fn gc(store: Arc<Store>, gc: config::Gc) {
    if gc.interval_secs == 0 {
        return;
    }
    let opts = GcOptions {
        grace: Duration::from_secs(gc.grace_secs),
        dry_run: false,
        untagged: gc.untagged,
    };
    loop {
        tokio::time::sleep(Duration::from_secs(gc.interval_secs)).await;
        if let Err(e) = store.gc(&opts).await {
            tracing::warn!(error = %e, "scheduled garbage collection failed");
        }
    }
}

pub async fn scrub(store: Arc<Store>, scrub: config::Scrub) {
    if scrub.interval_secs == 0 {
        return;
    }
    loop {
        tokio::time::sleep(Duration::from_secs(scrub.interval_secs)).await;
        match store.scrub().await {
            Ok(r) => tracing::info!(
                checked = r.checked,
                quarantined = r.quarantined.len(),
                unreadable = r.unreadable.len(),
                tables_recorded = r.tables_recorded,
                "scrub finished"
            ),
            Err(e) => tracing::warn!(error = %e, "scheduled scrub failed"),
        }
    }
}
