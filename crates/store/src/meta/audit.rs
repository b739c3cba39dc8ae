//! The audit trail's rows: appending under the head lock, paging in order, the head. The
//! chain's rules (hashing, verification) are in `audit.rs`.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::audit::{AuditEntry, AuditFilter, AuditRecord, record_hash};
use crate::error::Result;

fn record(r: AnyRow) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.try_get(0)?,
        at_ms: r.try_get(1)?,
        entry: AuditEntry {
            actor: r.try_get(2)?,
            source: r.try_get(3)?,
            action: r.try_get(4)?,
            target: r.try_get(5)?,
            outcome: r.try_get(6)?,
            detail: r.try_get(7)?,
        },
        prev_hash: r.try_get(8)?,
        hash: r.try_get(9)?,
    })
}

impl Store {
    /// Appends records to the chain in order, in one transaction (a group commit: one
    /// head lock and one commit for many concurrent requests), and returns the sequence
    /// number of the last. An empty batch changes nothing.
    pub async fn audit_batch(&self, entries: &[AuditEntry]) -> Result<i64> {
        let mut tx = self.meta.begin().await?;
        let lock = format!(
            "SELECT seq, hash FROM audit_head WHERE id = 1{}",
            self.meta.lock_suffix(" FOR UPDATE")
        );
        let head = sqlx::query(&lock).fetch_one(&mut *tx).await?;
        let (mut seq, mut prev): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
        if entries.is_empty() {
            return Ok(seq);
        }
        let at_ms = self.now_ms();
        for entry in entries {
            seq += 1;
            let hash = record_hash(&prev, at_ms, entry);
            sqlx::query(
                "INSERT INTO audit_log (seq, at_ms, actor, source, action, target, outcome, \
                 detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(seq)
            .bind(at_ms)
            .bind(&entry.actor)
            .bind(&entry.source)
            .bind(&entry.action)
            .bind(&entry.target)
            .bind(&entry.outcome)
            .bind(&entry.detail)
            .bind(&prev)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
            prev = hash;
        }
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(&prev)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Records with `seq > after`, at most `limit`, in order.
    pub async fn audit_records(&self, after: i64, limit: u64) -> Result<Vec<AuditRecord>> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, source, action, target, outcome, detail, prev_hash, hash \
             FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.meta.reader())
        .await?;
        rows.into_iter().map(record).collect()
    }

    /// One page of the trail, newest first, for reading it (the console's audit page):
    /// records with `seq < before` that pass every filter `f` sets, at most `limit`.
    /// Each filter is skipped when empty; `actor`, `action` and `outcome` match exactly
    /// (`action` also as a prefix ending in `.`, so `member` finds `member.set`), `target`
    /// as a substring ignoring ASCII case, and the time range is `[from_ms, to_ms)`.
    pub async fn audit_page(
        &self,
        f: &AuditFilter,
        before: i64,
        limit: u64,
    ) -> Result<Vec<AuditRecord>> {
        // LIKE with `\` escaping its own wildcards, on lower-cased text: the same answer on
        // SQLite (case-insensitive LIKE) and PostgreSQL (case-sensitive LIKE).
        let needle = f
            .target
            .to_ascii_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, source, action, target, outcome, detail, prev_hash, hash \
             FROM audit_log WHERE seq < $1 \
             AND ($2 = '' OR actor = $2) \
             AND ($3 = '' OR action = $3 OR substr(action, 1, length($3) + 1) = $3 || '.') \
             AND ($4 = '' OR lower(target) LIKE '%' || $4 || '%' ESCAPE '\\') \
             AND ($5 = '' OR outcome = $5) \
             AND at_ms >= $6 AND at_ms < $7 \
             ORDER BY seq DESC LIMIT $8",
        )
        .bind(before)
        .bind(&f.actor)
        .bind(&f.action)
        .bind(&needle)
        .bind(&f.outcome)
        .bind(f.from_ms)
        .bind(f.to_ms)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.meta.reader())
        .await?;
        rows.into_iter().map(record).collect()
    }

    /// The chain head: last sequence number and hash (anchor it elsewhere to detect a
    /// rewrite of the whole chain).
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        let r = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(self.meta.reader())
            .await?;
        Ok((r.try_get(0)?, r.try_get(1)?))
    }
}
