//! Decisions remembered by everything they depend on — gate, repository, subject digest,
//! the signature artifacts present (their digests) and the policy version — so a new
//! signature or a new policy is a different key, never a stale hit. A time-to-live bounds
//! how long time-dependent checks (expiry, certificate validity) are trusted.
//! Identical questions asked concurrently are computed once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::PolicyError;
use crate::decision::Decision;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub gate: crate::Gate,
    pub registry: String,
    pub repository: String,
    pub subject: String,
    pub signatures: u64,
    pub policy_version: String,
}

type Slot = Arc<OnceCell<Result<Decision, PolicyError>>>;

pub struct DecisionCache {
    ttl: Duration,
    max_entries: usize,
    done: Mutex<HashMap<Key, (Instant, Decision)>>,
    inflight: Mutex<HashMap<Key, Slot>>,
}

/// How a decision was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    Cached,
    Computed,
    /// Waited for an identical concurrent computation.
    Coalesced,
}

impl DecisionCache {
    pub fn new(ttl: Duration, max_entries: usize) -> DecisionCache {
        DecisionCache {
            ttl,
            max_entries,
            done: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
        }
    }

    pub fn clear(&self) {
        self.done.lock().expect("not poisoned").clear();
    }

    fn lookup(&self, key: &Key) -> Option<Decision> {
        let done = self.done.lock().expect("not poisoned");
        done.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, d)| d.clone())
    }

    fn store(&self, key: Key, decision: &Decision) {
        if self.ttl.is_zero() || decision.provisional {
            return;
        }
        let mut done = self.done.lock().expect("not poisoned");
        if done.len() >= self.max_entries {
            done.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if done.len() >= self.max_entries {
                done.clear();
            }
        }
        done.insert(key, (Instant::now(), decision.clone()));
    }

    /// The cached decision for `key`, or the result of `compute` (run once for all
    /// concurrent callers with the same key).
    pub async fn get_or_compute<F>(
        &self,
        key: Key,
        compute: F,
    ) -> (Result<Decision, PolicyError>, Provenance)
    where
        F: std::future::Future<Output = Result<Decision, PolicyError>>,
    {
        if let Some(d) = self.lookup(&key) {
            return (Ok(d), Provenance::Cached);
        }
        let slot: Slot = self
            .inflight
            .lock()
            .expect("not poisoned")
            .entry(key.clone())
            .or_default()
            .clone();
        let mut ran = false;
        let result = slot
            .get_or_init(|| {
                ran = true;
                compute
            })
            .await
            .clone();
        {
            let mut inflight = self.inflight.lock().expect("not poisoned");
            if inflight.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                inflight.remove(&key);
            }
        }
        if let Ok(d) = &result {
            self.store(key, d);
        }
        let provenance = if ran {
            Provenance::Computed
        } else {
            Provenance::Coalesced
        };
        (result, provenance)
    }
}
