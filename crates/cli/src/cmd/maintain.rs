//! `zoll gc`, `zoll scrub` and `zoll migrate` (their schedules inside `serve`:
//! `serve/schedules.rs`).

use std::time::Duration;

use anyhow::{Context, bail};
use zoll_store::{GcOptions, Store};

use crate::config;
use crate::output::plural;
use crate::{GcArgs, StoreArgs, open_existing_store, runtime};

pub fn gc(args: GcArgs) -> anyhow::Result<()> {
    let c = config::load_for(&args.store)?;
    crate::logging::init(&c)?;
    let grace = Duration::from_secs(args.grace_secs.unwrap_or(c.gc.grace_secs));
    runtime()?.block_on(async {
        let store = open_existing_store(&c).await?;
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
            "gc: {verb} {}, {}, {} bytes; {} kept because a push referenced them meanwhile",
            plural(
                report.manifests.len() as u64,
                "untagged manifest",
                "untagged manifests"
            ),
            plural(report.collected.len() as u64, "blob", "blobs"),
            report.bytes(),
            report.kept_by_push
        );
        Ok(())
    })
}

/// `zoll migrate`: applies pending metadata migrations and says which.
pub fn migrate(args: StoreArgs) -> anyhow::Result<()> {
    let c = config::load_for(&args)?;
    crate::logging::init(&c)?;
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
    crate::logging::init(&c)?;
    runtime()?.block_on(async {
        let store = open_existing_store(&c).await?;
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
            "scrub: checked {} ({} bytes), quarantined {}, unreadable {}, chunk tables \
             recorded {}",
            plural(report.checked as u64, "blob", "blobs"),
            report.bytes,
            report.quarantined.len(),
            report.unreadable.len(),
            report.tables_recorded
        );
        if !report.quarantined.is_empty() {
            bail!(
                "{} quarantined",
                plural(
                    report.quarantined.len() as u64,
                    "damaged blob",
                    "damaged blobs"
                )
            );
        }
        if !report.unreadable.is_empty() {
            let n = report.unreadable.len() as u64;
            bail!(
                "{} could not be read; run scrub again",
                plural(n, "blob", "blobs")
            );
        }
        Ok(())
    })
}
