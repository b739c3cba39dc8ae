//! A read-through cache for the manifest GET path: tag → digest and (repo, digest) → manifest.
//!
//! Exact, not eventually consistent: every write invalidates after its commit, and a reader
//! only fills an entry if no invalidation happened since it began its database read (the
//! generation check), so a slow reader can never re-insert a value a writer just replaced.
//! Valid only while one process owns the metadata (the embedded SQLite mode holds a lock on
//! the data directory); a shared database needs cross-replica invalidation first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use zoll_oci::Digest;

use crate::manifests::StoredManifest;
use crate::meta::RepoId;

#[derive(Default)]
struct Entries {
    tags: HashMap<RepoId, HashMap<String, Digest>>,
    manifests: HashMap<RepoId, HashMap<Digest, Arc<StoredManifest>>>,
    bytes: usize,
}

pub(crate) struct Cache {
    budget: usize,
    generation: AtomicU64,
    entries: RwLock<Entries>,
}

impl Cache {
    pub(crate) fn new(budget: usize) -> Self {
        Cache {
            budget,
            generation: AtomicU64::new(0),
            entries: RwLock::new(Entries::default()),
        }
    }

    /// Read before a database lookup whose result may be inserted.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn tag(&self, repo: RepoId, tag: &str) -> Option<Digest> {
        let e = self.entries.read().expect("poisoned");
        e.tags.get(&repo)?.get(tag).cloned()
    }

    pub(crate) fn manifest(&self, repo: RepoId, digest: &Digest) -> Option<Arc<StoredManifest>> {
        let e = self.entries.read().expect("poisoned");
        e.manifests.get(&repo)?.get(digest).cloned()
    }

    pub(crate) fn fill_tag(&self, generation: u64, repo: RepoId, tag: &str, digest: Digest) {
        self.fill(generation, tag.len() + 80, |e| {
            e.tags
                .entry(repo)
                .or_default()
                .insert(tag.to_owned(), digest);
        });
    }

    pub(crate) fn fill_manifest(&self, generation: u64, repo: RepoId, m: Arc<StoredManifest>) {
        self.fill(generation, m.content.len() + 160, |e| {
            e.manifests
                .entry(repo)
                .or_default()
                .insert(m.digest.clone(), m);
        });
    }

    fn fill(&self, generation: u64, cost: usize, insert: impl FnOnce(&mut Entries)) {
        if cost > self.budget / 4 {
            return;
        }
        let mut e = self.entries.write().expect("poisoned");
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if e.bytes + cost > self.budget {
            *e = Entries::default();
        }
        e.bytes += cost;
        insert(&mut e);
    }

    /// Call after committing any change to `repo`'s tags or manifests.
    pub(crate) fn invalidate_repo(&self, repo: RepoId) {
        let mut e = self.entries.write().expect("poisoned");
        self.generation.fetch_add(1, Ordering::AcqRel);
        e.tags.remove(&repo);
        e.manifests.remove(&repo);
    }
}
