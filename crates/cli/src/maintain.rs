//! `zoll gc` and `zoll scrub`, and their schedules inside `serve`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use zoll_store::{GcOptions, Store};

use crate::config::{self, Config};
use crate::{GcArgs, StoreArgs};

pub async fn open_store(c: &Config) -> anyhow::Result<Store> {
    Store::open(c.store_config()).await.with_context(|| {
        format!(
            "cannot open data directory {}",
            c.storage.data_dir.display()
        )
    })
}

/// The runtime of the store commands (`gc`, `scrub`, `migrate` and the `gov` ones).
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    zoll_stdx::rt::multi_thread().context("cannot start the async runtime")
}

pub fn gc(args: GcArgs) -> anyhow::Result<()> {
    let c = config::load_for(&args.store)?;
    crate::serve::init_logging(&c)?;
    let grace = Duration::from_secs(args.grace_secs.unwrap_or(c.gc.grace_secs));
    runtime()?.block_on(async {
        let store = open_store(&c).await?;
        let opts = GcOptions {
            grace,
            dry_run: args.dry_run,
            untagged: args.untagged || c.gc.untagged,
        };
        let report = store.gc(&opts).await;
        store.close().await;
        let report = report.context("garbage collection failed")?;
        let verb = if args.dry_run {
            "would remove"
        } else {
            "removed"
        };
        for m in &report.manifests {
            println!("{verb} manifest {}@{} {} bytes", m.repo, m.digest, m.size);
        }
        for blob in &report.collected {
            println!("{verb} {} {} bytes", blob.digest, blob.size);
        }
        println!(
            "gc: {verb} {} untagged manifests, {} blobs, {} bytes; {} kept because a push \
             referenced them meanwhile",
            report.manifests.len(),
            report.collected.len(),
            report.bytes(),
            report.kept_by_push
        );
        Ok(())
    })
}

/// `zoll migrate`: applies pending metadata migrations and says which.
pub fn migrate(args: StoreArgs) -> anyhow::Result<()> {
    let c = config::load_for(&args)?;
    crate::serve::init_logging(&c)?;
    runtime()?.block_on(async {
        let mut check = c.store_config();
        check.migrate = false;
        let pending = match Store::open(check).await {
            Ok(store) => {
                store.close().await;
                Vec::new()
            }
            Err(zoll_store::StoreError::Outdated(versions)) => versions,
            Err(e) => return Err(e).context("cannot open the store"),
        };
        if pending.is_empty() {
            println!("migrate: the metadata schema is current");
            return Ok(());
        }
        let mut run = c.store_config();
        run.migrate = true;
        let store = Store::open(run).await.context("migration failed")?;
        store.close().await;
        println!("migrate: applied schema versions {pending:?}");
        Ok(())
    })
}

pub fn scrub(args: StoreArgs) -> anyhow::Result<()> {
    let c = config::load_for(&args)?;
    crate::serve::init_logging(&c)?;
    runtime()?.block_on(async {
        let store = open_store(&c).await?;
        let report = store.scrub().await;
        store.close().await;
        let report = report.context("scrub failed")?;
        for digest in &report.quarantined {
            println!("quarantined {digest}");
        }
        for digest in &report.unreadable {
            println!("unreadable {digest}");
        }
        println!(
            "scrub: checked {} blobs ({} bytes), quarantined {}, unreadable {}, chunk tables \
             recorded {}",
            report.checked,
            report.bytes,
            report.quarantined.len(),
            report.unreadable.len(),
            report.tables_recorded
        );
        if !report.quarantined.is_empty() {
            bail!("{} damaged blobs quarantined", report.quarantined.len());
        }
        if !report.unreadable.is_empty() {
            bail!(
                "{} blobs could not be read; run scrub again",
                report.unreadable.len()
            );
        }
        Ok(())
    })
}

pub async fn scheduled_gc(store: Arc<Store>, gc: config::Gc) {
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

pub async fn scheduled_scrub(store: Arc<Store>, scrub: config::Scrub) {
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
