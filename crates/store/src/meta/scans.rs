//! Scan jobs and their results. A job row is written in the push transaction of the image
//! it is for; claiming is a compare-and-set on `state`, so workers on several replicas never
//! scan one image twice at once, and a lease puts the jobs of a crashed worker back.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Metadata, RepoId, Tx};
use crate::error::Result;

/// A claimed job.
#[derive(Debug, Clone)]
pub struct ScanJob {
    pub repo_id: RepoId,
    pub repo: String,
    pub digest: String,
    pub attempts: u64,
}

/// A scan row as stored.
#[derive(Debug, Clone, Default)]
pub struct ScanRow {
    pub repo: String,
    pub digest: String,
    pub state: String,
    pub attempts: u64,
    pub queued_ms: i64,
    pub finished_ms: Option<i64>,
    pub error: Option<String>,
    pub db_version: Option<String>,
    pub sbom_digest: Option<String>,
    pub report_digest: Option<String>,
    pub findings: Option<String>,
    pub lint: Option<String>,
    pub summary: Option<String>,
}

/// What a finished scan records.
#[derive(Debug, Clone, Default)]
pub struct ScanOutcome {
    /// `done`, `failed` or `encrypted`.
    pub state: String,
    pub error: Option<String>,
    pub db_version: Option<String>,
    pub sbom_digest: Option<String>,
    pub report_digest: Option<String>,
    pub findings: Option<String>,
    pub lint: Option<String>,
    pub summary: Option<String>,
    /// (advisory id or alias, severity, suppressed) for the per-CVE index.
    pub idents: Vec<(String, String, bool)>,
}

/// One image an advisory id matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedImage {
    pub repo: String,
    pub digest: String,
    pub severity: String,
    pub suppressed: bool,
}

const SCAN_COLUMNS: &str = "r.name, s.digest, s.state, s.attempts, s.queued_ms, s.finished_ms, \
    s.error, s.db_version, s.sbom_digest, s.report_digest, s.findings, s.lint, s.summary";

fn scan_row(r: &AnyRow) -> Result<ScanRow> {
    Ok(ScanRow {
        repo: r.try_get(0)?,
        digest: r.try_get(1)?,
        state: r.try_get(2)?,
        attempts: super::to_u64(r.try_get(3)?),
        queued_ms: r.try_get(4)?,
        finished_ms: r.try_get(5)?,
        error: r.try_get(6)?,
        db_version: r.try_get(7)?,
        sbom_digest: r.try_get(8)?,
        report_digest: r.try_get(9)?,
        findings: r.try_get(10)?,
        lint: r.try_get(11)?,
        summary: r.try_get(12)?,
    })
}

impl Metadata {
    /// Inside a manifest push: queues a scan of the image unless it has one.
    pub(super) async fn queue_scan(&self, tx: &mut Tx, repo: RepoId, digest: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO scans (repo_id, digest, state, attempts, queued_ms) \
             VALUES ($1, $2, 'queued', 0, $3) ON CONFLICT (repo_id, digest) DO NOTHING",
        )
        .bind(repo)
        .bind(digest)
        .bind(self.now_ms())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Queues (again) a scan of a stored image, e.g. on request.
    pub(crate) async fn requeue_scan(&self, repo: RepoId, digest: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO scans (repo_id, digest, state, attempts, queued_ms) \
             VALUES ($1, $2, 'queued', 0, $3) ON CONFLICT (repo_id, digest) \
             DO UPDATE SET state = 'queued', attempts = 0, queued_ms = $3, owner = NULL",
        )
        .bind(repo)
        .bind(digest)
        .bind(self.now_ms())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Claims the oldest queued job for `owner`, first returning jobs whose worker has not
    /// finished within `lease_ms` to the queue.
    pub(crate) async fn claim_scan(&self, owner: &str, lease_ms: i64) -> Result<Option<ScanJob>> {
        let now = self.now_ms();
        sqlx::query("UPDATE scans SET state = 'queued', owner = NULL WHERE state = 'running' AND started_ms < $1")
            .bind(now.saturating_sub(lease_ms))
            .execute(&self.writer)
            .await?;
        for _ in 0..8 {
            let candidate: Option<AnyRow> = sqlx::query(
                "SELECT s.repo_id, r.name, s.digest, s.attempts FROM scans s \
                 JOIN repositories r ON r.id = s.repo_id \
                 WHERE s.state = 'queued' ORDER BY s.queued_ms, s.digest LIMIT 1",
            )
            .fetch_optional(&self.reader)
            .await?;
            let Some(c) = candidate else { return Ok(None) };
            let job = ScanJob {
                repo_id: c.try_get(0)?,
                repo: c.try_get(1)?,
                digest: c.try_get(2)?,
                attempts: super::to_u64(c.try_get(3)?) + 1,
            };
            let claimed = sqlx::query(
                "UPDATE scans SET state = 'running', owner = $1, started_ms = $2, \
                 attempts = attempts + 1 WHERE repo_id = $3 AND digest = $4 AND state = 'queued'",
            )
            .bind(owner)
            .bind(now)
            .bind(job.repo_id)
            .bind(&job.digest)
            .execute(&self.writer)
            .await?;
            if claimed.rows_affected() == 1 {
                return Ok(Some(job));
            }
            // Another worker took it between the two statements: look again.
        }
        Ok(None)
    }

    /// Records a job's outcome if `owner` still holds it; `false` when the lease was lost.
    pub(crate) async fn finish_scan(
        &self,
        job: &ScanJob,
        owner: &str,
        o: &ScanOutcome,
    ) -> Result<bool> {
        let mut tx = self.writer.begin().await?;
        let done = sqlx::query(
            "UPDATE scans SET state = $1, finished_ms = $2, error = $3, db_version = $4, \
             sbom_digest = $5, report_digest = $6, findings = $7, lint = $8, summary = $9, \
             owner = NULL WHERE repo_id = $10 AND digest = $11 AND state = 'running' AND owner = $12",
        )
        .bind(&o.state)
        .bind(self.now_ms())
        .bind(o.error.as_deref())
        .bind(o.db_version.as_deref())
        .bind(o.sbom_digest.as_deref())
        .bind(o.report_digest.as_deref())
        .bind(o.findings.as_deref())
        .bind(o.lint.as_deref())
        .bind(o.summary.as_deref())
        .bind(job.repo_id)
        .bind(&job.digest)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.replace_idents(&mut tx, job.repo_id, &job.digest, &o.idents)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Puts a failed job back in the queue (`retry`) or leaves it failed.
    pub(crate) async fn fail_scan(
        &self,
        job: &ScanJob,
        owner: &str,
        error: &str,
        retry: bool,
    ) -> Result<()> {
        let state = if retry { "queued" } else { "failed" };
        sqlx::query(
            "UPDATE scans SET state = $1, error = $2, finished_ms = $3, owner = NULL \
             WHERE repo_id = $4 AND digest = $5 AND state = 'running' AND owner = $6",
        )
        .bind(state)
        .bind(error)
        .bind(self.now_ms())
        .bind(job.repo_id)
        .bind(&job.digest)
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn replace_idents(
        &self,
        tx: &mut Tx,
        repo: RepoId,
        digest: &str,
        idents: &[(String, String, bool)],
    ) -> Result<()> {
        sqlx::query("DELETE FROM scan_ids WHERE repo_id = $1 AND digest = $2")
            .bind(repo)
            .bind(digest)
            .execute(&mut **tx)
            .await?;
        for (ident, severity, suppressed) in idents {
            sqlx::query(
                "INSERT INTO scan_ids (repo_id, digest, ident, severity, suppressed) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (repo_id, digest, ident) \
                 DO UPDATE SET severity = $4, suppressed = $5",
            )
            .bind(repo)
            .bind(digest)
            .bind(ident)
            .bind(severity)
            .bind(i64::from(*suppressed))
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// After a re-match: the new findings of a done scan (`o.db_version`, `o.report_digest`,
    /// `o.findings`, `o.summary`, `o.idents`; the rest of `o` is not used).
    pub(crate) async fn update_findings(
        &self,
        repo: RepoId,
        digest: &str,
        o: &ScanOutcome,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await?;
        sqlx::query(
            "UPDATE scans SET db_version = $1, report_digest = $2, findings = $3, summary = $4 \
             WHERE repo_id = $5 AND digest = $6 AND state = 'done'",
        )
        .bind(o.db_version.as_deref())
        .bind(o.report_digest.as_deref())
        .bind(o.findings.as_deref())
        .bind(o.summary.as_deref())
        .bind(repo)
        .bind(digest)
        .execute(&mut *tx)
        .await?;
        self.replace_idents(&mut tx, repo, digest, &o.idents)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn scan_row(&self, repo: RepoId, digest: &str) -> Result<Option<ScanRow>> {
        let sql = format!(
            "SELECT {SCAN_COLUMNS} FROM scans s JOIN repositories r ON r.id = s.repo_id \
             WHERE s.repo_id = $1 AND s.digest = $2"
        );
        let row: Option<AnyRow> = sqlx::query(&sql)
            .bind(repo)
            .bind(digest)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(scan_row).transpose()
    }

    /// The scans of one repository in digest order after `after`, at most `n`.
    pub(crate) async fn scans_in(&self, repo: RepoId, after: &str, n: i64) -> Result<Vec<ScanRow>> {
        let sql = format!(
            "SELECT {SCAN_COLUMNS} FROM scans s JOIN repositories r ON r.id = s.repo_id \
             WHERE s.repo_id = $1 AND s.digest > $2 ORDER BY s.digest LIMIT $3"
        );
        let rows: Vec<AnyRow> = sqlx::query(&sql)
            .bind(repo)
            .bind(after)
            .bind(n)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(scan_row).collect()
    }

    /// Finished scans with an SBOM, in (repository id, digest) order after `after`.
    pub(crate) async fn scans_with_sbom(
        &self,
        after: (RepoId, &str),
        n: i64,
    ) -> Result<Vec<(RepoId, ScanRow)>> {
        let sql = format!(
            "SELECT {SCAN_COLUMNS}, s.repo_id FROM scans s JOIN repositories r ON r.id = s.repo_id \
             WHERE s.state = 'done' AND s.sbom_digest IS NOT NULL \
             AND (s.repo_id > $1 OR (s.repo_id = $1 AND s.digest > $2)) \
             ORDER BY s.repo_id, s.digest LIMIT $3"
        );
        let rows: Vec<AnyRow> = sqlx::query(&sql)
            .bind(after.0)
            .bind(after.1)
            .bind(n)
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(13)?, scan_row(r)?)))
            .collect()
    }

    /// Images (still present) whose findings include `ident` as an id or alias.
    /// A page of them: after `(repository, digest)`, at most `limit`.
    pub(crate) async fn images_affected_by(
        &self,
        ident: &str,
        after: (&str, &str),
        limit: u64,
    ) -> Result<Vec<AffectedImage>> {
        let rows: Vec<AnyRow> = sqlx::query(
            "SELECT r.name, i.digest, i.severity, i.suppressed FROM scan_ids i \
             JOIN repositories r ON r.id = i.repo_id \
             WHERE i.ident = $1 AND (r.name > $2 OR (r.name = $2 AND i.digest > $3)) \
             AND EXISTS (SELECT 1 FROM manifests m \
                 WHERE m.repo_id = i.repo_id AND m.digest = i.digest) \
             ORDER BY r.name, i.digest LIMIT $4",
        )
        .bind(ident)
        .bind(after.0.to_owned())
        .bind(after.1.to_owned())
        .bind(super::to_i64(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AffectedImage {
                    repo: r.try_get(0)?,
                    digest: r.try_get(1)?,
                    severity: r.try_get(2)?,
                    suppressed: r.try_get::<i64, _>(3)? != 0,
                })
            })
            .collect()
    }

    /// Inside a manifest deletion: the image's scan goes with it.
    pub(super) async fn forget_scan(&self, tx: &mut Tx, repo: RepoId, digest: &str) -> Result<()> {
        for sql in [
            "DELETE FROM scans WHERE repo_id = $1 AND digest = $2",
            "DELETE FROM scan_ids WHERE repo_id = $1 AND digest = $2",
        ] {
            sqlx::query(sql)
                .bind(repo)
                .bind(digest)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn scan_db_version(&self) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT version FROM scan_db WHERE id = 1")
                .fetch_optional(&self.writer)
                .await?,
        )
    }

    /// Moves the recorded database version from `old` to `new`; `true` for the one caller
    /// that did (it re-matches).
    pub(crate) async fn advance_scan_db(&self, old: Option<&str>, new: &str) -> Result<bool> {
        let done = match old {
            None => {
                sqlx::query(
                    "INSERT INTO scan_db (id, version, updated_ms) VALUES (1, $1, $2) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(new)
                .bind(self.now_ms())
                .execute(&self.writer)
                .await?
            }
            Some(old) => sqlx::query(
                "UPDATE scan_db SET version = $1, updated_ms = $2 WHERE id = 1 AND version = $3",
            )
            .bind(new)
            .bind(self.now_ms())
            .bind(old)
            .execute(&self.writer)
            .await?,
        };
        Ok(done.rows_affected() == 1)
    }
}
