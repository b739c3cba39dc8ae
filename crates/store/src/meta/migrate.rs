//! Versioned schema migrations: each dialect has an ordered list of SQL files; the applied
//! versions are recorded in `schema_migrations` inside the same transaction as the change.

use sqlx::AnyPool;

use crate::error::{Result, StoreError};
use crate::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    Sqlite,
    Postgres,
}

/// One migration: SQL, or a rewrite of stored values that SQL cannot express.
#[derive(Clone, Copy)]
enum Step {
    Sql(&'static str),
    /// Stored patterns into zoll's one glob dialect (`v8_glob_dialect.rs`).
    GlobDialect,
}

/// Migrations after the first: the same SQL (portable types only) for both dialects.
const SHARED: [(i64, Step); 8] = [
    (2, Step::Sql(include_str!("v2_blob_state.sql"))),
    (3, Step::Sql(include_str!("v3_governance.sql"))),
    (4, Step::Sql(include_str!("v4_scans.sql"))),
    (5, Step::Sql(include_str!("v5_approvals.sql"))),
    (6, Step::Sql(include_str!("v6_upload_reservations.sql"))),
    (7, Step::Sql(include_str!("v7_chunk_tables.sql"))),
    (8, Step::GlobDialect),
    (9, Step::Sql(include_str!("v9_console_sessions.sql"))),
];

/// Every migration of `d` in order: the schema in the dialect's own SQL, then the shared ones.
fn migrations(d: Dialect) -> impl Iterator<Item = (i64, Step)> {
    let schema = match d {
        Dialect::Sqlite => include_str!("schema_sqlite.sql"),
        Dialect::Postgres => include_str!("schema_postgres.sql"),
    };
    std::iter::once((1, Step::Sql(schema))).chain(SHARED)
}

/// The newest schema version this build knows.
pub(super) fn latest_version(d: Dialect) -> i64 {
    migrations(d).last().map_or(0, |(v, _)| v)
}

/// On open: migrate, or check that nothing is pending.
pub(super) async fn prepare(pool: &AnyPool, dialect: Dialect, migrate: bool) -> Result<()> {
    refuse_newer(pool, dialect).await?;
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

/// Refuses a database that a newer build migrated: this build would misread what it does
/// not know (patterns written in a newer dialect, say, would match differently).
async fn refuse_newer(pool: &AnyPool, dialect: Dialect) -> Result<()> {
    ensure_table(pool).await?;
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await?;
    match newest {
        Some(found) if found > latest_version(dialect) => Err(StoreError::TooNew {
            found,
            known: latest_version(dialect),
        }),
        _ => Ok(()),
    }
}

/// Applies pending migrations; returns the versions it applied.
pub(super) async fn run(pool: &AnyPool, dialect: Dialect) -> Result<Vec<i64>> {
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
pub(super) async fn pending(pool: &AnyPool, dialect: Dialect) -> Result<Vec<i64>> {
    ensure_table(pool).await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(pool)
        .await?;
    Ok(migrations(dialect)
        .map(|(v, _)| v)
        .filter(|v| !applied.contains(v))
        .collect())
}

async fn apply(pool: &AnyPool, dialect: Dialect) -> Result<Vec<i64>> {
    apply_through(pool, dialect, i64::MAX).await
}

/// Applies pending migrations up to version `last` (tests start from older schemas).
async fn apply_through(pool: &AnyPool, dialect: Dialect, last: i64) -> Result<Vec<i64>> {
    ensure_table(pool).await?;
    let mut applied = Vec::new();
    for (version, step) in migrations(dialect).filter(|(v, _)| *v <= last) {
        let mut tx = pool.begin().await?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        match step {
            Step::Sql(sql) => {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
            }
            Step::GlobDialect => super::v8_glob_dialect::migrate(&mut tx).await?,
        }
        sqlx::query("INSERT INTO schema_migrations (version, applied_ms) VALUES ($1, $2)")
            .bind(version)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied metadata schema migration");
        applied.push(version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoll_glob::{Glob, legacy};

    /// Robots and project rules as a version-7 server stored them (old dialect: `*` crosses
    /// `/`, `?` matches any one character).
    const ROBOT_PATTERNS: [&str; 8] = ["*", "app/*", "app*", "*-dev", "a?b", "", "app", "a*/x"];
    const IMMUTABLE: &str = r#"[{"tags":"v*"},{"repositories":"team/*","tags":"release-?"},{"repositories":"a?b","tags":"**"}]"#;
    const RETENTION: &str = r#"{"keep_last":2,"keep_tags":["v1.**","latest"]}"#;
    const NAMES: [&str; 14] = [
        "",
        "app",
        "app/x",
        "app/x/y",
        "app2",
        "apps/x",
        "x-dev",
        "team/x-dev",
        "a-b",
        "a/b",
        "axb",
        "team/a",
        "team/a/b",
        "b/x",
    ];
    const TAGS: [&str; 7] = [
        "v1",
        "v1.2",
        "v1.2.3",
        "latest",
        "release-1",
        "release-12",
        "x",
    ];

    async fn sqlite() -> (AnyPool, tempfile::TempDir) {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        (pool, dir)
    }

    /// What the stored patterns decide, for every name (robots: which permission index
    /// matches; immutable: whether each name/tag pair is protected; retention: kept tags).
    fn decisions(
        robot: &[(String, String)],
        rules: &[(String, String)],
        keep: &[String],
        m: &dyn Fn(&str, &str) -> bool,
        m_tag: &dyn Fn(&str, &str) -> bool,
    ) -> Vec<bool> {
        let mut out = Vec::new();
        for n in NAMES {
            for action in ["pull", "push"] {
                out.push(robot.iter().any(|(p, a)| a == action && m(p, n)));
            }
            for t in TAGS {
                out.push(rules.iter().any(|(r, tg)| m(r, n) && m_tag(tg, t)));
            }
        }
        for t in TAGS {
            out.push(keep.iter().any(|k| m_tag(k, t)));
        }
        out
    }

    async fn stored(pool: &AnyPool) -> (Vec<(String, String)>, Vec<(String, String)>, Vec<String>) {
        let perms: String = sqlx::query_scalar("SELECT permissions FROM accounts")
            .fetch_one(pool)
            .await
            .unwrap();
        let (rules, retention): (String, String) =
            sqlx::query_as("SELECT immutable_rules, retention FROM projects")
                .fetch_one(pool)
                .await
                .unwrap();
        let perms: serde_json::Value = serde_json::from_str(&perms).unwrap();
        let robot = perms
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let action = p["actions"][0].as_str().unwrap().to_owned();
                (p["repositories"].as_str().unwrap().to_owned(), action)
            })
            .collect();
        let rules: serde_json::Value = serde_json::from_str(&rules).unwrap();
        let rules = rules
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let repos = r["repositories"].as_str().unwrap_or("*").to_owned();
                (repos, r["tags"].as_str().unwrap().to_owned())
            })
            .collect();
        let retention: serde_json::Value = serde_json::from_str(&retention).unwrap();
        let keep = retention["keep_tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        (robot, rules, keep)
    }

    /// A fresh database on the test PostgreSQL server, when the run has one
    /// (`scripts/test.sh` starts it and sets `ZOLL_TEST_POSTGRES_URL`).
    async fn postgres() -> Option<AnyPool> {
        let admin = std::env::var("ZOLL_TEST_POSTGRES_URL").ok()?;
        sqlx::any::install_default_drivers();
        let name = format!("zoll_migrate_{}", crate::random_id());
        let server = sqlx::AnyPool::connect(&admin).await.unwrap();
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&server)
            .await
            .unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        Some(
            sqlx::AnyPool::connect(&format!("{base}/{name}"))
                .await
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn version_8_keeps_what_every_stored_pattern_matches() {
        let (pool, _dir) = sqlite().await;
        version_8_on(&pool, Dialect::Sqlite).await;
        match postgres().await {
            Some(pool) => version_8_on(&pool, Dialect::Postgres).await,
            None => eprintln!("ZOLL_TEST_POSTGRES_URL unset: version 8 checked on SQLite only"),
        }
    }

    async fn version_8_on(pool: &AnyPool, dialect: Dialect) {
        let pool = pool.clone();
        apply_through(&pool, dialect, 7).await.unwrap();
        let perms: Vec<serde_json::Value> = ROBOT_PATTERNS
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let action = if i % 2 == 0 { "pull" } else { "push" };
                serde_json::json!({"repositories": p, "actions": [action]})
            })
            .collect();
        sqlx::query(
            "INSERT INTO accounts (name, kind, password_hash, project, permissions, created_ms) \
             VALUES ('robot$team+ci', 'robot', 'x', 'team', $1, 0)",
        )
        .bind(serde_json::Value::Array(perms).to_string())
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO projects (name, immutable_rules, retention, created_ms) \
             VALUES ('team', $1, $2, 0)",
        )
        .bind(IMMUTABLE)
        .bind(RETENTION)
        .execute(&pool)
        .await
        .unwrap();
        let (robot, rules, keep) = stored(&pool).await;
        let before = decisions(&robot, &rules, &keep, &legacy::matches, &legacy::matches);

        assert_eq!(apply_through(&pool, dialect, 8).await.unwrap(), [8]);
        let (robot, rules, keep) = stored(&pool).await;
        let new = |p: &str, n: &str| Glob::parse_relative(p).unwrap().matches(n);
        let new_tag = |p: &str, t: &str| Glob::parse(p).unwrap().matches(t);
        let after = decisions(&robot, &rules, &keep, &new, &new_tag);
        assert_eq!(before, after, "a stored pattern changed what it matches");
        // And the patterns are the new dialect's, not the old text.
        assert!(robot.iter().any(|(p, _)| p == "**"), "{robot:?}");
        assert!(rules.iter().any(|(r, _)| r == "team/**"), "{rules:?}");
        assert_eq!(keep, ["v1.*", "latest"]);
        // Applied once: a second run changes nothing (and applies only the later versions).
        assert!(apply_through(&pool, dialect, 8).await.unwrap().is_empty());
        assert_eq!(apply(&pool, dialect).await.unwrap(), [9]);
    }

    #[tokio::test]
    async fn a_database_from_a_newer_build_is_refused() {
        let (pool, _dir) = sqlite().await;
        apply(&pool, Dialect::Sqlite).await.unwrap();
        prepare(&pool, Dialect::Sqlite, false).await.unwrap();
        sqlx::query("INSERT INTO schema_migrations (version, applied_ms) VALUES (99, 0)")
            .execute(&pool)
            .await
            .unwrap();
        let err = prepare(&pool, Dialect::Sqlite, true).await.unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    }
}
