//! zoll's content store. Blobs are content-addressed and immutable; a blob becomes visible
//! only after the digest of the bytes actually received matched and its bytes were published
//! atomically, and only then is its metadata row committed. Repositories link to blobs in
//! metadata. Upload sessions keep their offset in metadata so any process can continue them.
//!
//! Boundary: callers speak in repository names, digests and byte streams. Nothing here knows
//! HTTP or signature formats.

#![forbid(unsafe_code)]
#![warn(unreachable_pub, unused_must_use)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod approvals;
mod audit;
mod backup;
mod backup_writer;
mod blobs;
mod cache;
mod error;
mod hash_ahead;
mod integrity;
mod maintenance;
mod manifests;
mod meta;
mod reads;
mod scans;
mod uploads;

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use zoll_oci::{Digest, RepoName};
use zoll_stdx::time::Clock;

pub use approvals::{ApprovalRow, ApprovalVote};
pub use audit::{
    AuditEntry, AuditFilter, AuditFinding, AuditRecord, AuditReport, GENESIS, record_hash,
};
pub use backup::{BackupReport, FORMAT as BACKUP_FORMAT, NOT_BACKED_UP, backed_up_tables};
pub use backup_writer::{BackupItem, BackupWriter};
pub use blobs::{ByteStream, S3Config};
pub use error::{Result, StoreError};
pub use maintenance::{
    Collected, CollectedManifest, GcCounts, GcOptions, GcReport, ScrubReport, UploadFootprint,
    Usage,
};
pub use manifests::{ManifestPut, PushPolicy, Quota, StoredManifest};
pub use meta::{
    Account, AccountKind, AffectedImage, ArtifactRow, Attempt, ConsoleSession, Delivery,
    MAX_PENDING_PER_HOOK, Project, ReferrerPage, ReferrerRow, ScanJob, ScanOutcome, ScanRow,
    TagCursor, TagOrder, TagRow, Webhook,
};
pub use reads::IntegrityCounts;
pub use scans::ScanCursor;
pub use uploads::ByteQuota;
pub(crate) use zoll_stdx::time::now_ms;

use blobs::Blobs;
use cache::Cache;
use meta::{Metadata, RepoId};
use reads::Integrity;
use uploads::Sessions;

/// What the store needs to know; the binary fills it from flags, environment and config file.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// Largest blob accepted, in bytes.
    pub max_blob_bytes: u64,
    /// Upload sessions idle for longer are removed.
    pub upload_ttl: Duration,
    /// Check every chunk a read serves against the blob's chunk table before sending it,
    /// and stop the transfer on a mismatch.
    pub verify_reads: bool,
    /// Memory for recently served manifests and tag lookups (used only with the embedded
    /// database, where this process sees every write).
    pub cache_bytes: usize,
    /// `postgres://...` for shared metadata; `None` for the embedded SQLite database in
    /// `data_dir`.
    pub metadata_url: Option<String>,
    /// Blobs in an S3-compatible object store instead of `data_dir`.
    pub s3: Option<S3Config>,
    /// Apply pending metadata migrations on open; without, opening an outdated database
    /// fails with a message that names `zoll migrate`.
    pub migrate: bool,
    /// Queue a scan of every pushed container image (in the push transaction).
    pub scan_on_push: bool,
    /// Open upload sessions per project at most.
    pub max_upload_sessions: u64,
    /// Repositories per project at most.
    pub max_repositories: u64,
    /// What the store's times (links, uploads, leases, audit records, gc grace) are read
    /// from: the wall clock, or a clock a test moves.
    pub clock: Arc<dyn Clock>,
}

impl StoreConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            max_blob_bytes: 64 << 30,
            upload_ttl: Duration::from_secs(24 * 3600),
            verify_reads: true,
            cache_bytes: 16 << 20,
            metadata_url: None,
            s3: None,
            migrate: true,
            scan_on_push: true,
            max_upload_sessions: 1000,
            max_repositories: 100_000,
            clock: Arc::new(zoll_stdx::time::SystemClock),
        }
    }
}

pub struct Store {
    blobs: Blobs,
    meta: Metadata,
    cache: Cache,
    sessions: Sessions,
    integrity: Integrity,
    config: StoreConfig,
    /// One garbage collection at a time in this process (see `Store::gc`).
    gc_running: tokio::sync::Mutex<()>,
    gc_counters: maintenance::GcCounters,
    /// Held for the life of a store on the embedded database: one process owns it.
    _lock: Option<File>,
}

/// 128 random bits as hex: upload session ids that cannot be guessed.
pub(crate) fn random_id() -> String {
    zoll_stdx::rand::hex_id(16)
}

impl Store {
    /// Now, by the store's clock: the one clock of the process (`StoreConfig::clock`), which
    /// the registry's own timers (tokens, throttles, deliveries, retention) read too.
    pub fn now_ms(&self) -> i64 {
        self.config.clock.now_ms()
    }

    /// Opens the store: blobs on local disk under `config.data_dir` or in S3, metadata in the
    /// embedded SQLite database there or in PostgreSQL.
    pub async fn open(config: StoreConfig) -> Result<Store> {
        std::fs::create_dir_all(&config.data_dir)?;
        let lock = if config.metadata_url.is_none() {
            let lock = File::create(config.data_dir.join("zoll.lock"))?;
            if lock.try_lock().is_err() {
                return Err(StoreError::Locked(config.data_dir.display().to_string()));
            }
            Some(lock)
        } else {
            None
        };
        let blobs = match &config.s3 {
            Some(s3) => Blobs::S3(blobs::S3Blobs::new(s3)?),
            None => Blobs::local(config.data_dir.clone())?,
        };
        let url = match &config.metadata_url {
            Some(url) => url.clone(),
            None => Metadata::sqlite_url(&config.data_dir.join("metadata.db")),
        };
        let meta = Metadata::open(&url, config.migrate, config.clock.clone()).await?;
        // A shared database is written by other replicas too: no local read cache then.
        let cache_bytes = if meta.is_embedded() {
            config.cache_bytes
        } else {
            0
        };
        let store = Store {
            blobs,
            meta,
            cache: Cache::new(cache_bytes),
            sessions: Sessions::default(),
            integrity: Integrity::default(),
            config,
            gc_running: tokio::sync::Mutex::new(()),
            gc_counters: maintenance::GcCounters::default(),
            _lock: lock,
        };
        store.remove_orphaned_uploads().await?;
        Ok(store)
    }

    /// Applies pending metadata migrations (what `zoll migrate` does); returns the versions
    /// applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        self.meta.migrate().await
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub async fn close(&self) {
        self.meta.close().await;
    }

    async fn repo(&self, name: &RepoName) -> Result<Option<RepoId>> {
        self.meta.repo_id(name.as_str()).await
    }

    /// The repository to write into, created if new — unless its project has
    /// `max_repositories` already (names are free to invent; rows are not).
    async fn repo_for_write(&self, name: &RepoName) -> Result<RepoId> {
        if let Some(id) = self.repo(name).await? {
            return Ok(id);
        }
        let project = name.as_str().split('/').next().unwrap_or(name.as_str());
        let n = self
            .meta
            .repository_count(project, self.config.max_repositories)
            .await?;
        if n >= self.config.max_repositories {
            return Err(StoreError::Busy(format!(
                "project {project} has {n} repositories, the most allowed"
            )));
        }
        self.meta.ensure_repo(name.as_str()).await
    }

    /// Size of a blob linked into `repo`.
    pub async fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64> {
        let unknown = || StoreError::BlobUnknown(digest.clone());
        let id = self.repo(repo).await?.ok_or_else(unknown)?;
        self.meta
            .repo_blob_size(id, digest.as_str())
            .await?
            .ok_or_else(unknown)
    }

    /// Removes the blob's link from `repo`, unless a manifest of `repo` references it (an
    /// image, immutable or not, must keep pulling). The bytes stay until garbage collection.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        let unknown = || StoreError::BlobUnknown(digest.clone());
        let id = self.repo(repo).await?.ok_or_else(unknown)?;
        match self.meta.unlink_blob(id, digest.as_str()).await? {
            meta::Removal::Done => Ok(()),
            meta::Removal::Absent => Err(unknown()),
            meta::Removal::Referenced(manifest) => Err(StoreError::Referenced(format!(
                "blob {digest} is referenced by manifest {manifest} of {repo}; delete the \
                 manifest first"
            ))),
        }
    }

    /// Size of a servable blob linked into `from`, or anywhere without `from`.
    pub async fn blob_size_anywhere(
        &self,
        digest: &Digest,
        from: Option<&RepoName>,
    ) -> Result<Option<u64>> {
        match from {
            Some(src) => match self.repo(src).await? {
                Some(id) => self.meta.repo_blob_size(id, digest.as_str()).await,
                None => Ok(None),
            },
            None => self.meta.blob_size(digest.as_str()).await,
        }
    }

    /// Links a blob into `repo` without copying it. With `from`, the blob must be linked
    /// there; without, any published blob qualifies (the caller decides whether the client
    /// may do that). Returns the size, or `None` when nothing could be mounted.
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: Option<&RepoName>,
    ) -> Result<Option<u64>> {
        let size = match from {
            Some(src) => match self.repo(src).await? {
                Some(src_id) => self.meta.repo_blob_size(src_id, digest.as_str()).await?,
                None => None,
            },
            None => self.meta.blob_size(digest.as_str()).await?,
        };
        let Some(size) = size else { return Ok(None) };
        if self.blobs.stat(digest).await? != Some(size) {
            return Ok(None);
        }
        let id = self.repo_for_write(repo).await?;
        let mut tx = self.meta.begin().await?;
        if !self.meta.link_blob(&mut tx, id, digest.as_str()).await? {
            return Ok(None); // garbage-collected meanwhile
        }
        tx.commit().await?;
        Ok(Some(size))
    }

    /// Tags of `repo` in lexical order after `last`, at most `n`.
    pub async fn tags(&self, repo: &RepoName, last: Option<&str>, n: u64) -> Result<Vec<String>> {
        let id = self
            .repo(repo)
            .await?
            .ok_or_else(|| StoreError::NameUnknown(repo.to_string()))?;
        self.meta.tags(id, last, n).await
    }

    pub async fn catalog(&self, last: Option<&str>, n: u64) -> Result<Vec<String>> {
        self.meta.catalog(last, n).await
    }

    /// The catalog of the repositories in `projects` only (`None` when there are more than
    /// one query takes: ask [`Store::catalog`] and filter).
    pub async fn catalog_in(
        &self,
        projects: &[String],
        last: Option<&str>,
        n: u64,
    ) -> Result<Option<Vec<String>>> {
        if projects.len() > meta::MAX_CATALOG_PROJECTS {
            return Ok(None);
        }
        self.meta.catalog_in(projects, last, n).await.map(Some)
    }

    /// Indexes in `repo` that reference the manifest `child`, newest first, at most `limit`
    /// (see `meta::Metadata::parents` for what the caller must still check).
    pub async fn parents(
        &self,
        repo: &RepoName,
        child: &Digest,
        limit: u32,
    ) -> Result<Vec<ReferrerRow>> {
        match self.repo(repo).await? {
            Some(id) => {
                self.meta
                    .parents(id, child.as_str(), i64::from(limit))
                    .await
            }
            None => Ok(Vec::new()),
        }
    }

    /// Manifests in `repo` whose subject is `subject`, a page of them (digest order).
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        page: &ReferrerPage<'_>,
    ) -> Result<Vec<ReferrerRow>> {
        match self.repo(repo).await? {
            Some(id) => self.meta.referrers(id, subject.as_str(), page).await,
            None => Ok(Vec::new()),
        }
    }
}
