//! Registry metadata: repositories, blob links, manifests, tags, referrers and upload
//! sessions. Queries are written once in the SQL that SQLite and PostgreSQL share (`$n`
//! placeholders, `ON CONFLICT`), over sqlx's `Any` driver; only the schema file is per dialect.

mod migrate;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::error::Result;
use crate::now_ms;

/// A repository's row id; stable for the life of the repository.
pub type RepoId = i64;

pub struct Metadata {
    /// Reads. For SQLite several connections read the WAL concurrently.
    reader: AnyPool,
    /// Writes. For SQLite exactly one connection, so writers queue here instead of failing
    /// with SQLITE_BUSY when a read transaction would have to upgrade.
    writer: AnyPool,
    repo_ids: Mutex<HashMap<String, RepoId>>,
    embedded: bool,
}

#[derive(Debug, Clone)]
pub struct UploadRow {
    pub repo_id: RepoId,
    pub received: u64,
}

#[derive(Debug, Clone)]
pub struct ManifestRow {
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
pub struct NewManifest<'a> {
    pub repo_id: RepoId,
    pub digest: &'a str,
    pub media_type: &'a str,
    pub content: &'a [u8],
    pub subject: Option<&'a str>,
    pub artifact_type: Option<&'a str>,
    pub annotations: Option<String>,
    pub children: Vec<&'a str>,
    pub tags: Vec<&'a str>,
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metadata {
    /// Opens the metadata database named by `url` and migrates it: `sqlite://PATH` (the
    /// embedded default) or `postgres://...`.
    pub async fn open(url: &str) -> Result<Metadata> {
        sqlx::any::install_default_drivers();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .connect(url)
                .await?;
            migrate::run(&pool, migrate::Dialect::Postgres).await?;
            return Ok(Metadata {
                reader: pool.clone(),
                writer: pool,
                repo_ids: Mutex::new(HashMap::new()),
                embedded: false,
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
        migrate::run(&writer, migrate::Dialect::Sqlite).await?;
        let reader = options(4).connect(url).await?;
        Ok(Metadata {
            reader,
            writer,
            repo_ids: Mutex::new(HashMap::new()),
            embedded: true,
        })
    }

    /// The URL of the embedded SQLite database at `path`.
    pub fn sqlite_url(path: &Path) -> String {
        format!("sqlite://{}?mode=rwc", path.display())
    }

    /// True for the embedded SQLite database, which only this process uses.
    pub fn is_embedded(&self) -> bool {
        self.embedded
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    fn cached_repo(&self, name: &str) -> Option<RepoId> {
        self.repo_ids.lock().expect("poisoned").get(name).copied()
    }

    pub async fn repo_id(&self, name: &str) -> Result<Option<RepoId>> {
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

    pub async fn ensure_repo(&self, name: &str) -> Result<RepoId> {
        if let Some(id) = self.repo_id(name).await? {
            return Ok(id);
        }
        sqlx::query(
            "INSERT INTO repositories (name, created_ms) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now_ms())
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

    /// Size of `digest` if it is linked into the repository.
    pub async fn repo_blob_size(&self, repo: RepoId, digest: &str) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repo_blobs r JOIN blobs b ON b.digest = r.digest \
             WHERE r.repo_id = $1 AND r.digest = $2",
        )
        .bind(repo)
        .bind(digest)
        .fetch_optional(&self.reader)
        .await?;
        Ok(size.map(to_u64))
    }

    /// Size of a published blob, in any repository.
    pub async fn blob_size(&self, digest: &str) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.reader)
            .await?;
        Ok(size.map(to_u64))
    }

    /// Records a verified, published blob and links it into `repo`; ends the upload session.
    pub async fn commit_blob(
        &self,
        repo: RepoId,
        digest: &str,
        size: u64,
        upload: Option<&str>,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO blobs (digest, size, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest)
        .bind(to_i64(size))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        link(&mut tx, repo, digest, now).await?;
        if let Some(id) = upload {
            sqlx::query("DELETE FROM uploads WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Links an already published blob into `repo` (cross-repository mount).
    pub async fn link_blob(&self, repo: RepoId, digest: &str) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        link(&mut tx, repo, digest, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn unlink_blob(&self, repo: RepoId, digest: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM repo_blobs WHERE repo_id = $1 AND digest = $2")
            .bind(repo)
            .bind(digest)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn create_upload(&self, id: &str, repo: RepoId) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO uploads (id, repo_id, received, created_ms, updated_ms) \
             VALUES ($1, $2, 0, $3, $3)",
        )
        .bind(id)
        .bind(repo)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub async fn upload(&self, id: &str) -> Result<Option<UploadRow>> {
        let row: Option<AnyRow> =
            sqlx::query("SELECT repo_id, received FROM uploads WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.writer)
                .await?;
        row.map(|r| {
            Ok(UploadRow {
                repo_id: r.try_get(0)?,
                received: to_u64(r.try_get(1)?),
            })
        })
        .transpose()
    }

    pub async fn set_upload_received(&self, id: &str, received: u64) -> Result<()> {
        sqlx::query("UPDATE uploads SET received = $1, updated_ms = $2 WHERE id = $3")
            .bind(to_i64(received))
            .bind(now_ms())
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    pub async fn delete_upload(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ids of upload sessions untouched since `before_ms`, or of all sessions with `None`.
    pub async fn uploads_idle_since(&self, before_ms: Option<i64>) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM uploads WHERE updated_ms < $1")
                .bind(before_ms.unwrap_or(i64::MAX))
                .fetch_all(&self.writer)
                .await?,
        )
    }

    pub async fn manifest(&self, repo: RepoId, digest: &str) -> Result<Option<ManifestRow>> {
        let row: Option<AnyRow> = sqlx::query(
            "SELECT media_type, content FROM manifests WHERE repo_id = $1 AND digest = $2",
        )
        .bind(repo)
        .bind(digest)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(ManifestRow {
                media_type: r.try_get(0)?,
                content: r.try_get(1)?,
            })
        })
        .transpose()
    }

    pub async fn manifest_exists(&self, repo: RepoId, digest: &str) -> Result<bool> {
        let hit: Option<String> =
            sqlx::query_scalar("SELECT digest FROM manifests WHERE repo_id = $1 AND digest = $2")
                .bind(repo)
                .bind(digest)
                .fetch_optional(&self.reader)
                .await?;
        Ok(hit.is_some())
    }

    pub async fn put_manifest(&self, m: NewManifest<'_>) -> Result<()> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "INSERT INTO manifests (repo_id, digest, media_type, size, content, subject, \
             artifact_type, annotations, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (repo_id, digest) DO NOTHING",
        )
        .bind(m.repo_id)
        .bind(m.digest)
        .bind(m.media_type)
        .bind(i64::try_from(m.content.len()).unwrap_or(i64::MAX))
        .bind(m.content.to_vec())
        .bind(m.subject)
        .bind(m.artifact_type)
        .bind(m.annotations.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for child in &m.children {
            sqlx::query(
                "INSERT INTO manifest_refs (repo_id, manifest_digest, child_digest) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(m.repo_id)
            .bind(m.digest)
            .bind(*child)
            .execute(&mut *tx)
            .await?;
        }
        for tag in &m.tags {
            sqlx::query(
                "INSERT INTO tags (repo_id, name, digest, updated_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (repo_id, name) DO UPDATE SET digest = $3, updated_ms = $4",
            )
            .bind(m.repo_id)
            .bind(*tag)
            .bind(m.digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn tag(&self, repo: RepoId, tag: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT digest FROM tags WHERE repo_id = $1 AND name = $2")
                .bind(repo)
                .bind(tag)
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    /// Deletes a manifest and every tag pointing at it.
    pub async fn delete_manifest(&self, repo: RepoId, digest: &str) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query("DELETE FROM manifests WHERE repo_id = $1 AND digest = $2")
            .bind(repo)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        for sql in [
            "DELETE FROM tags WHERE repo_id = $1 AND digest = $2",
            "DELETE FROM manifest_refs WHERE repo_id = $1 AND manifest_digest = $2",
        ] {
            sqlx::query(sql)
                .bind(repo)
                .bind(digest)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn delete_tag(&self, repo: RepoId, tag: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tags WHERE repo_id = $1 AND name = $2")
            .bind(repo)
            .bind(tag)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Tags in lexical order after `last`, at most `n`.
    pub async fn tags(&self, repo: RepoId, last: Option<&str>, n: u64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM tags WHERE repo_id = $1 AND name > $2 ORDER BY name LIMIT $3",
        )
        .bind(repo)
        .bind(last.unwrap_or(""))
        .bind(to_i64(n))
        .fetch_all(&self.reader)
        .await?)
    }

    /// Repositories holding at least one manifest, in lexical order after `last`.
    pub async fn catalog(&self, last: Option<&str>, n: u64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT r.name FROM repositories r WHERE r.name > $1 \
             AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id) \
             ORDER BY r.name LIMIT $2",
        )
        .bind(last.unwrap_or(""))
        .bind(to_i64(n))
        .fetch_all(&self.reader)
        .await?)
    }

    pub async fn referrers(&self, repo: RepoId, subject: &str) -> Result<Vec<ReferrerRow>> {
        let rows: Vec<AnyRow> = sqlx::query(
            "SELECT digest, media_type, size, artifact_type, annotations FROM manifests \
             WHERE repo_id = $1 AND subject = $2 ORDER BY created_ms, digest",
        )
        .bind(repo)
        .bind(subject)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ReferrerRow {
                    digest: r.try_get(0)?,
                    media_type: r.try_get(1)?,
                    size: to_u64(r.try_get(2)?),
                    artifact_type: r.try_get(3)?,
                    annotations: r.try_get(4)?,
                })
            })
            .collect()
    }
}

async fn link(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    repo: RepoId,
    digest: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO repo_blobs (repo_id, digest, created_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (repo_id, digest) DO NOTHING",
    )
    .bind(repo)
    .bind(digest)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
