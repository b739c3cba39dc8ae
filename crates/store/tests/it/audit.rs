//! The audit trail is a hash chain: concurrent appends number records without gaps, and an
//! edit, a deletion or a truncated tail made behind the store's back is found by verify.

use std::sync::Arc;

use zoll_store::AuditEntry;

use crate::open;

fn entry(i: usize) -> AuditEntry {
    AuditEntry {
        actor: format!("user{}", i % 3),
        source: "test".into(),
        action: "manifest.push".into(),
        target: format!("team/app:v{i}"),
        outcome: "ok".into(),
        detail: String::new(),
    }
}

/// The database the store writes, opened beside it.
async fn database(config: &zoll_store::StoreConfig) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = match &config.metadata_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", config.data_dir.join("metadata.db").display()),
    };
    sqlx::AnyPool::connect(&url).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_chain_and_tampering_is_found() {
    let crate::Opened {
        store,
        dir: _dir,
        config,
    } = open().await;
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.audit(&entry(i)).await.unwrap() })
        })
        .collect();
    let mut seqs: Vec<i64> = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    store.audit_batch(&[entry(40), entry(41)]).await.unwrap();
    seqs.sort();
    let first = seqs[0];
    assert_eq!(
        seqs,
        (first..first + 40).collect::<Vec<_>>(),
        "gaps or repeats"
    );
    let report = store.audit_verify().await.unwrap();
    assert!(report.intact(), "{:?}", report.findings);
    let records = report.records;

    let db = database(&config).await;
    // An edited record is found; put back as it was, the chain verifies again.
    let target = first + 5;
    let actor: String = sqlx::query_scalar("SELECT actor FROM audit_log WHERE seq = $1")
        .bind(target)
        .fetch_one(&db)
        .await
        .unwrap();
    for (value, intact) in [("mallory", false), (actor.as_str(), true)] {
        sqlx::query("UPDATE audit_log SET actor = $1 WHERE seq = $2")
            .bind(value)
            .bind(target)
            .execute(&db)
            .await
            .unwrap();
        let report = store.audit_verify().await.unwrap();
        assert_eq!(
            report.intact(),
            intact,
            "actor {value}: {:?}",
            report.findings
        );
    }
    // A deleted tail record.
    let last: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log")
        .fetch_one(&db)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq = $1")
        .bind(last)
        .execute(&db)
        .await
        .unwrap();
    let report = store.audit_verify().await.unwrap();
    assert!(!report.intact(), "a truncated tail went unnoticed");
    assert!(report.records < records);
}
