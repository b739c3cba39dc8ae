//! Upload session rows.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Metadata, RepoId, UploadRow, to_i64, to_u64};
use crate::error::Result;

impl Metadata {
    /// Inside the publishing transaction: the session is complete.
    pub(crate) async fn end_upload(&self, tx: &mut super::Tx, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub(crate) async fn create_upload(&self, id: &str, repo: RepoId) -> Result<()> {
        let now = self.now_ms();
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

    pub(crate) async fn upload(&self, id: &str) -> Result<Option<UploadRow>> {
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
    pub(crate) async fn record_append(
        &self,
        id: &str,
        from: u64,
        to: u64,
        parts: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE uploads SET received = $1, backend_state = $2, updated_ms = $3 \
             WHERE id = $4 AND received = $5",
        )
        .bind(to_i64(to))
        .bind(parts)
        .bind(self.now_ms())
        .bind(id)
        .bind(to_i64(from))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Reserves room for upload `id` to reach `want` bytes in all under a byte limit of
    /// `max` for the repositories in `scope`, counting the scope's manifests, its linked
    /// blobs and what its other uploads staged or reserved. Serialized per project (its row
    /// is locked; the embedded database has one writer), so two uploads never both take the
    /// same room. Returns the size the upload may reach (never less than it staged).
    pub(crate) async fn reserve_upload(
        &self,
        scope: &str,
        id: &str,
        want: u64,
        max: u64,
    ) -> Result<u64> {
        const IN_SCOPE: &str = "(r.name = $1 OR substr(r.name, 1, length($1) + 1) = $1 || '/')";
        let mut tx = self.begin().await?;
        let lock = format!(
            "SELECT name FROM projects WHERE name = $1{}",
            self.lock(" FOR UPDATE")
        );
        sqlx::query(&lock)
            .bind(scope)
            .fetch_optional(&mut *tx)
            .await?;
        // One statement, so one snapshot: as separate statements under PostgreSQL's READ
        // COMMITTED, an upload that published in between (its bytes moving from `uploads` to
        // `repo_blobs` in one commit) was counted in neither sum, and concurrent uploads
        // shared its room (seen as three 400-byte uploads under a 1000-byte quota).
        let (manifests, linked, others, received): (i64, i64, i64, i64) = sqlx::query_as(&format!(
            "SELECT \
                 (SELECT CAST(COALESCE(SUM(m.size), 0) AS BIGINT) FROM manifests m \
                  JOIN repositories r ON r.id = m.repo_id WHERE {IN_SCOPE}), \
                 (SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blobs b \
                  WHERE b.state = 'live' AND b.digest IN (SELECT rb.digest FROM repo_blobs rb \
                  JOIN repositories r ON r.id = rb.repo_id WHERE {IN_SCOPE})), \
                 (SELECT CAST(COALESCE(SUM(CASE WHEN u.reserved > u.received THEN u.reserved \
                  ELSE u.received END), 0) AS BIGINT) \
                  FROM uploads u JOIN repositories r ON r.id = u.repo_id \
                  WHERE {IN_SCOPE} AND u.id <> $2), \
                 (SELECT CAST(COALESCE(MAX(received), 0) AS BIGINT) FROM uploads WHERE id = $2)"
        ))
        .bind(scope)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let taken = to_u64(manifests)
            .saturating_add(to_u64(linked))
            .saturating_add(to_u64(others));
        let granted = want.min(max.saturating_sub(taken)).max(to_u64(received));
        sqlx::query("UPDATE uploads SET reserved = $1 WHERE id = $2")
            .bind(to_i64(granted))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(granted)
    }

    /// Gives back what an upload reserved (its request ended).
    pub(crate) async fn release_upload(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE uploads SET reserved = 0 WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Open upload sessions of the repositories in `scope` (a project).
    pub(crate) async fn upload_count(&self, scope: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM uploads u JOIN repositories r ON r.id = u.repo_id \
             WHERE r.name = $1 OR substr(r.name, 1, length($1) + 1) = $1 || '/'",
        )
        .bind(scope)
        .fetch_one(&self.writer)
        .await?;
        Ok(to_u64(n))
    }

    /// Repositories in `scope` (a project), counted up to `cap`.
    pub(crate) async fn repository_count(&self, scope: &str, cap: u64) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM repositories r \
             WHERE r.name = $1 OR substr(r.name, 1, length($1) + 1) = $1 || '/' LIMIT $2) x",
        )
        .bind(scope)
        .bind(to_i64(cap))
        .fetch_one(&self.writer)
        .await?;
        Ok(to_u64(n))
    }

    /// Bytes staged (or reserved) by the open uploads of the repositories in `scope`.
    pub(crate) async fn staged_bytes(&self, scope: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(CASE WHEN u.reserved > u.received THEN u.reserved \
                 ELSE u.received END), 0) AS BIGINT) FROM uploads u \
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
    pub(crate) async fn linked_bytes(&self, scope: &str) -> Result<u64> {
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

    pub(crate) async fn delete_upload(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ids of upload sessions untouched since `before_ms`, or of all sessions with `None`.
    pub(crate) async fn uploads_idle_since(&self, before_ms: Option<i64>) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM uploads WHERE updated_ms < $1")
                .bind(before_ms.unwrap_or(i64::MAX))
                .fetch_all(&self.writer)
                .await?,
        )
    }
}
