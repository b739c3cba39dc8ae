//! The scan queue and scan results as the scanner and the API see them (the scanning itself
//! is `zoll-scan`'s, driven by the registry). Names here are repository names; row ids stay
//! inside the store.

use zoll_oci::{Digest, RepoName};

use crate::Store;
use crate::error::{Result, StoreError};
use crate::meta::{AffectedImage, ScanJob, ScanOutcome, ScanRow};

impl Store {
    /// Claims the oldest queued scan for `owner` (a worker id unique across replicas).
    pub async fn claim_scan(
        &self,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<Option<ScanJob>> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        self.meta.claim_scan(owner, lease_ms).await
    }

    /// Records the outcome of a claimed job; `false` if the lease was lost to another worker.
    pub async fn finish_scan(
        &self,
        job: &ScanJob,
        owner: &str,
        outcome: &ScanOutcome,
    ) -> Result<bool> {
        self.meta.finish_scan(job, owner, outcome).await
    }

    pub async fn fail_scan(
        &self,
        job: &ScanJob,
        owner: &str,
        error: &str,
        retry: bool,
    ) -> Result<()> {
        self.meta.fail_scan(job, owner, error, retry).await
    }

    /// The scan of an image, if one was queued.
    pub async fn scan(&self, repo: &RepoName, digest: &Digest) -> Result<Option<ScanRow>> {
        match self.repo(repo).await? {
            Some(id) => self.meta.scan_row(id, digest.as_str()).await,
            None => Ok(None),
        }
    }

    /// The scans of `repo`'s images, a page at a time in digest order: after the digest
    /// `after` (empty for the first page), at most `n`.
    pub async fn scans_in(&self, repo: &RepoName, after: &str, n: u64) -> Result<Vec<ScanRow>> {
        match self.repo(repo).await? {
            Some(id) => {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                self.meta.scans_in(id, after, n).await
            }
            None => Ok(Vec::new()),
        }
    }

    /// Queues a new scan of a stored image.
    pub async fn rescan(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        let unknown = || StoreError::ManifestUnknown(digest.to_string());
        let id = self.repo(repo).await?.ok_or_else(unknown)?;
        if self.meta.manifest(id, digest.as_str()).await?.is_none() {
            return Err(unknown());
        }
        self.meta.requeue_scan(id, digest.as_str()).await
    }

    /// Finished scans that kept an SBOM, a page at a time: pass the last one's position.
    pub async fn scans_with_sbom(
        &self,
        after: Option<&ScanCursor>,
        n: i64,
    ) -> Result<Vec<(ScanCursor, ScanRow)>> {
        let (id, digest) = after.map_or((-1, ""), |c| (c.0, c.1.as_str()));
        let rows = self.meta.scans_with_sbom((id, digest), n).await?;
        Ok(rows
            .into_iter()
            .map(|(id, row)| (ScanCursor(id, row.digest.clone()), row))
            .collect())
    }

    /// Replaces the findings of a finished scan after a re-match (see
    /// `Metadata::update_findings` for the fields of `outcome` it uses).
    pub async fn update_findings(&self, at: &ScanCursor, outcome: &ScanOutcome) -> Result<()> {
        self.meta.update_findings(at.0, &at.1, outcome).await
    }

    /// Images present whose findings name `ident` (an advisory id or alias).
    pub async fn images_affected_by(
        &self,
        ident: &str,
        after: (&str, &str),
        limit: u64,
    ) -> Result<Vec<AffectedImage>> {
        self.meta.images_affected_by(ident, after, limit).await
    }

    pub async fn scan_db_version(&self) -> Result<Option<String>> {
        self.meta.scan_db_version().await
    }

    pub async fn advance_scan_db(&self, old: Option<&str>, new: &str) -> Result<bool> {
        self.meta.advance_scan_db(old, new).await
    }
}

/// Where a walk over stored scans is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanCursor(crate::meta::RepoId, String);
