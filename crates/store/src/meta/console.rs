//! What the web console reads and keeps beyond the registry's own records: its sessions
//! (migration v9; only a hash of each token is stored, and the registry decides expiry) and
//! the bounded, keyset-paged listings its pages show (a project's repositories, a
//! repository's tags with the artifact each names).

use sqlx::Row;

use crate::Store;
use crate::error::Result;
use crate::meta::to_u64;

/// A console session as stored: whose it is and its times (the registry's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub account: String,
    pub created_ms: i64,
    /// The last request that used it (updated at most once a minute).
    pub seen_ms: i64,
}

/// One tag of a repository with the manifest it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub tag: String,
    pub digest: String,
    pub media_type: String,
    /// The manifest's own size in bytes.
    pub size: u64,
    /// The manifest and the blobs it references (an image's config and layers; an index
    /// references manifests, not blobs, so its platforms are not counted).
    pub total_size: u64,
    /// When the manifest was pushed.
    pub pushed_ms: i64,
}

/// The order of a tag page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOrder {
    /// By tag name, ascending.
    Name,
    /// Newest push first, then by tag name.
    Newest,
}

/// Where the next tag page starts: after this row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCursor {
    pub tag: String,
    pub pushed_ms: i64,
}

impl Store {
    /// Records a new session of `account` and drops its oldest sessions beyond `keep`.
    pub async fn create_console_session(
        &self,
        token_hash: &str,
        account: &str,
        now_ms: i64,
        keep: u32,
    ) -> Result<()> {
        let mut tx = self.meta.begin().await?;
        sqlx::query(
            "INSERT INTO console_sessions (token_hash, account, created_ms, seen_ms) \
             VALUES ($1, $2, $3, $3)",
        )
        .bind(token_hash)
        .bind(account)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM console_sessions WHERE account = $1 AND token_hash NOT IN \
             (SELECT token_hash FROM console_sessions WHERE account = $1 \
              ORDER BY created_ms DESC, token_hash DESC LIMIT $2)",
        )
        .bind(account)
        .bind(i64::from(keep.max(1)))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session whose token hashes to `token_hash`, if it exists.
    pub async fn console_session(&self, token_hash: &str) -> Result<Option<ConsoleSession>> {
        let row = sqlx::query(
            "SELECT account, created_ms, seen_ms FROM console_sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.meta.reader())
        .await?;
        row.map(|r| {
            Ok(ConsoleSession {
                account: r.try_get(0)?,
                created_ms: r.try_get(1)?,
                seen_ms: r.try_get(2)?,
            })
        })
        .transpose()
    }

    /// Marks the session used at `now_ms`.
    pub async fn touch_console_session(&self, token_hash: &str, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE console_sessions SET seen_ms = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(now_ms)
            .execute(self.meta.writer())
            .await?;
        Ok(())
    }

    /// Ends a session; `false` if there was none.
    pub async fn delete_console_session(&self, token_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.meta.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// At most `n` repositories of `project` (`project` itself and `project/...`) whose
    /// names start with `prefix`, by name, after `after`.
    pub async fn repository_page(
        &self,
        project: &str,
        prefix: &str,
        after: Option<&str>,
        n: u64,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM repositories WHERE (name = $1 \
             OR substr(name, 1, length($1) + 1) = $1 || '/') \
             AND substr(name, 1, length($2)) = $2 AND name > $3 ORDER BY name LIMIT $4",
        )
        .bind(project)
        .bind(prefix)
        .bind(after.unwrap_or(""))
        .bind(crate::meta::to_i64(n))
        .fetch_all(self.meta.reader())
        .await?)
    }

    /// At most `n` tags of `repo` starting with `prefix`, in `order`, after `after`;
    /// `None` when there is no such repository.
    pub async fn tag_page(
        &self,
        repo: &str,
        prefix: &str,
        order: TagOrder,
        after: Option<&TagCursor>,
        n: u64,
    ) -> Result<Option<Vec<TagRow>>> {
        let Some(id) = self.meta.repo_id(repo).await? else {
            return Ok(None);
        };
        // Every query binds the same five values in order (SQLite numbers them as they
        // appear): no cursor is a cursor before the first row.
        let (keyset, order_by) = match order {
            TagOrder::Name => ("t.name > $3 AND m.created_ms <= $4", "t.name"),
            TagOrder::Newest => (
                "(m.created_ms < $4 OR (m.created_ms = $4 AND t.name > $3))",
                "m.created_ms DESC, t.name",
            ),
        };
        let (tag, pushed) = match after {
            Some(c) if order == TagOrder::Newest => (c.tag.as_str(), c.pushed_ms),
            Some(c) => (c.tag.as_str(), i64::MAX),
            None => ("", i64::MAX),
        };
        let sql = format!(
            "SELECT t.name, t.digest, m.media_type, m.size, m.created_ms, \
             CAST(m.size + COALESCE((SELECT SUM(b.size) FROM manifest_refs r \
              JOIN blobs b ON b.digest = r.child_digest \
              WHERE r.repo_id = t.repo_id AND r.manifest_digest = t.digest), 0) AS BIGINT) \
             FROM tags t \
             JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest \
             WHERE t.repo_id = $1 AND substr(t.name, 1, length($2)) = $2 AND {keyset} \
             ORDER BY {order_by} LIMIT $5"
        );
        let q = sqlx::query(&sql)
            .bind(id)
            .bind(prefix)
            .bind(tag)
            .bind(pushed)
            .bind(crate::meta::to_i64(n));
        let rows = q.fetch_all(self.meta.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok(TagRow {
                    tag: r.try_get(0)?,
                    digest: r.try_get(1)?,
                    media_type: r.try_get(2)?,
                    size: to_u64(r.try_get(3)?),
                    pushed_ms: r.try_get(4)?,
                    total_size: to_u64(r.try_get(5)?),
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}
