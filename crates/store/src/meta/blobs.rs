//! Blob rows, their links into repositories, and the row protocol that keeps publishing,
//! garbage collection and scrub from interleaving:
//! - publish: in one transaction, claim the row (`claim_blob`, refused while GC holds it),
//!   rename the bytes into place, link the repository;
//! - GC: in one transaction, lock the row, re-check it is unreferenced and past the grace
//!   window, mark it `deleting` and drop its links; then remove the bytes, then the row;
//! - scrub: in one transaction, lock the row, check nobody re-uploaded it since it was
//!   hashed, move the bytes aside, mark it `quarantined`.

use super::{Metadata, RepoId, Tx, to_i64, to_u64};
use crate::error::Result;

/// A stored blob as garbage collection and scrub see it.
#[derive(Debug, Clone)]
pub(crate) struct BlobRow {
    pub digest: String,
    pub size: u64,
    pub created_ms: i64,
}

const UNREFERENCED: &str =
    "NOT EXISTS (SELECT 1 FROM manifest_refs m WHERE m.child_digest = blobs.digest)";

impl Metadata {
    /// Size of `digest` if it is linked into the repository and servable.
    pub(crate) async fn repo_blob_size(&self, repo: RepoId, digest: &str) -> Result<Option<u64>> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repo_blobs r JOIN blobs b ON b.digest = r.digest \
             WHERE r.repo_id = $1 AND r.digest = $2 AND b.state = 'live'",
        )
        .bind(repo)
        .bind(digest)
        .fetch_optional(&self.reader)
        .await?;
        Ok(size.map(to_u64))
    }

    /// Inside a manifest push: the size of a referenced blob, locking its row against
    /// garbage collection until the push commits. Only the `blobs` row is locked, the row GC
    /// locks first too: one lock order, no deadlock.
    pub(super) async fn repo_blob_size_locked(
        &self,
        tx: &mut Tx,
        repo: RepoId,
        digest: &str,
    ) -> Result<Option<u64>> {
        let sql = format!(
            "SELECT b.size FROM repo_blobs r JOIN blobs b ON b.digest = r.digest \
             WHERE r.repo_id = $1 AND r.digest = $2 AND b.state = 'live'{}",
            self.lock(" FOR SHARE OF b")
        );
        let size: Option<i64> = sqlx::query_scalar(&sql)
            .bind(repo)
            .bind(digest)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(size.map(to_u64))
    }

    /// Size of a servable blob, in any repository.
    pub(crate) async fn blob_size(&self, digest: &str) -> Result<Option<u64>> {
        let size: Option<i64> =
            sqlx::query_scalar("SELECT size FROM blobs WHERE digest = $1 AND state = 'live'")
                .bind(digest)
                .fetch_optional(&self.reader)
                .await?;
        Ok(size.map(to_u64))
    }

    /// Claims the row of a blob about to be published: creates it, or revives a live or
    /// quarantined one, restarting its grace window. `false` while garbage collection is
    /// deleting it: the caller waits and tries again.
    /// `chunk_table` is the chunk table of the bytes being published (stored form).
    pub(crate) async fn claim_blob(
        &self,
        tx: &mut Tx,
        digest: &str,
        size: u64,
        chunk_table: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO blobs (digest, size, created_ms, state, crc32_1mib) \
             VALUES ($1, $2, $3, 'live', $4) \
             ON CONFLICT (digest) DO UPDATE SET size = $2, created_ms = $3, state = 'live', \
             crc32_1mib = $4 WHERE blobs.state <> 'deleting'",
        )
        .bind(digest)
        .bind(to_i64(size))
        .bind(self.now_ms())
        .bind(chunk_table)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Links a live blob into `repo` and restarts its grace window (a mount is followed by
    /// a manifest push just like an upload is). `false` if the blob is not live.
    pub(crate) async fn link_blob(&self, tx: &mut Tx, repo: RepoId, digest: &str) -> Result<bool> {
        let now = self.now_ms();
        let touched =
            sqlx::query("UPDATE blobs SET created_ms = $1 WHERE digest = $2 AND state = 'live'")
                .bind(now)
                .bind(digest)
                .execute(&mut **tx)
                .await?;
        if touched.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO repo_blobs (repo_id, digest, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (repo_id, digest) DO NOTHING",
        )
        .bind(repo)
        .bind(digest)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(true)
    }

    /// Removes the link of `digest` from `repo` unless a manifest of `repo` references it.
    /// The blob row is locked first (the lock order of garbage collection; a manifest push
    /// share-locks it too), so a push that references the blob either committed before the
    /// check sees it, or waits until the link is gone and fails as referencing an unknown
    /// blob.
    pub(crate) async fn unlink_blob(&self, repo: RepoId, digest: &str) -> Result<Removal> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT digest FROM blobs WHERE digest = $1{}",
            self.lock(" FOR UPDATE")
        );
        sqlx::query(&sql)
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await?;
        let referenced: Option<String> = sqlx::query_scalar(
            "SELECT manifest_digest FROM manifest_refs WHERE repo_id = $1 AND child_digest = $2 \
             ORDER BY manifest_digest LIMIT 1",
        )
        .bind(repo)
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(manifest) = referenced {
            return Ok(Removal::Referenced(manifest));
        }
        let done = sqlx::query("DELETE FROM repo_blobs WHERE repo_id = $1 AND digest = $2")
            .bind(repo)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(if done.rows_affected() > 0 {
            Removal::Done
        } else {
            Removal::Absent
        })
    }

    /// Holds garbage collection to one run at a time across replicas for as long as the
    /// returned transaction lives (PostgreSQL: a transaction-level advisory lock, released
    /// with the transaction even if the run is dropped half-way; SQLite: one process owns
    /// the database, and `Store::gc` serializes its own runs). Without it a second run took
    /// the rows the first had claimed for "interrupted", forgot them, a push published the
    /// blob again, and the first run then deleted the new bytes under a live row.
    pub(crate) async fn gc_exclusive(&self) -> Result<Option<Tx>> {
        if self.is_embedded() {
            return Ok(None);
        }
        let mut tx = self.writer.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(72617)")
            .execute(&mut *tx)
            .await?;
        Ok(Some(tx))
    }

    /// Live blobs no manifest references whose grace window ended before `cutoff_ms`.
    pub(crate) async fn gc_candidates(&self, cutoff_ms: i64) -> Result<Vec<BlobRow>> {
        let sql = format!(
            "SELECT digest, size, created_ms FROM blobs \
             WHERE state = 'live' AND created_ms < $1 AND {UNREFERENCED} ORDER BY digest"
        );
        self.blob_rows(sqlx::query(&sql).bind(cutoff_ms)).await
    }

    /// Rows a garbage collection claimed but did not finish (it was interrupted).
    pub(crate) async fn gc_unfinished(&self) -> Result<Vec<BlobRow>> {
        let sql = "SELECT digest, size, created_ms FROM blobs WHERE state = 'deleting'";
        self.blob_rows(sqlx::query(sql)).await
    }

    /// Claims a blob for deletion if it is still unreferenced and past `cutoff_ms`, and
    /// drops its repository links. `false`: a push got to it first; leave it.
    pub(crate) async fn gc_claim(&self, digest: &str, cutoff_ms: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        // Lock first, then decide in a later statement: under READ COMMITTED that statement
        // sees every push that committed while we waited for the lock.
        let lock = format!(
            "SELECT digest FROM blobs WHERE digest = $1{}",
            self.lock(" FOR UPDATE")
        );
        sqlx::query(&lock).bind(digest).execute(&mut *tx).await?;
        let claim = format!(
            "UPDATE blobs SET state = 'deleting' WHERE digest = $1 AND state = 'live' \
             AND created_ms < $2 AND {UNREFERENCED}"
        );
        let done = sqlx::query(&claim)
            .bind(digest)
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM repo_blobs WHERE digest = $1")
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes the row of a blob whose bytes garbage collection deleted.
    pub(crate) async fn gc_forget(&self, digest: &str) -> Result<()> {
        sqlx::query("DELETE FROM blobs WHERE digest = $1 AND state = 'deleting'")
            .bind(digest)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The live blob `digest`, as scrub sees it.
    pub(crate) async fn live_blob(&self, digest: &str) -> Result<Option<BlobRow>> {
        let sql = "SELECT digest, size, created_ms FROM blobs WHERE digest = $1 AND state = 'live'";
        Ok(self.blob_rows(sqlx::query(sql).bind(digest)).await?.pop())
    }

    /// Entries `first..first + count` of the chunk table of live blob `digest`, in stored
    /// form. `None`: no such live blob; `Some(None)`: it has no chunk table yet.
    pub(crate) async fn chunk_table(
        &self,
        digest: &str,
        first: u64,
        count: u64,
    ) -> Result<Option<Option<String>>> {
        use crate::integrity::ChunkTable;
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT substr(crc32_1mib, CAST($2 AS INTEGER), CAST($3 AS INTEGER)) FROM blobs \
             WHERE digest = $1 AND state = 'live'",
        )
        .bind(digest)
        .bind(to_i64(ChunkTable::text_position(first)))
        .bind(to_i64(ChunkTable::text_len(count)))
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|(t,)| t))
    }

    /// The whole chunk table of live blob `digest` (stored form), if it has one.
    pub(crate) async fn full_chunk_table(&self, digest: &str) -> Result<Option<String>> {
        let t: Option<Option<String>> =
            sqlx::query_scalar("SELECT crc32_1mib FROM blobs WHERE digest = $1 AND state = 'live'")
                .bind(digest)
                .fetch_optional(&self.reader)
                .await?;
        Ok(t.flatten())
    }

    /// Records the chunk table of live blob `digest` of `size` bytes, computed from bytes
    /// that matched its digest.
    pub(crate) async fn record_chunk_table(
        &self,
        digest: &str,
        size: u64,
        table: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE blobs SET crc32_1mib = $1 WHERE digest = $2 AND size = $3 AND state = 'live'",
        )
        .bind(table)
        .bind(digest)
        .bind(to_i64(size))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Live blobs in digest order after `after`, at most `n` (scrub pages through them).
    pub(crate) async fn live_blobs(&self, after: &str, n: u64) -> Result<Vec<BlobRow>> {
        let sql = "SELECT digest, size, created_ms FROM blobs \
                   WHERE state = 'live' AND digest > $1 ORDER BY digest LIMIT $2";
        self.blob_rows(sqlx::query(sql).bind(after).bind(to_i64(n)))
            .await
    }

    /// Inside a scrub transaction: locks the row and marks it quarantined if it is still the
    /// upload that was hashed (`created_ms` unchanged). `false`: it was re-uploaded meanwhile.
    pub(crate) async fn quarantine(&self, tx: &mut Tx, blob: &BlobRow) -> Result<bool> {
        let lock = format!(
            "SELECT digest FROM blobs WHERE digest = $1{}",
            self.lock(" FOR UPDATE")
        );
        sqlx::query(&lock)
            .bind(&blob.digest)
            .execute(&mut **tx)
            .await?;
        let done = sqlx::query(
            "UPDATE blobs SET state = 'quarantined' \
             WHERE digest = $1 AND state = 'live' AND created_ms = $2",
        )
        .bind(&blob.digest)
        .bind(blob.created_ms)
        .execute(&mut **tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn blob_rows<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<Vec<BlobRow>> {
        use sqlx::Row;
        let rows = q.fetch_all(&self.reader).await?;
        rows.into_iter()
            .map(|r| {
                Ok(BlobRow {
                    digest: r.try_get(0)?,
                    size: to_u64(r.try_get(1)?),
                    created_ms: r.try_get(2)?,
                })
            })
            .collect()
    }
}

/// What removing a blob's link or a manifest from a repository did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Removal {
    Done,
    Absent,
    /// A manifest of the repository (this digest) references it: it stays.
    Referenced(String),
}
