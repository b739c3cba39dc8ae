//! Serving blob bytes. Every chunk a read serves is first checked against the blob's chunk
//! table (see [`crate::integrity`]); a read that meets damage stops, and the blob is
//! re-verified against its digest in the background and quarantined if that fails too, as
//! scrub does. A blob known to be damaged or missing its bytes is never answered as present.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use zoll_oci::Digest;

use crate::Store;
use crate::blobs::ByteStream;
use crate::error::{Result, StoreError};
use crate::integrity::{self, ChunkTable, FaultReport, ReadFault, ReadPlan, Verdict};
use crate::meta::BlobRow;

/// Whole-blob verifications (chunk tables built for old blobs, damage re-checked) running at
/// once; more wait. Each reads and hashes a whole blob.
const VERIFY_PERMITS: usize = 2;
/// Blobs waiting for a damage re-check at most; beyond, a fault is only counted (scrub
/// finds the blob later).
const MAX_RECHECKS: usize = 64;

/// Integrity state shared by all reads of a store.
pub(crate) struct Integrity {
    permits: tokio::sync::Semaphore,
    rechecks: Mutex<HashSet<String>>,
    damaged_reads: AtomicU64,
    unreadable_reads: AtomicU64,
    quarantined: AtomicU64,
    tables_built: AtomicU64,
}

impl Default for Integrity {
    fn default() -> Self {
        Integrity {
            permits: tokio::sync::Semaphore::new(VERIFY_PERMITS),
            rechecks: Mutex::default(),
            damaged_reads: AtomicU64::new(0),
            unreadable_reads: AtomicU64::new(0),
            quarantined: AtomicU64::new(0),
            tables_built: AtomicU64::new(0),
        }
    }
}

/// What this process has seen of damage since it started (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntegrityCounts {
    /// Reads stopped because a chunk failed its checksum or the bytes were missing or short.
    pub damaged_reads: u64,
    /// Reads stopped because the backend failed to deliver the bytes.
    pub unreadable_reads: u64,
    /// Blobs quarantined (by reads or scrub).
    pub quarantined: u64,
    /// Chunk tables computed for blobs stored without one.
    pub tables_built: u64,
}

impl Store {
    pub fn integrity_counts(&self) -> IntegrityCounts {
        let i = &self.integrity;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        IntegrityCounts {
            damaged_reads: n(&i.damaged_reads),
            unreadable_reads: n(&i.unreadable_reads),
            quarantined: n(&i.quarantined),
            tables_built: n(&i.tables_built),
        }
    }

    /// Blobs a failed read queued for re-verification that is not finished yet.
    pub fn rechecks_pending(&self) -> usize {
        self.integrity
            .rechecks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Streams a blob whose size `blob_size` just reported, whole or a `(start, len)` range
    /// of it. With `verify_reads` on (the default) every chunk is checked before any byte of
    /// it is sent, and a blob without a chunk table is verified whole first. Missing bytes
    /// or a file of the wrong size are refused before any byte is sent.
    pub async fn read_blob(
        self: &Arc<Self>,
        digest: &Digest,
        size: u64,
        range: Option<(u64, u64)>,
    ) -> Result<ByteStream> {
        self.check_blob_bytes(digest, size).await?;
        let (start, len) = range.unwrap_or((0, size));
        if !self.config.verify_reads {
            return self.blobs.open(digest, start, len, false).await;
        }
        let probe = ReadPlan {
            digest: digest.clone(),
            size,
            start,
            len,
            sums: ChunkTable::default(),
        };
        let sums = self.chunk_sums(&probe).await?;
        let plan = ReadPlan { sums, ..probe };
        let (from, n) = plan.read_span();
        let whole_chunks = self.blobs.open_pieces(digest, from, n).await?;
        let store = self.clone();
        let d = digest.clone();
        let report: FaultReport = Arc::new(move |fault| store.read_fault(&d, size, fault));
        Ok(integrity::verified(plan, whole_chunks, report))
    }

    /// Whether the bytes of a blob of `size` are there (a `HEAD` answers from this). Missing
    /// bytes or a wrong size are `Corrupt`, never a 200, and have the blob re-checked.
    pub async fn check_blob_bytes(self: &Arc<Self>, digest: &Digest, size: u64) -> Result<()> {
        if self.blobs.stat(digest).await? != Some(size) {
            self.read_fault(digest, size, ReadFault::Damaged);
            return Err(StoreError::Corrupt(digest.clone()));
        }
        Ok(())
    }

    /// The chunk-table entries `plan` needs, building the table first for a blob stored
    /// without one (or whose table does not fit its size).
    async fn chunk_sums(&self, plan: &ReadPlan) -> Result<ChunkTable> {
        let (first, count) = (plan.first_chunk(), plan.chunk_span());
        if count == 0 {
            return Ok(ChunkTable::default());
        }
        let d = plan.digest.as_str();
        match self.meta.chunk_table(d, first, count).await? {
            None => return Err(StoreError::BlobUnknown(plan.digest.clone())),
            Some(Some(text)) => match ChunkTable::from_text(&text) {
                Some(t) if t.len() as u64 == count => return Ok(t),
                _ => tracing::error!(digest = d, "chunk table does not fit the blob; rebuilding"),
            },
            Some(None) => {}
        }
        let table = self.build_chunk_table(&plan.digest, plan.size).await?;
        Ok(table.entries(first, count))
    }

    /// Verifies a whole blob against its digest and records its chunk table; quarantines it
    /// when its bytes are damaged.
    async fn build_chunk_table(&self, digest: &Digest, size: u64) -> Result<ChunkTable> {
        let _permit = self.integrity.permits.acquire().await;
        let expected = integrity::chunk_count(size);
        // Another read may have built it while this one waited.
        if let Some(text) = self.meta.full_chunk_table(digest.as_str()).await?
            && let Some(t) = ChunkTable::from_text(&text).filter(|t| t.len() as u64 == expected)
        {
            return Ok(t);
        }
        let row = self
            .meta
            .live_blob(digest.as_str())
            .await?
            .ok_or_else(|| StoreError::BlobUnknown(digest.clone()))?;
        match self.judge_stored(digest, size).await {
            Verdict::Intact(table) => {
                self.meta
                    .record_chunk_table(digest.as_str(), size, &table.to_text())
                    .await?;
                self.integrity.tables_built.fetch_add(1, Ordering::Relaxed);
                Ok(table)
            }
            Verdict::Damaged(why) => {
                self.integrity.damaged_reads.fetch_add(1, Ordering::Relaxed);
                self.quarantine_row(&row, &why).await?;
                Err(StoreError::Corrupt(digest.clone()))
            }
            Verdict::Unreadable(e) => {
                self.integrity
                    .unreadable_reads
                    .fetch_add(1, Ordering::Relaxed);
                Err(StoreError::Io(e))
            }
        }
    }

    /// Reads all stored bytes of a blob and judges them against its digest.
    pub(crate) async fn judge_stored(&self, digest: &Digest, size: u64) -> Verdict {
        match self.blobs.stat(digest).await {
            Ok(Some(n)) if n == size => {}
            Ok(Some(n)) => return Verdict::Damaged(format!("{n} bytes stored, {size} expected")),
            Ok(None) => return Verdict::Damaged("its bytes are missing".into()),
            Err(e) => return Verdict::Unreadable(std::io::Error::other(e.to_string())),
        }
        match self.blobs.open(digest, 0, size, false).await {
            Ok(bytes) => integrity::judge(digest, size, bytes).await,
            Err(StoreError::BlobUnknown(_)) => Verdict::Damaged("its bytes are missing".into()),
            Err(e) => Verdict::Unreadable(std::io::Error::other(e.to_string())),
        }
    }

    /// Marks a live blob quarantined and moves its bytes aside, unless it was uploaded again
    /// since `row` was read. Returns whether it did.
    pub(crate) async fn quarantine_row(&self, row: &BlobRow, why: &str) -> Result<bool> {
        let Ok(digest) = row.digest.parse::<Digest>() else {
            return Ok(false);
        };
        let mut tx = self.meta.begin().await?;
        if !self.meta.quarantine(&mut tx, row).await? {
            return Ok(false);
        }
        self.blobs.quarantine(&digest).await?;
        tx.commit().await?;
        self.integrity.quarantined.fetch_add(1, Ordering::Relaxed);
        tracing::error!(%digest, reason = why, "stored bytes of a blob are damaged; quarantined");
        Ok(true)
    }

    /// A read stopped on `fault`: count it, and have the blob re-verified in the background
    /// (once at a time per blob, a bounded number of blobs at once).
    fn read_fault(self: &Arc<Self>, digest: &Digest, size: u64, fault: ReadFault) {
        let counter = match fault {
            ReadFault::Damaged => &self.integrity.damaged_reads,
            ReadFault::Unreadable => &self.integrity.unreadable_reads,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::error!(%digest, ?fault, "a blob read stopped: its stored bytes failed a check");
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut rechecks = self
                .integrity
                .rechecks
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if rechecks.len() >= MAX_RECHECKS || !rechecks.insert(digest.to_string()) {
                return;
            }
        }
        let store = self.clone();
        let digest = digest.clone();
        runtime.spawn(async move {
            if let Err(e) = store.recheck(&digest, size).await {
                tracing::warn!(%digest, error = %e, "could not re-check a damaged blob");
            }
            store
                .integrity
                .rechecks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(digest.as_str());
        });
    }

    /// Re-verifies a blob a read found fault with: quarantines it when its bytes are
    /// damaged; rewrites its chunk table if the bytes are intact but the table disagreed.
    async fn recheck(&self, digest: &Digest, size: u64) -> Result<()> {
        let _permit = self.integrity.permits.acquire().await;
        let Some(row) = self.meta.live_blob(digest.as_str()).await? else {
            return Ok(()); // quarantined or collected meanwhile
        };
        if row.size != size {
            return Ok(()); // uploaded again meanwhile
        }
        match self.judge_stored(digest, size).await {
            Verdict::Damaged(why) => {
                self.quarantine_row(&row, &why).await?;
            }
            Verdict::Intact(table) => {
                let text = table.to_text();
                let stored = self.meta.full_chunk_table(digest.as_str()).await?;
                if stored.as_deref() != Some(text.as_str()) {
                    tracing::error!(%digest, "blob bytes are intact but its chunk table was not; rewritten");
                    self.meta
                        .record_chunk_table(digest.as_str(), size, &text)
                        .await?;
                } else {
                    tracing::warn!(%digest, "blob re-verified intact after a failed read");
                }
            }
            Verdict::Unreadable(e) => {
                tracing::warn!(%digest, error = %e, "blob could not be read to re-check it");
            }
        }
        Ok(())
    }
}
