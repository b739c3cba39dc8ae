//! Upload session rows.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{to_i64, to_u64, Metadata, RepoId, UploadRow};
use crate::error::Result;
use crate::now_ms;

impl Metadata {
    /// Inside the publishing transaction: the session is complete.
    pub async fn end_upload(&self, tx: &mut super::Tx, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        Ok(())
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
            sqlx::query("SELECT repo_id, received, backend_state FROM uploads WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.writer)
                .await?;
        row.map(|r| {
            Ok(UploadRow {
                repo_id: r.try_get(0)?,
                received: to_u64(r.try_get(1)?),
                parts: r.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
            })
        })
        .transpose()
    }

    /// Records an append: the session grew from `from` to `to` bytes and the backend's
    /// record of the staged bytes is now `parts`. A compare-and-set on the offset: `false`
    /// when another request (perhaps on another replica) appended first.
    pub async fn record_append(&self, id: &str, from: u64, to: u64, parts: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE uploads SET received = $1, backend_state = $2, updated_ms = $3 \
             WHERE id = $4 AND received = $5",
        )
        .bind(to_i64(to))
        .bind(parts)
        .bind(now_ms())
        .bind(id)
        .bind(to_i64(from))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Open upload sessions of a repository.
    pub async fn upload_count(&self, repo: RepoId) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE repo_id = $1")
            .bind(repo)
            .fetch_one(&self.writer)
            .await?;
        Ok(to_u64(n))
    }

    /// Bytes staged by the open uploads of the repositories in `scope` (a project).
    pub async fn staged_bytes(&self, scope: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(u.received), 0) AS BIGINT) FROM uploads u \
             JOIN repositories r ON r.id = u.repo_id \
             WHERE r.name = $1 OR substr(r.name, 1, length($1) + 1) = $1 || '/'",
        )
        .bind(scope)
        .fetch_one(&self.writer)
        .await?;
        Ok(to_u64(n))
    }

    /// Bytes of the distinct live blobs linked into the repositories in `scope`, referenced
    /// by a manifest or not (yet).
    pub async fn linked_bytes(&self, scope: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b \
             WHERE b.state = 'live' AND b.digest IN (SELECT rb.digest FROM repo_blobs rb \
                 JOIN repositories r ON r.id = rb.repo_id \
                 WHERE r.name = $1 OR substr(r.name, 1, length($1) + 1) = $1 || '/')",
        )
        .bind(scope)
        .fetch_one(&self.writer)
        .await?;
        Ok(to_u64(n))
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
}
