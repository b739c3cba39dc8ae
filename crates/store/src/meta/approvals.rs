//! Rows of quorum-approval requests and their votes.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Metadata;
use crate::approvals::{ApprovalRow, ApprovalVote};
use crate::error::Result;

const COLUMNS: &str = "id, key_name, repository, reference, digest, canonical, requester, \
    state, outcome, version, created_ms, not_before_ms, expires_ms, updated_ms";

fn row(r: AnyRow) -> Result<ApprovalRow> {
    Ok(ApprovalRow {
        id: r.try_get(0)?,
        key_name: r.try_get(1)?,
        repository: r.try_get(2)?,
        reference: r.try_get(3)?,
        digest: r.try_get(4)?,
        canonical: r.try_get(5)?,
        requester: r.try_get(6)?,
        state: r.try_get(7)?,
        outcome: r.try_get(8)?,
        version: r.try_get(9)?,
        created_ms: r.try_get(10)?,
        not_before_ms: r.try_get(11)?,
        expires_ms: r.try_get(12)?,
        updated_ms: r.try_get(13)?,
    })
}

impl Metadata {
    pub(crate) async fn approval_insert(&self, a: &ApprovalRow) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO approval_requests ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&a.id)
        .bind(&a.key_name)
        .bind(&a.repository)
        .bind(&a.reference)
        .bind(&a.digest)
        .bind(&a.canonical)
        .bind(&a.requester)
        .bind(&a.state)
        .bind(&a.outcome)
        .bind(a.version)
        .bind(a.created_ms)
        .bind(a.not_before_ms)
        .bind(a.expires_ms)
        .bind(a.updated_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub(crate) async fn approval(&self, id: &str) -> Result<Option<ApprovalRow>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM approval_requests WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.writer)
        .await?
        .map(row)
        .transpose()
    }

    pub(crate) async fn approvals(&self, states: &[&str], limit: i64) -> Result<Vec<ApprovalRow>> {
        // States are a short fixed vocabulary: one query per state keeps the SQL portable.
        let mut out = Vec::new();
        for state in states {
            let rows: Vec<AnyRow> = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM approval_requests WHERE state = $1 \
                 ORDER BY created_ms DESC, id LIMIT $2"
            ))
            .bind(*state)
            .bind(limit)
            .fetch_all(&self.writer)
            .await?;
            for r in rows {
                out.push(row(r)?);
            }
        }
        out.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(a.id.cmp(&b.id)));
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }

    /// Requests in any of `states` created after `after` (`(created_ms, id)`), oldest
    /// first, at most `limit`: every open request is reached, page by page.
    pub(crate) async fn approvals_oldest(
        &self,
        states: &[&str],
        after: (i64, &str),
        limit: i64,
    ) -> Result<Vec<ApprovalRow>> {
        let mut out = Vec::new();
        for state in states {
            let rows: Vec<AnyRow> = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM approval_requests WHERE state = $1 \
                 AND (created_ms > $2 OR (created_ms = $2 AND id > $3)) \
                 ORDER BY created_ms, id LIMIT $4"
            ))
            .bind(*state)
            .bind(after.0)
            .bind(after.1.to_owned())
            .bind(limit)
            .fetch_all(&self.writer)
            .await?;
            for r in rows {
                out.push(row(r)?);
            }
        }
        out.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)));
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }

    /// Requests in any of `states` by `requester` for `key`.
    pub(crate) async fn approvals_by(
        &self,
        states: &[&str],
        requester: &str,
        key: &str,
    ) -> Result<u64> {
        let mut n = 0;
        for state in states {
            let c: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM approval_requests WHERE state = $1 AND requester = $2 \
                 AND key_name = $3",
            )
            .bind(*state)
            .bind(requester)
            .bind(key)
            .fetch_one(&self.writer)
            .await?;
            n += super::to_u64(c);
        }
        Ok(n)
    }

    /// Moves a request from `version` to a new state; false when another writer moved it
    /// first (the caller re-reads and decides again).
    pub(crate) async fn approval_transition(
        &self,
        id: &str,
        version: i64,
        state: &str,
        outcome: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE approval_requests SET state = $1, outcome = $2, version = version + 1, \
             updated_ms = $3 WHERE id = $4 AND version = $5",
        )
        .bind(state)
        .bind(outcome)
        .bind(now_ms)
        .bind(id)
        .bind(version)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a vote; false when this approver already voted on the request.
    pub(crate) async fn approval_vote(&self, v: &ApprovalVote) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO approval_votes (request_id, approver, decision, signature, at_ms) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, approver) DO NOTHING",
        )
        .bind(&v.request_id)
        .bind(&v.approver)
        .bind(&v.decision)
        .bind(&v.signature)
        .bind(v.at_ms)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn approval_votes(&self, id: &str) -> Result<Vec<ApprovalVote>> {
        let rows: Vec<AnyRow> = sqlx::query(
            "SELECT request_id, approver, decision, signature, at_ms FROM approval_votes \
             WHERE request_id = $1 ORDER BY at_ms, approver",
        )
        .bind(id)
        .fetch_all(&self.writer)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ApprovalVote {
                    request_id: r.try_get(0)?,
                    approver: r.try_get(1)?,
                    decision: r.try_get(2)?,
                    signature: r.try_get(3)?,
                    at_ms: r.try_get(4)?,
                })
            })
            .collect()
    }
}
