//! Manifests, tags, listings and referrers.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{ManifestRow, Metadata, NewManifest, ReferrerRow, RepoId, to_i64, to_u64};
use crate::error::{Result, StoreError};

fn unknown_reference(digest: &str) -> StoreError {
    match digest.parse() {
        Ok(d) => StoreError::ManifestBlobUnknown(d),
        Err(_) => StoreError::ManifestInvalid(format!("invalid reference {digest}")),
    }
}

/// Most projects one restricted catalog query names.
pub(crate) const MAX_CATALOG_PROJECTS: usize = 1000;

impl Metadata {
    pub(crate) async fn manifest(&self, repo: RepoId, digest: &str) -> Result<Option<ManifestRow>> {
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
    /// rows against garbage collection until the commit). A re-push of a stored manifest
    /// locks and refreshes its row: it counts as pushed now for the untagged grace window,
    /// and a concurrent garbage collection waits and then sees the new tags.
    pub(crate) async fn put_manifest(&self, m: NewManifest<'_>) -> Result<()> {
        let now = self.now_ms();
        let mut tx = self.writer.begin().await?;
        if let Some(q) = m.quota {
            // Pushes into one project queue here, so each sees the others' usage.
            let lock = format!(
                "SELECT name FROM projects WHERE name = $1{}",
                self.lock(" FOR UPDATE")
            );
            sqlx::query(&lock)
                .bind(&q.project)
                .execute(&mut *tx)
                .await?;
        }
        for (digest, declared) in &m.blobs {
            match self
                .repo_blob_size_locked(&mut tx, m.repo_id, digest)
                .await?
            {
                None => return Err(unknown_reference(digest)),
                Some(size) if size != *declared => {
                    return Err(StoreError::ManifestInvalid(format!(
                        "descriptor of {digest} says {declared} bytes, the blob has {size}"
                    )));
                }
                Some(_) => {}
            }
        }
        // Child manifests are share-locked until the commit, so that garbage collection of
        // untagged manifests (which locks before it re-checks) cannot remove one meanwhile.
        let child = format!(
            "SELECT digest FROM manifests WHERE repo_id = $1 AND digest = $2{}",
            self.lock(" FOR SHARE")
        );
        for digest in &m.manifests {
            let found: Option<String> = sqlx::query_scalar(&child)
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
             ON CONFLICT (repo_id, digest) DO UPDATE SET created_ms = $9",
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
            let immutable = m.immutable_tags.contains(tag);
            // An immutable tag may be created or re-pushed unchanged; moving it updates
            // nothing, which is detected below without a race.
            let sql = if immutable {
                "INSERT INTO tags (repo_id, name, digest, updated_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (repo_id, name) DO UPDATE SET updated_ms = $4 \
                 WHERE tags.digest = $3"
            } else {
                "INSERT INTO tags (repo_id, name, digest, updated_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (repo_id, name) DO UPDATE SET digest = $3, updated_ms = $4"
            };
            let done = sqlx::query(sql)
                .bind(m.repo_id)
                .bind(*tag)
                .bind(m.digest)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if immutable && done.rows_affected() == 0 {
                return Err(StoreError::Denied(format!(
                    "tag {tag} is immutable and points at another manifest"
                )));
            }
        }
        if m.scan {
            self.queue_scan(&mut tx, m.repo_id, m.digest).await?;
        }
        if let Some(q) = m.quota {
            let (blob_bytes, _, manifest_bytes, manifests) =
                self.usage_in(&mut tx, &q.project).await?;
            let bytes = blob_bytes + manifest_bytes;
            if q.max_bytes.is_some_and(|max| bytes > max) {
                return Err(StoreError::Denied(format!(
                    "quota of project {} exceeded: this push would use {bytes} bytes of {}",
                    q.project,
                    q.max_bytes.unwrap_or_default()
                )));
            }
            if q.max_artifacts.is_some_and(|max| manifests > max) {
                return Err(StoreError::Denied(format!(
                    "quota of project {} exceeded: this push would make {manifests} artifacts of {}",
                    q.project,
                    q.max_artifacts.unwrap_or_default()
                )));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn tag(&self, repo: RepoId, tag: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT digest FROM tags WHERE repo_id = $1 AND name = $2")
                .bind(repo)
                .bind(tag)
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    /// Deletes a manifest and every tag pointing at it.
    /// Deletes a manifest unless an index of the repository lists it (the index would
    /// dangle). The row is locked first, as a push of an index share-locks its children, so
    /// an index committed before the check is seen and one pushed after it fails as
    /// referencing an unknown manifest.
    pub(crate) async fn delete_manifest(
        &self,
        repo: RepoId,
        digest: &str,
    ) -> Result<super::Removal> {
        let mut tx = self.writer.begin().await?;
        let sql = format!(
            "SELECT digest FROM manifests WHERE repo_id = $1 AND digest = $2{}",
            self.lock(" FOR UPDATE")
        );
        let exists: Option<String> = sqlx::query_scalar(&sql)
            .bind(repo)
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(super::Removal::Absent);
        }
        let parent: Option<String> = sqlx::query_scalar(
            "SELECT manifest_digest FROM manifest_refs WHERE repo_id = $1 AND child_digest = $2 \
             ORDER BY manifest_digest LIMIT 1",
        )
        .bind(repo)
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(parent) = parent {
            return Ok(super::Removal::Referenced(parent));
        }
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
        self.forget_scan(&mut tx, repo, digest).await?;
        tx.commit().await?;
        Ok(if done.rows_affected() > 0 {
            super::Removal::Done
        } else {
            super::Removal::Absent
        })
    }

    pub(crate) async fn tags_of(&self, repo: RepoId, digest: &str, n: u64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM tags WHERE repo_id = $1 AND digest = $2 ORDER BY name LIMIT $3",
        )
        .bind(repo)
        .bind(digest)
        .bind(super::to_i64(n))
        .fetch_all(&self.reader)
        .await?)
    }

    pub(crate) async fn delete_tag(&self, repo: RepoId, tag: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tags WHERE repo_id = $1 AND name = $2")
            .bind(repo)
            .bind(tag)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Tags in lexical order after `last`, at most `n`.
    pub(crate) async fn tags(
        &self,
        repo: RepoId,
        last: Option<&str>,
        n: u64,
    ) -> Result<Vec<String>> {
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
    pub(crate) async fn catalog(&self, last: Option<&str>, n: u64) -> Result<Vec<String>> {
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

    /// The catalog restricted to the repositories of `projects` (at most
    /// [`MAX_CATALOG_PROJECTS`]), so that a caller who sees few projects costs what they
    /// see, not every repository.
    pub(crate) async fn catalog_in(
        &self,
        projects: &[String],
        last: Option<&str>,
        n: u64,
    ) -> Result<Vec<String>> {
        if projects.is_empty() {
            return Ok(Vec::new());
        }
        let scopes: Vec<String> = (0..projects.len())
            .map(|i| {
                let k = i + 3;
                format!("r.name = ${k} OR substr(r.name, 1, length(${k}) + 1) = ${k} || '/'")
            })
            .collect();
        let sql = format!(
            "SELECT r.name FROM repositories r WHERE r.name > $1 AND ({}) \
             AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id) \
             ORDER BY r.name LIMIT $2",
            scopes.join(" OR ")
        );
        let mut q = sqlx::query_scalar(&sql)
            .bind(last.unwrap_or("").to_owned())
            .bind(to_i64(n));
        for p in projects.iter().take(MAX_CATALOG_PROJECTS) {
            q = q.bind(p.clone());
        }
        Ok(q.fetch_all(&self.reader).await?)
    }

    /// Indexes (OCI image indexes, Docker manifest lists) in `repo` that reference `child`,
    /// newest first, at most `limit`. Only indexes: `manifest_refs` also records configs
    /// and layers, and a manifest whose config or layer happens to have the bytes of another
    /// manifest is not that manifest's parent (the gate lets a child through on a parent's
    /// signature). Callers that trust the answer still check that the child is listed in
    /// the parent's `manifests`, which this query cannot see.
    pub(crate) async fn parents(
        &self,
        repo: RepoId,
        child: &str,
        limit: i64,
    ) -> Result<Vec<ReferrerRow>> {
        let rows: Vec<AnyRow> = sqlx::query(
            "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations \
             FROM manifest_refs r JOIN manifests m \
               ON m.repo_id = r.repo_id AND m.digest = r.manifest_digest \
             WHERE r.repo_id = $1 AND r.child_digest = $2 AND m.media_type IN ($4, $5) \
             ORDER BY m.created_ms DESC, m.digest LIMIT $3",
        )
        .bind(repo)
        .bind(child)
        .bind(limit)
        .bind(zoll_oci::media_types::OCI_INDEX)
        .bind(zoll_oci::media_types::DOCKER_MANIFEST_LIST)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(referrer_row).collect()
    }

    /// Referrers of `subject` in digest order after `after`, at most `limit`, optionally only
    /// of one artifact type; without `annotations` that column is not read (the gate never
    /// needs it, and a referrer's annotations can be large).
    pub(crate) async fn referrers(
        &self,
        repo: RepoId,
        subject: &str,
        page: &ReferrerPage<'_>,
    ) -> Result<Vec<ReferrerRow>> {
        let annotations = if page.annotations {
            "annotations"
        } else {
            "NULL"
        };
        let sql = format!(
            "SELECT digest, media_type, size, artifact_type, {annotations} FROM manifests \
             WHERE repo_id = $1 AND subject = $2 AND digest > $3 \
             AND ($4 = '' OR artifact_type = $4) ORDER BY digest LIMIT $5"
        );
        let rows: Vec<AnyRow> = sqlx::query(&sql)
            .bind(repo)
            .bind(subject)
            .bind(page.after.unwrap_or("").to_owned())
            .bind(page.artifact_type.unwrap_or("").to_owned())
            .bind(to_i64(page.limit))
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter().map(referrer_row).collect()
    }
}

/// Which referrers to read (see [`Metadata::referrers`]).
#[derive(Debug, Clone, Default)]
pub struct ReferrerPage<'a> {
    pub artifact_type: Option<&'a str>,
    pub after: Option<&'a str>,
    pub limit: u64,
    pub annotations: bool,
}

/// A row of `digest, media_type, size, artifact_type, annotations`.
fn referrer_row(r: AnyRow) -> Result<ReferrerRow> {
    Ok(ReferrerRow {
        digest: r.try_get(0)?,
        media_type: r.try_get(1)?,
        size: to_u64(r.try_get(2)?),
        artifact_type: r.try_get(3)?,
        annotations: r.try_get(4)?,
    })
}

/// An untagged manifest nothing needs: no tag, no index in its repository lists it, and it
/// is not a referrer of a manifest still present there (a signature outlives neither).
const MANIFEST_UNUSED: &str = "\
    NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id AND t.digest = m.digest) \
    AND NOT EXISTS (SELECT 1 FROM manifest_refs r \
        WHERE r.repo_id = m.repo_id AND r.child_digest = m.digest) \
    AND (m.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s \
        WHERE s.repo_id = m.repo_id AND s.digest = m.subject))";

/// One untagged manifest garbage collection may remove.
#[derive(Debug, Clone)]
pub(crate) struct UntaggedRow {
    pub repo_id: RepoId,
    pub repo: String,
    pub digest: String,
    pub size: u64,
}

impl Metadata {
    /// Unused untagged manifests pushed before `cutoff_ms`.
    pub(crate) async fn untagged_candidates(&self, cutoff_ms: i64) -> Result<Vec<UntaggedRow>> {
        let sql = format!(
            "SELECT m.repo_id, r.name, m.digest, m.size FROM manifests m \
             JOIN repositories r ON r.id = m.repo_id \
             WHERE m.created_ms < $1 AND {MANIFEST_UNUSED} ORDER BY r.name, m.digest"
        );
        let rows: Vec<AnyRow> = sqlx::query(&sql)
            .bind(cutoff_ms)
            .fetch_all(&self.reader)
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(UntaggedRow {
                    repo_id: r.try_get(0)?,
                    repo: r.try_get(1)?,
                    digest: r.try_get(2)?,
                    size: to_u64(r.try_get(3)?),
                })
            })
            .collect()
    }

    /// Deletes an untagged manifest if, once locked, it is still unused and old enough.
    /// `false`: a push tagged, listed or re-pushed it meanwhile.
    pub(crate) async fn gc_untagged(
        &self,
        repo: RepoId,
        digest: &str,
        cutoff_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let lock = format!(
            "SELECT digest FROM manifests WHERE repo_id = $1 AND digest = $2{}",
            self.lock(" FOR UPDATE")
        );
        sqlx::query(&lock)
            .bind(repo)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        let delete = format!(
            "DELETE FROM manifests AS m WHERE m.repo_id = $1 AND m.digest = $2 \
             AND m.created_ms < $3 AND {MANIFEST_UNUSED}"
        );
        let done = sqlx::query(&delete)
            .bind(repo)
            .bind(digest)
            .bind(cutoff_ms)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM manifest_refs WHERE repo_id = $1 AND manifest_digest = $2")
            .bind(repo)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        self.forget_scan(&mut tx, repo, digest).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Storage of the repositories `scope` names (`team` = `team` and `team/...`), derived
    /// from what manifests reference: distinct blobs counted once, plus the manifests.
    pub(crate) async fn usage(&self, scope: &str) -> Result<(u64, u64, u64, u64)> {
        let mut conn = self.reader.acquire().await?;
        self.usage_in(&mut conn, scope).await
    }

    /// `usage` on a given connection (inside a push transaction: including its writes).
    pub(crate) async fn usage_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        scope: &str,
    ) -> Result<(u64, u64, u64, u64)> {
        const IN_SCOPE: &str = "(r.name = $1 OR substr(r.name, 1, length($1) + 1) = $1 || '/')";
        let blobs: AnyRow = sqlx::query(&format!(
            "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT), COUNT(*) FROM blobs b WHERE b.state = 'live' \
             AND b.digest IN (SELECT mr.child_digest FROM manifest_refs mr \
                 JOIN repositories r ON r.id = mr.repo_id WHERE {IN_SCOPE})"
        ))
        .bind(scope)
        .fetch_one(&mut *conn)
        .await?;
        let manifests: AnyRow = sqlx::query(&format!(
            "SELECT CAST(COALESCE(SUM(m.size), 0) AS BIGINT), COUNT(*) FROM manifests m \
             JOIN repositories r ON r.id = m.repo_id WHERE {IN_SCOPE}"
        ))
        .bind(scope)
        .fetch_one(&mut *conn)
        .await?;
        Ok((
            to_u64(blobs.try_get(0)?),
            to_u64(blobs.try_get(1)?),
            to_u64(manifests.try_get(0)?),
            to_u64(manifests.try_get(1)?),
        ))
    }
}
