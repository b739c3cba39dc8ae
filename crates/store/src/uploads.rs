//! Blob upload sessions: start, append chunks, finish with a digest, cancel, expire; and the
//! monolithic single-request upload.
//!
//! The offset of a session lives in metadata. The running hash (digest and chunk table) lives
//! in this process only as an optimisation, kept between the requests of a session: when it is
//! missing (restart, another replica took the previous chunk, it was evicted, or a different
//! digest algorithm is asked for at the end) the staged bytes are hashed again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use zoll_oci::{Algorithm, Digest, RepoName};

use crate::error::{Result, StoreError};
use crate::hash_ahead::hash_ahead;
use crate::integrity::{ChunkTable, ContentHash};
use crate::meta::{RepoId, UploadRow};
use crate::{Store, random_id};

/// How often a publish retries while garbage collection holds the blob (100 ms apart).
const PUBLISH_ATTEMPTS: usize = 100;

/// Running hash of a session: valid for exactly `received` bytes.
struct RunningHash {
    received: u64,
    hash: ContentHash,
}

/// Running hashes kept between the requests of sessions at most (each is a few hundred bytes
/// plus 4 bytes per MiB received); beyond, an arbitrary one is dropped and its session hashes
/// its staged bytes again when it finishes.
const MAX_PARKED_HASHES: usize = 4096;

type SessionSlot = Arc<tokio::sync::Mutex<Option<RunningHash>>>;

/// Per-session locks (so two requests never write one session at once) and running hashes.
/// A slot leaves the table only when no request holds or waits for it: removing one that a
/// waiting request had already cloned would let the next request take a fresh lock and
/// write the session at the same time (a request for a made-up id or the wrong repository
/// must not be able to do that to a real session). The running hash of a slot that leaves
/// is parked until the session's next request.
#[derive(Default)]
pub(crate) struct Sessions {
    table: Mutex<SessionTable>,
}

#[derive(Default)]
struct SessionTable {
    slots: HashMap<String, SessionSlot>,
    parked: HashMap<String, RunningHash>,
}

/// A request's hold on a session's slot; its drop removes the slot once nobody else uses it.
struct Held<'a> {
    sessions: &'a Sessions,
    id: String,
    slot: Option<SessionSlot>,
}

impl Held<'_> {
    async fn lock(&self) -> tokio::sync::MutexGuard<'_, Option<RunningHash>> {
        self.slot.as_ref().expect("held until dropped").lock().await
    }

    fn try_lock(&self) -> Option<tokio::sync::MutexGuard<'_, Option<RunningHash>>> {
        self.slot
            .as_ref()
            .expect("held until dropped")
            .try_lock()
            .ok()
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        drop(self.slot.take());
        let mut table = self
            .sessions
            .table
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if table
            .slots
            .get(&self.id)
            .is_none_or(|s| Arc::strong_count(s) != 1)
        {
            return;
        }
        let Some(slot) = table.slots.remove(&self.id) else {
            return;
        };
        // Nobody else holds the slot, so its lock is free.
        let running = slot.try_lock().ok().and_then(|mut r| r.take());
        if let Some(running) = running {
            if table.parked.len() >= MAX_PARKED_HASHES {
                let evict = table.parked.keys().next().cloned();
                if let Some(k) = evict {
                    table.parked.remove(&k);
                }
            }
            table.parked.insert(self.id.clone(), running);
        }
    }
}

/// The bytes of an upload as staged: its id, its part list and their total length.
struct Staged<'a> {
    id: &'a str,
    parts: &'a str,
    size: u64,
}

impl Sessions {
    fn hold(&self, id: &str) -> Held<'_> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let table = &mut *table;
        let slot = table
            .slots
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(table.parked.remove(id))))
            .clone();
        Held {
            sessions: self,
            id: id.to_owned(),
            slot: Some(slot),
        }
    }
}

/// A project's byte quota as an upload meets it: the repositories it covers (`scope`), the
/// limit, and how many bytes this request brings when it says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteQuota {
    pub scope: String,
    pub max: u64,
    pub incoming: Option<u64>,
}

/// Chunks one upload session may have (each is an object on S3, listed in the row).
const MAX_PARTS: usize = 10_000;

/// Room reserved at a time for a body of undeclared size: concurrent uploads of one project
/// each hold at most this much more than they received.
const RESERVE_STEP: u64 = 64 << 20;

/// The message a body over its project's quota ends with (the store makes it `Denied`).
const OVER_QUOTA: &str = "over the project's byte quota";

type Chunks<'a> = crate::hash_ahead::Body<'a>;

impl Store {
    /// Reserves room under `quota` for upload `id` (which staged `received` bytes) to reach
    /// `want` bytes; `Denied` when not even `need` fit.
    async fn reserve_room(&self, q: &ByteQuota, id: &str, want: u64, need: u64) -> Result<u64> {
        let room = self.meta.reserve_upload(&q.scope, id, want, q.max).await?;
        if room < need {
            self.meta.release_upload(id).await?;
            return Err(StoreError::Denied(format!(
                "quota of project {} exceeded: this upload needs room for {need} bytes, the \
                 project has room for {room}",
                q.scope
            )));
        }
        Ok(room)
    }

    /// `body` under `quota`: room for a declared size is reserved before the first byte
    /// (refused at once when it does not fit); an undeclared body reserves room step by step
    /// as it arrives, so several uploads of a project run at once but never together pass
    /// its quota. Without a quota, `body` as it is.
    async fn within_quota<'a, S, E>(
        &'a self,
        id: &'a str,
        received: u64,
        quota: Option<&'a ByteQuota>,
        body: S,
    ) -> Result<Chunks<'a>>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'a,
        E: std::fmt::Display,
    {
        let body = body.map(|c| c.map_err(|e| e.to_string()));
        let Some(q) = quota else {
            return Ok(Box::pin(body));
        };
        let reserved = match q.incoming {
            Some(n) => {
                let want = received.saturating_add(n);
                self.reserve_room(q, id, want, want).await?
            }
            None => {
                let want = received.saturating_add(RESERVE_STEP);
                self.reserve_room(q, id, want, received.saturating_add(1))
                    .await?
            }
        };
        let state = (Box::pin(body), received, reserved, false);
        Ok(Box::pin(futures_util::stream::unfold(
            state,
            move |(mut body, mut seen, mut reserved, done)| async move {
                if done {
                    return None;
                }
                let chunk = match body.next().await? {
                    Ok(c) => c,
                    Err(e) => return Some((Err(e), (body, seen, reserved, true))),
                };
                seen = seen.saturating_add(chunk.len() as u64);
                if seen > reserved {
                    let want = seen.saturating_add(RESERVE_STEP);
                    match self.meta.reserve_upload(&q.scope, id, want, q.max).await {
                        Ok(room) if room >= seen => reserved = room,
                        Ok(_) => {
                            return Some((
                                Err(OVER_QUOTA.to_owned()),
                                (body, seen, reserved, true),
                            ));
                        }
                        Err(e) => return Some((Err(e.to_string()), (body, seen, reserved, true))),
                    }
                }
                Some((Ok(chunk), (body, seen, reserved, false)))
            },
        )))
    }

    /// A body that ran out of quota becomes `Denied`.
    fn over_quota<T>(quota: Option<&ByteQuota>, r: Result<T>) -> Result<T> {
        let Some(q) = quota else { return r };
        match r {
            Err(StoreError::Body(m)) if m.contains(OVER_QUOTA) => Err(StoreError::Denied(format!(
                "quota of project {} exceeded while the upload arrived",
                q.scope
            ))),
            other => other,
        }
    }

    /// Opens a new upload session in `repo` and returns its id.
    pub async fn start_upload(&self, repo: &RepoName) -> Result<String> {
        let project = repo.as_str().split('/').next().unwrap_or(repo.as_str());
        let open = self.meta.upload_count(project).await?;
        if open >= self.config.max_upload_sessions {
            return Err(StoreError::Busy(format!(
                "project {project} has {open} open upload sessions, the most allowed; finish \
                 or cancel some (idle ones expire)"
            )));
        }
        let repo_id = self.repo_for_write(repo).await?;
        let id = random_id();
        self.blobs.create_upload(&id).await?;
        self.meta.create_upload(&id, repo_id).await?;
        Ok(id)
    }

    async fn session(&self, repo: &RepoName, id: &str) -> Result<UploadRow> {
        let unknown = || StoreError::UploadUnknown(id.to_owned());
        let repo_id = self.repo(repo).await?.ok_or_else(unknown)?;
        let row = self.meta.upload(id).await?.ok_or_else(unknown)?;
        if row.repo_id != repo_id {
            return Err(unknown());
        }
        Ok(row)
    }

    /// Bytes received so far by the session.
    pub async fn upload_status(&self, repo: &RepoName, id: &str) -> Result<u64> {
        Ok(self.session(repo, id).await?.received)
    }

    /// Appends `body` to the session. With `range` (`Content-Range` as start and length),
    /// the chunk must begin exactly at the current offset and carry exactly that many bytes;
    /// without, it is appended wherever the session is.
    /// `quota`: the project's byte quota (`None`: none); bytes beyond the room reserved
    /// under it are refused as `Denied`.
    pub async fn append_upload<S, E>(
        &self,
        repo: &RepoName,
        id: &str,
        range: Option<(u64, u64)>,
        body: S,
        quota: Option<&ByteQuota>,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let held = self.sessions.hold(id);
        let mut running = held.lock().await;
        let mut row = self.session(repo, id).await?;
        self.append_locked(&mut running, id, &mut row, range, body, quota)
            .await?;
        Ok(row.received)
    }

    /// Appends to the session `row` describes and updates `row` to the new state.
    async fn append_locked<S, E>(
        &self,
        running: &mut Option<RunningHash>,
        id: &str,
        row: &mut UploadRow,
        range: Option<(u64, u64)>,
        body: S,
        quota: Option<&ByteQuota>,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let result = self
            .append_reserved(running, id, row, range, body, quota)
            .await;
        // Released only now: until the append is recorded, its reservation is what keeps
        // its bytes counted against the quota.
        if quota.is_some()
            && let Err(e) = self.meta.release_upload(id).await
        {
            tracing::warn!(upload = id, error = %e, "could not release a quota reservation");
        }
        result
    }

    async fn append_reserved<S, E>(
        &self,
        running: &mut Option<RunningHash>,
        id: &str,
        row: &mut UploadRow,
        range: Option<(u64, u64)>,
        body: S,
        quota: Option<&ByteQuota>,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let received = row.received;
        if let Some((start, _)) = range
            && start != received
        {
            return Err(StoreError::RangeMismatch {
                expected: received,
                got: start,
            });
        }
        let hasher = match running.take() {
            Some(r) if r.received == received => Some(r.hash),
            _ if received == 0 => Some(ContentHash::new(Algorithm::Sha256)),
            _ => None,
        };
        if row.parts.matches(';').count() >= MAX_PARTS {
            return Err(StoreError::UploadInvalid(format!(
                "{id} has {MAX_PARTS} chunks, the most a session may have; finish it"
            )));
        }
        let body = self.within_quota(id, received, quota, body).await?;
        let (body, hashed) = match hasher {
            Some(hash) => {
                let (body, hashed) = hash_ahead(body, hash);
                (body, Some(hashed))
            }
            None => (body, None),
        };
        let limit = self.config.max_blob_bytes;
        let appended = self.blobs.append(id, received, body, limit).await;
        let (total, part) = Self::over_quota(quota, appended)?;
        let hasher = match hashed {
            Some(hashed) => hashed.await.ok(),
            None => None,
        };
        if let Some((_, declared)) = range
            && total - received != declared
        {
            // Not recorded: the next append truncates the staged bytes back to `received`.
            return Err(StoreError::SizeMismatch {
                declared,
                actual: total - received,
            });
        }
        if total == received {
            // Nothing arrived: nothing to record (and no part for the S3 backend to list).
            *running = hasher.map(|hash| RunningHash { received, hash });
            return Ok(());
        }
        let parts = format!("{}{part}", row.parts);
        if !self.meta.record_append(id, received, total, &parts).await? {
            return Err(StoreError::UploadRace(id.to_owned()));
        }
        *running = hasher.map(|hash| RunningHash {
            received: total,
            hash,
        });
        row.received = total;
        row.parts = parts;
        Ok(())
    }

    /// Appends an optional last chunk, checks the digest of everything received and publishes
    /// the blob into `repo`. Returns its size.
    pub async fn finish_upload<S, E>(
        &self,
        repo: &RepoName,
        id: &str,
        digest: &Digest,
        range: Option<(u64, u64)>,
        body: S,
        quota: Option<&ByteQuota>,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let held = self.sessions.hold(id);
        let mut running = held.lock().await;
        let mut row = self.session(repo, id).await?;
        self.append_locked(&mut running, id, &mut row, range, body, quota)
            .await?;
        let size = row.received;
        let (actual, table) = match running.take() {
            Some(r) if r.hash.algorithm() == digest.algorithm() => r.hash.finish(),
            _ => {
                self.rehash_upload(id, &row.parts, size, digest.algorithm())
                    .await?
            }
        };
        if &actual != digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        let staged = Staged {
            id,
            parts: &row.parts,
            size,
        };
        self.publish(row.repo_id, staged, digest, &table, true)
            .await?;
        Ok(size)
    }

    async fn rehash_upload(
        &self,
        id: &str,
        parts: &str,
        len: u64,
        alg: Algorithm,
    ) -> Result<(Digest, ChunkTable)> {
        let mut h = ContentHash::new(alg);
        let mut s = self.blobs.read_upload(id, parts, len).await?;
        while let Some(chunk) = s.next().await {
            h.update(&chunk?);
        }
        Ok(h.finish())
    }

    /// Publishes verified staged bytes as `digest` into `repo`: sync them, then in one
    /// transaction claim the blob row, rename the bytes into place (replacing an existing
    /// copy by identical bytes, which is also how a re-push heals a damaged blob), link the
    /// repository and end the session. Waits while garbage collection is deleting the same
    /// digest.
    async fn publish(
        &self,
        repo_id: RepoId,
        staged: Staged<'_>,
        digest: &Digest,
        table: &ChunkTable,
        session_row: bool,
    ) -> Result<()> {
        let Staged { id, parts, size } = staged;
        let table = table.to_text();
        self.blobs.sync_upload(id, parts, size).await?;
        for _ in 0..PUBLISH_ATTEMPTS {
            let mut tx = self.meta.begin().await?;
            let claimed = self
                .meta
                .claim_blob(&mut tx, digest.as_str(), size, &table)
                .await?;
            if !claimed {
                drop(tx);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            self.blobs.publish(id, parts, digest, size).await?;
            self.meta
                .link_blob(&mut tx, repo_id, digest.as_str())
                .await?;
            if session_row {
                self.meta.end_upload(&mut tx, id).await?;
            }
            tx.commit().await?;
            if let Err(e) = self.blobs.discard_staging(id, parts).await {
                // Harmless: upload expiry removes staging that belongs to no session.
                tracing::warn!(upload = id, error = %e, "could not remove staged chunks");
            }
            return Ok(());
        }
        Err(StoreError::Busy(format!(
            "blob {digest} is being garbage-collected; push it again"
        )))
    }

    /// Single-request upload (`POST ?digest=`): stage, verify, publish.
    pub async fn put_blob<S, E>(
        &self,
        repo: &RepoName,
        digest: &Digest,
        body: S,
        quota: Option<&ByteQuota>,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let repo_id = self.repo_for_write(repo).await?;
        // Under a quota the upload needs a session row to hold its reservation; without,
        // it is staged with no row (a crash leaves an orphan file, removed at start-up).
        let id = random_id();
        self.blobs.create_upload(&id).await?;
        let session_row = quota.is_some();
        if session_row {
            self.meta.create_upload(&id, repo_id).await?;
        }
        let result = async {
            let body = self.within_quota(&id, 0, quota, body).await?;
            let (body, hashed) = hash_ahead(body, ContentHash::new(digest.algorithm()));
            let limit = self.config.max_blob_bytes;
            let appended = self.blobs.append(&id, 0, body, limit).await;
            let (size, parts) = Self::over_quota(quota, appended)?;
            let (actual, table) = match hashed.await {
                Ok(hash) => hash.finish(),
                Err(_) => {
                    self.rehash_upload(&id, &parts, size, digest.algorithm())
                        .await?
                }
            };
            if &actual != digest {
                return Err(StoreError::DigestMismatch {
                    expected: digest.clone(),
                    actual,
                });
            }
            let staged = Staged {
                id: &id,
                parts: &parts,
                size,
            };
            self.publish(repo_id, staged, digest, &table, session_row)
                .await?;
            Ok(size)
        }
        .await;
        if result.is_err() {
            if session_row {
                self.meta.delete_upload(&id).await?;
            }
            self.blobs.delete_upload(&id).await?;
        }
        result
    }

    /// Cancels a session and drops what it received.
    pub async fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<()> {
        let held = self.sessions.hold(id);
        let mut running = held.lock().await;
        self.session(repo, id).await?;
        *running = None; // nothing to park: the session ends
        self.meta.delete_upload(id).await?;
        self.blobs.delete_upload(id).await?;
        Ok(())
    }

    /// Removes sessions idle for longer than the configured TTL and staging files that belong
    /// to no session and are as old. Returns how many were removed.
    pub async fn expire_uploads(&self) -> Result<usize> {
        let ttl = self.config.upload_ttl;
        let cutoff = self.now_ms() - i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut removed = 0;
        for id in self.meta.uploads_idle_since(Some(cutoff)).await? {
            let held = self.sessions.hold(&id);
            let Some(mut running) = held.try_lock() else {
                continue; // in use right now: not idle
            };
            *running = None;
            self.meta.delete_upload(&id).await?;
            self.blobs.delete_upload(&id).await?;
            removed += 1;
        }
        removed += self.remove_staging_without_session(Some(ttl)).await?;
        Ok(removed)
    }

    /// At start-up of the embedded store no request is in flight, so every staging file
    /// without a session row is the leftover of an interrupted single-request upload. Blobs
    /// shared with other replicas (S3, or local disk under shared metadata) may be staged by
    /// their requests right now: there only staging older than the upload TTL goes.
    pub(crate) async fn remove_orphaned_uploads(&self) -> Result<()> {
        let exclusive = self.meta.is_embedded() && self.config.s3.is_none();
        let min_age = (!exclusive).then_some(self.config.upload_ttl);
        let n = self.remove_staging_without_session(min_age).await?;
        if n > 0 {
            tracing::info!(removed = n, "removed staging files of interrupted uploads");
        }
        Ok(())
    }

    async fn remove_staging_without_session(&self, min_age: Option<Duration>) -> Result<usize> {
        let sessions: std::collections::HashSet<String> = self
            .meta
            .uploads_idle_since(None)
            .await?
            .into_iter()
            .collect();
        let now = SystemTime::now();
        let mut removed = 0;
        for (id, modified) in self.blobs.list_uploads().await? {
            let age = now.duration_since(modified).unwrap_or_default();
            let old_enough = min_age.is_none_or(|min| age >= min);
            if old_enough && !sessions.contains(&id) {
                self.blobs.delete_upload(&id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
