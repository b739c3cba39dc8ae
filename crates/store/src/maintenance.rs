//! Online garbage collection and scrub. Both run while the registry serves; the row
//! protocol in `meta::blobs` keeps them from racing a push (a blob a push is about to
//! reference is either kept, or the push fails cleanly and uploads it again).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use zoll_oci::Digest;

use crate::Store;
use crate::error::Result;
use crate::integrity::Verdict;
use crate::meta::BlobRow;

#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Blobs uploaded or linked more recently than this are kept even if unreferenced, so
    /// that a push can upload its layers before the manifest that references them.
    pub grace: Duration,
    /// Report what would be removed; remove nothing.
    pub dry_run: bool,
    /// Also remove untagged manifests that nothing needs (no tag, not listed by an index,
    /// not a referrer of a present manifest) pushed longer than `grace` ago; their
    /// referrers follow them, and then the blobs only they referenced.
    pub untagged: bool,
}

/// One untagged manifest garbage collection removed (or would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectedManifest {
    pub repo: String,
    pub digest: String,
    pub size: u64,
}

/// What this process's garbage collections did since it started (for metrics); dry runs
/// are not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcCounts {
    pub runs: u64,
    /// Runs that stopped on an error (what they removed before is counted).
    pub failed_runs: u64,
    pub blobs_removed: u64,
    pub bytes_removed: u64,
    pub manifests_removed: u64,
}

/// The counters behind [`GcCounts`].
#[derive(Default)]
pub(crate) struct GcCounters {
    runs: AtomicU64,
    failed_runs: AtomicU64,
    blobs_removed: AtomicU64,
    bytes_removed: AtomicU64,
    manifests_removed: AtomicU64,
}

/// One blob garbage collection removed (or would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub digest: String,
    pub size: u64,
}

#[derive(Debug, Clone, Default)]
pub struct GcReport {
    pub collected: Vec<Collected>,
    pub manifests: Vec<CollectedManifest>,
    /// Candidates a concurrent push referenced or re-uploaded before they could be claimed.
    pub kept_by_push: usize,
    /// Deletions an earlier, interrupted run had claimed and this run finished.
    pub finished_interrupted: usize,
}

impl GcReport {
    pub fn bytes(&self) -> u64 {
        self.collected.iter().map(|c| c.size).sum()
    }
}

/// Bytes uploads take up in a project besides what manifests reference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadFootprint {
    pub linked_bytes: u64,
    pub staged_bytes: u64,
}

/// Storage accounting of a scope; see [`Store::usage`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub blob_bytes: u64,
    pub blobs: u64,
    pub manifest_bytes: u64,
    pub manifests: u64,
}

impl Usage {
    pub fn bytes(&self) -> u64 {
        self.blob_bytes + self.manifest_bytes
    }
}

#[derive(Debug, Clone, Default)]
pub struct ScrubReport {
    pub checked: usize,
    pub bytes: u64,
    /// Blobs whose bytes did not match their digest (or were missing), now quarantined.
    pub quarantined: Vec<String>,
    /// Blobs whose bytes could not be read (I/O or network errors): no verdict.
    pub unreadable: Vec<String>,
    /// Chunk tables recorded (blobs stored before there were any, or whose table was wrong).
    pub tables_recorded: usize,
}

const SCRUB_PAGE: u64 = 256;

impl Store {
    pub async fn gc(&self, opts: &GcOptions) -> Result<GcReport> {
        let mut report = GcReport::default();
        let result = self.gc_into(opts, &mut report).await;
        if !opts.dry_run {
            let c = &self.gc_counters;
            let add = |a: &AtomicU64, n: u64| a.fetch_add(n, Ordering::Relaxed);
            add(&c.runs, 1);
            add(&c.failed_runs, u64::from(result.is_err()));
            add(&c.blobs_removed, report.collected.len() as u64);
            add(&c.bytes_removed, report.bytes());
            add(&c.manifests_removed, report.manifests.len() as u64);
        }
        result.map(|()| report)
    }

    /// What this process's garbage collections removed since it started.
    pub fn gc_counts(&self) -> GcCounts {
        let c = &self.gc_counters;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        GcCounts {
            runs: n(&c.runs),
            failed_runs: n(&c.failed_runs),
            blobs_removed: n(&c.blobs_removed),
            bytes_removed: n(&c.bytes_removed),
            manifests_removed: n(&c.manifests_removed),
        }
    }

    async fn gc_into(&self, opts: &GcOptions, report: &mut GcReport) -> Result<()> {
        // One run at a time (here and across replicas): a run finishes the claims that an
        // interrupted run left, which must not be the claims of a run still going.
        let _here = self.gc_running.lock().await;
        let _everywhere = self.meta.gc_exclusive().await?;
        if !opts.dry_run {
            for row in self.meta.gc_unfinished().await? {
                self.remove_bytes(&row).await?;
                report.finished_interrupted += 1;
            }
        }
        let grace = i64::try_from(opts.grace.as_millis()).unwrap_or(i64::MAX);
        let cutoff = self.now_ms().saturating_sub(grace);
        if opts.untagged {
            self.gc_untagged(opts, cutoff, report).await?;
        }
        for row in self.meta.gc_candidates(cutoff).await? {
            if opts.dry_run {
                report.collected.push(Collected {
                    digest: row.digest,
                    size: row.size,
                });
            } else if self.meta.gc_claim(&row.digest, cutoff).await? {
                self.remove_bytes(&row).await?;
                report.collected.push(Collected {
                    digest: row.digest,
                    size: row.size,
                });
            } else {
                report.kept_by_push += 1;
            }
        }
        if !opts.dry_run && !report.collected.is_empty() {
            tracing::info!(
                blobs = report.collected.len(),
                bytes = report.bytes(),
                kept_by_push = report.kept_by_push,
                "garbage collection removed unreferenced blobs"
            );
        }
        Ok(())
    }

    /// Removes unused untagged manifests, round after round: deleting an image makes its
    /// signatures unused in the next round. A dry run reports the first round only.
    async fn gc_untagged(
        &self,
        opts: &GcOptions,
        cutoff: i64,
        report: &mut GcReport,
    ) -> Result<()> {
        const MAX_ROUNDS: usize = 8;
        for _ in 0..MAX_ROUNDS {
            let candidates = self.meta.untagged_candidates(cutoff).await?;
            let mut removed = 0;
            for row in candidates {
                if !opts.dry_run
                    && !self
                        .meta
                        .gc_untagged(row.repo_id, &row.digest, cutoff)
                        .await?
                {
                    report.kept_by_push += 1;
                    continue;
                }
                self.cache.invalidate_repo(row.repo_id);
                removed += 1;
                report.manifests.push(CollectedManifest {
                    repo: row.repo,
                    digest: row.digest,
                    size: row.size,
                });
            }
            if opts.dry_run || removed == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Storage used by the repositories under `scope` (a project name such as `team`, or a
    /// full repository name), derived from metadata at the time of the call: every blob a
    /// manifest there references, counted once, plus the manifests themselves. Exact after
    /// deletes and garbage collection, because nothing is counted that no manifest uses.
    /// What uploads into `scope` (a project) take up before any manifest references them:
    /// every blob linked there (referenced or not yet) and the bytes open uploads staged.
    pub async fn upload_footprint(&self, scope: &str) -> Result<UploadFootprint> {
        Ok(UploadFootprint {
            linked_bytes: self.meta.linked_bytes(scope).await?,
            staged_bytes: self.meta.staged_bytes(scope).await?,
        })
    }

    pub async fn usage(&self, scope: &str) -> Result<Usage> {
        let (blob_bytes, blobs, manifest_bytes, manifests) = self.meta.usage(scope).await?;
        Ok(Usage {
            blob_bytes,
            blobs,
            manifest_bytes,
            manifests,
        })
    }

    /// Second half of a deletion claimed with `gc_claim`: bytes first, then the row, so an
    /// interruption leaves a `deleting` row the next run finishes.
    async fn remove_bytes(&self, row: &BlobRow) -> Result<()> {
        if let Ok(d) = row.digest.parse::<Digest>() {
            self.blobs.delete(&d).await?;
        }
        self.meta.gc_forget(&row.digest).await
    }

    /// Re-hashes every live blob; quarantines those whose bytes no longer match, and records
    /// the chunk table of those stored without one (or with a wrong one).
    pub async fn scrub(&self) -> Result<ScrubReport> {
        let mut report = ScrubReport::default();
        let mut after = String::new();
        loop {
            let page = self.meta.live_blobs(&after, SCRUB_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.digest.clone();
            for row in page {
                let Ok(digest) = row.digest.parse::<Digest>() else {
                    tracing::warn!(digest = %row.digest, "blob row with an invalid digest");
                    continue;
                };
                report.checked += 1;
                report.bytes += row.size;
                match self.judge_stored(&digest, row.size).await {
                    Verdict::Intact(table) => {
                        let text = table.to_text();
                        let stored = self.meta.full_chunk_table(&row.digest).await?;
                        if stored.as_deref() != Some(text.as_str()) {
                            self.meta
                                .record_chunk_table(&row.digest, row.size, &text)
                                .await?;
                            report.tables_recorded += 1;
                        }
                    }
                    Verdict::Damaged(why) => {
                        if self.quarantine_row(&row, &why).await? {
                            report.quarantined.push(row.digest);
                        }
                    }
                    Verdict::Unreadable(e) => {
                        tracing::warn!(%digest, error = %e, "scrub: cannot read a blob");
                        report.unreadable.push(row.digest);
                    }
                }
            }
        }
        Ok(report)
    }
}
