//! Versioned schema migrations: each dialect has an ordered list of SQL files; the applied
//! versions are recorded in `schema_migrations` inside the same transaction as the change.

use sqlx::AnyPool;

use crate::error::{Result, StoreError};
use crate::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

fn migrations(d: Dialect) -> &'static [(i64, &'static str)] {
    match d {
        Dialect::Sqlite => &[
            (1, include_str!("schema_sqlite.sql")),
            (2, include_str!("v2_blob_state.sql")),
            (3, include_str!("v3_governance.sql")),
            (4, include_str!("v4_scans.sql")),
            (5, include_str!("v5_approvals.sql")),
            (6, include_str!("v6_upload_reservations.sql")),
            (7, include_str!("v7_chunk_tables.sql")),
        ],
        Dialect::Postgres => &[
            (1, include_str!("schema_postgres.sql")),
            (2, include_str!("v2_blob_state.sql")),
            (3, include_str!("v3_governance.sql")),
            (4, include_str!("v4_scans.sql")),
            (5, include_str!("v5_approvals.sql")),
            (6, include_str!("v6_upload_reservations.sql")),
            (7, include_str!("v7_chunk_tables.sql")),
        ],
    }
}

/// On open: migrate, or check that nothing is pending.
pub async fn prepare(pool: &AnyPool, dialect: Dialect, migrate: bool) -> Result<()> {
    if migrate {
        run(pool, dialect).await?;
        return Ok(());
    }
    let missing = pending(pool, dialect).await?;
    if !missing.is_empty() {
        return Err(StoreError::Outdated(missing));
    }
    Ok(())
}

/// Applies pending migrations; returns the versions it applied.
pub async fn run(pool: &AnyPool, dialect: Dialect) -> Result<Vec<i64>> {
    if let Dialect::Postgres = dialect {
        // Replicas starting together must not migrate concurrently: a session-level advisory
        // lock on one connection serializes them.
        let mut conn = pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock(72616)")
            .execute(&mut *conn)
            .await?;
        let result = apply(pool, dialect).await;
        sqlx::query("SELECT pg_advisory_unlock(72616)")
            .execute(&mut *conn)
            .await?;
        return result;
    }
    apply(pool, dialect).await
}

async fn ensure_table(pool: &AnyPool) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations \
         (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Versions this build knows that the database has not applied yet.
pub async fn pending(pool: &AnyPool, dialect: Dialect) -> Result<Vec<i64>> {
    ensure_table(pool).await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(pool)
        .await?;
    Ok(migrations(dialect)
        .iter()
        .map(|(v, _)| *v)
        .filter(|v| !applied.contains(v))
        .collect())
}

async fn apply(pool: &AnyPool, dialect: Dialect) -> Result<Vec<i64>> {
    ensure_table(pool).await?;
    let mut applied = Vec::new();
    for (version, sql) in migrations(dialect) {
        let mut tx = pool.begin().await?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)")
            .bind(*version)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied metadata schema migration");
        applied.push(*version);
    }
    Ok(applied)
}
