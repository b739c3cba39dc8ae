//! Scanning inside the registry. Every pushed container image has a job row from its push
//! transaction; workers (on any replica) claim jobs, run `zoll-scan` on a blocking thread over
//! the store's verified blob streams, attach the CycloneDX SBOM, the vulnerability report and
//! the lint report as referrers of the image, index the findings per advisory id, and emit
//! `scan.completed` / `vulnerability.found` events. When the vulnerability database changes,
//! the one replica that advances the recorded database version re-matches every stored SBOM
//! (no layer is read) and emits an event for each image newly affected.
//!
//! Encrypted images are not scanned: their job ends in state `encrypted`.
//!
//! `worker` claims and runs jobs, `rematch` follows the database, `results` turns a scan's
//! output into referrers, index rows and events; the gate reads finished scans through
//! `scan_gate.rs`.

mod rematch;
mod results;
mod worker;

pub(crate) use rematch::read_doc;
pub use rematch::{refresh_db, watch_db};
pub use worker::{run_workers, scan_next};

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use zoll_scan::vuln::{Db, Suppressions};
/// `[scan]` settings.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// Concurrent scans in this process; 0 turns the workers off (jobs still queue).
    pub workers: usize,
    /// The OSV database `zoll db import` writes; absent file: SBOM and lint only.
    pub db: Option<PathBuf>,
    /// `<dir>/<project>/*.toml|*.json`: allowlists and OpenVEX documents per project.
    pub suppressions: Option<PathBuf>,
    /// A running job not finished within this goes back to the queue (crashed worker).
    pub lease: Duration,
    /// Failed scans are tried this often before they stay failed.
    pub max_attempts: u64,
    /// How often the database file is checked for a new version.
    pub db_check: Duration,
    pub limits: zoll_scan::Limits,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            workers: 1,
            db: None,
            suppressions: None,
            lease: Duration::from_secs(600),
            max_attempts: 3,
            db_check: Duration::from_secs(60),
            limits: zoll_scan::Limits::default(),
        }
    }
}

/// The scanner's state in one process: settings and the loaded database.
pub struct Scanner {
    pub settings: ScanSettings,
    /// Distinguishes this process's workers from other replicas' in claimed rows.
    owner: String,
    db: RwLock<Option<Arc<Db>>>,
    /// (modified, length) of the database file when it was loaded.
    loaded: Mutex<Option<(SystemTime, u64)>>,
    pub wakeup: tokio::sync::Notify,
}

impl Scanner {
    pub fn new(settings: ScanSettings) -> Scanner {
        Scanner {
            settings,
            owner: format!("scanner-{}", zoll_stdx::rand::hex_id(8)),
            db: RwLock::new(None),
            loaded: Mutex::new(None),
            wakeup: tokio::sync::Notify::new(),
        }
    }

    fn db(&self) -> Option<Arc<Db>> {
        self.db.read().expect("poisoned").clone()
    }

    /// The database file and its (modified, length) stamp, when it differs from what is
    /// loaded.
    fn changed_db(&self) -> Option<(PathBuf, (SystemTime, u64))> {
        let path = self.settings.db.as_ref()?;
        let m = std::fs::metadata(path).ok()?;
        let stamp = (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len());
        (*self.loaded.lock().expect("poisoned") != Some(stamp)).then(|| (path.clone(), stamp))
    }

    fn install_db(&self, db: Db, stamp: (SystemTime, u64)) {
        tracing::info!(version = %db.digest, advisories = db.advisories.len(), "vulnerability database loaded");
        *self.db.write().expect("poisoned") = Some(Arc::new(db));
        *self.loaded.lock().expect("poisoned") = Some(stamp);
    }

    fn suppressions(&self, project: &str) -> Suppressions {
        let mut s = Suppressions::default();
        let Some(dir) = &self.settings.suppressions else {
            return s;
        };
        let Ok(entries) = std::fs::read_dir(dir.join(project)) else {
            return s;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if let Err(e) = s.add_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "suppression file ignored");
            }
        }
        s
    }
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new(ScanSettings::default())
    }
}
