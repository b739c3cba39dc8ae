//! Registry metadata: repositories, blob links, manifests, tags, referrers, upload
//! sessions, scans, approvals, the console's sessions and pages (`console.rs`), and the records the store only keeps (`governance.rs`:
//! accounts, projects, members, token keys; `hooks.rs`: webhooks and their outbox). All SQL
//! of the store lives under this module. Queries are written once in the SQL that SQLite and PostgreSQL share (`$n`
//! placeholders, `ON CONFLICT`), over sqlx's `Any` driver; only the schema file is per dialect.

mod approvals;
mod audit;
mod blobs;
mod console;
mod governance;
mod hooks;
mod manifests;
mod migrate;
mod scans;
mod uploads;
pub(crate) mod v8_glob_dialect;

pub(crate) use blobs::{BlobRow, Removal};
pub use console::{ConsoleSession, TagCursor, TagOrder, TagRow};
pub use governance::{Account, AccountKind, ArtifactRow, Project};
pub use hooks::{Attempt, Delivery, MAX_PENDING_PER_HOOK, Webhook};
pub(crate) use manifests::MAX_CATALOG_PROJECTS;
pub use manifests::ReferrerPage;
pub use scans::{AffectedImage, ScanJob, ScanOutcome, ScanRow};

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use zoll_stdx::time::Clock;

use crate::error::Result;

/// A repository's row id; stable for the life of the repository.
pub(crate) type RepoId = i64;

pub(crate) struct Metadata {
    /// Reads. For SQLite several connections read the WAL concurrently.
    reader: AnyPool,
    /// Writes. For SQLite exactly one connection, so writers queue here instead of failing
    /// with SQLITE_BUSY when a read transaction would have to upgrade.
    writer: AnyPool,
    repo_ids: Mutex<HashMap<String, RepoId>>,
    dialect: migrate::Dialect,
    /// What the rows' times are read from (the store's clock).
    clock: Arc<dyn Clock>,
}

/// A write transaction; the store does file operations inside one where they must not
/// interleave with garbage collection or scrub.
pub(crate) type Tx = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Debug, Clone)]
pub(crate) struct UploadRow {
    pub repo_id: RepoId,
    pub received: u64,
    /// What the blob backend recorded about the staged bytes (S3: the chunk objects).
    pub parts: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ManifestRow {
    pub media_type: String,
    pub content: Vec<u8>,
}

/// One entry of the referrers index.
#[derive(Debug, Clone)]
pub struct ReferrerRow {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

/// Everything a manifest push writes, in one transaction.
pub(crate) struct NewManifest<'a> {
    pub repo_id: RepoId,
    pub digest: &'a str,
    pub media_type: &'a str,
    pub content: &'a [u8],
    pub subject: Option<&'a str>,
    pub artifact_type: Option<&'a str>,
    pub annotations: Option<String>,
    /// Blobs the manifest references with the size its descriptor claims; each must be
    /// linked into the repository with that size (checked inside the transaction).
    pub blobs: Vec<(&'a str, u64)>,
    /// Manifests an index references; each must be in the repository.
    pub manifests: Vec<&'a str>,
    /// Everything referenced, for the garbage-collection mark set.
    pub children: Vec<&'a str>,
    pub tags: Vec<&'a str>,
    /// Of `tags`: those that must not move to another manifest.
    pub immutable_tags: Vec<&'a str>,
    pub quota: Option<&'a crate::Quota>,
    /// Queue a scan of this image in the same transaction.
    pub scan: bool,
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metadata {
    /// Opens the metadata database named by `url` and migrates it: `sqlite://PATH` (the
    /// embedded default) or `postgres://...`.
    /// With `migrate`, pending schema migrations are applied; without, a database that has
    /// pending ones is refused.
    pub(crate) async fn open(url: &str, migrate: bool, clock: Arc<dyn Clock>) -> Result<Metadata> {
        sqlx::any::install_default_drivers();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .connect(url)
                .await?;
            migrate::prepare(&pool, migrate::Dialect::Postgres, migrate).await?;
            return Ok(Metadata {
                reader: pool.clone(),
                writer: pool,
                repo_ids: Mutex::new(HashMap::new()),
                dialect: migrate::Dialect::Postgres,
                clock,
            });
        }
        const PRAGMAS: [&str; 4] = [
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA busy_timeout=10000",
            "PRAGMA foreign_keys=ON",
        ];
        let options = |n: u32| {
            AnyPoolOptions::new()
                .max_connections(n)
                .min_connections(1)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        for pragma in PRAGMAS {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                        Ok(())
                    })
                })
        };
        let writer = options(1).connect(url).await?;
        migrate::prepare(&writer, migrate::Dialect::Sqlite, migrate).await?;
        let reader = options(4).connect(url).await?;
        Ok(Metadata {
            reader,
            writer,
            repo_ids: Mutex::new(HashMap::new()),
            dialect: migrate::Dialect::Sqlite,
            clock,
        })
    }

    /// Now, by the store's clock.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Applies pending migrations; returns the versions applied (empty: already current).
    pub(crate) async fn migrate(&self) -> Result<Vec<i64>> {
        migrate::run(&self.writer, self.dialect).await
    }

    /// The URL of the embedded SQLite database at `path`.
    pub(crate) fn sqlite_url(path: &Path) -> String {
        format!("sqlite://{}?mode=rwc", path.display())
    }

    /// True for the embedded SQLite database, which only this process uses.
    pub(crate) fn is_embedded(&self) -> bool {
        matches!(self.dialect, migrate::Dialect::Sqlite)
    }

    /// Row-lock suffix for a SELECT inside a write transaction. SQLite needs none: its one
    /// writer connection serializes write transactions already.
    pub(crate) fn lock_suffix(&self, mode: &'static str) -> &'static str {
        self.lock(mode)
    }

    fn lock(&self, mode: &'static str) -> &'static str {
        match self.dialect {
            migrate::Dialect::Sqlite => "",
            migrate::Dialect::Postgres => mode,
        }
    }

    pub(crate) fn reader(&self) -> &AnyPool {
        &self.reader
    }

    pub(crate) fn writer(&self) -> &AnyPool {
        &self.writer
    }

    pub(crate) async fn begin(&self) -> Result<Tx> {
        Ok(self.writer.begin().await?)
    }

    pub(crate) async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    fn cached_repo(&self, name: &str) -> Option<RepoId> {
        self.repo_ids.lock().expect("poisoned").get(name).copied()
    }

    pub(crate) async fn repo_id(&self, name: &str) -> Result<Option<RepoId>> {
        if let Some(id) = self.cached_repo(name) {
            return Ok(Some(id));
        }
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await?;
        if let Some(id) = id {
            self.repo_ids
                .lock()
                .expect("poisoned")
                .insert(name.to_owned(), id);
        }
        Ok(id)
    }

    pub(crate) async fn ensure_repo(&self, name: &str) -> Result<RepoId> {
        if let Some(id) = self.repo_id(name).await? {
            return Ok(id);
        }
        sqlx::query(
            "INSERT INTO repositories (name, created_ms) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(self.now_ms())
        .execute(&self.writer)
        .await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
            .bind(name)
            .fetch_one(&self.writer)
            .await?;
        self.repo_ids
            .lock()
            .expect("poisoned")
            .insert(name.to_owned(), id);
        Ok(id)
    }
}
