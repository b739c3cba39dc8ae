//! Backups hold every metadata table: a table added by a later migration and forgotten in
//! the backup list fails here.

use super::registry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_schema_table_is_backed_up_or_deliberately_left_out() {
    let reg = registry().await;
    sqlx::any::install_default_drivers();
    let (url, sql) = match &reg.config.metadata_url {
        Some(u) => (
            u.clone(),
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = 'public'",
        ),
        None => (
            format!("sqlite://{}", reg.dir.path().join("metadata.db").display()),
            "SELECT name FROM sqlite_master WHERE type = 'table'",
        ),
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let mut tables: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    tables.sort();
    let mut covered: Vec<String> = zoll_store::backed_up_tables()
        .into_iter()
        .chain(zoll_store::NOT_BACKED_UP.iter().copied())
        .map(str::to_owned)
        .collect();
    covered.sort();
    assert_eq!(tables, covered);
}
