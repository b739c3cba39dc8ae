//! Manifests, tags, listings and referrers.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{to_i64, to_u64, ManifestRow, Metadata, NewManifest, ReferrerRow, RepoId};
use crate::error::{Result, StoreError};

fn unknown_reference(digest: &str) -> StoreError {
    match digest.parse() {
        Ok(d) => StoreError::ManifestBlobUnknown(d),
        Err(_) => StoreError::ManifestInvalid(format!("invalid reference {digest}")),
    }
}
use crate::now_ms;

impl Metadata {
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

    /// Stores a manifest, its references and tags in one transaction, after checking inside
    /// it that every referenced blob and child manifest is present (and locking the blob
    /// rows against garbage collection until the commit).
    pub async fn put_manifest(&self, m: NewManifest<'_>) -> Result<()> {
        let now = now_ms();
        let mut tx = self.writer.begin().await?;
        for (digest, declared) in &m.blobs {
            match self
                .repo_blob_size_locked(&mut tx, m.repo_id, digest)
                .await?
            {
                None => return Err(unknown_reference(digest)),
                Some(size) if size != *declared => {
                    return Err(StoreError::ManifestInvalid(format!(
                        "descriptor of {digest} says {declared} bytes, the blob has {size}"
                    )))
                }
                Some(_) => {}
            }
        }
        for digest in &m.manifests {
            let found: Option<String> = sqlx::query_scalar(
                "SELECT digest FROM manifests WHERE repo_id = $1 AND digest = $2",
            )
            .bind(m.repo_id)
            .bind(*digest)
            .fetch_optional(&mut *tx)
            .await?;
            if found.is_none() {
                return Err(unknown_reference(digest));
            }
        }
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
