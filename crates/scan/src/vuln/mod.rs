//! Vulnerabilities: the offline OSV database, per-ecosystem version ordering, matching,
//! VEX/allowlist suppression, re-matching stored SBOMs and the gate conditions.

mod db;
mod gate;
mod matcher;
mod osv;
mod severity;
mod suppress;
pub mod version;

pub use db::{Db, Header, ImportReport, Source, import};
pub use gate::{Condition, Verdict, evaluate};
pub use matcher::{Finding, affects, match_catalog};
pub use osv::{Advisory, Affected, Event, normalize_name};
pub use severity::{Severity, cvss};
pub use suppress::{AllowEntry, Suppression, Suppressions};

use serde_json::Value;

/// An OSV record's JSON as the importer reads it, for the fuzz targets.
#[cfg(fuzzing)]
pub fn fuzz_osv_record(bytes: &[u8]) -> Option<Advisory> {
    serde_json::from_slice::<osv::OsvRecord>(bytes)
        .ok()
        .map(osv::OsvRecord::normalize)
}

use crate::error::ScanError;
use crate::sbom::{self, Subject};

/// Re-matches a stored CycloneDX SBOM (one zoll wrote) against the database: no layer is read.
pub fn rematch_sbom(cyclonedx: &Value, db: &Db) -> Result<(Subject, Vec<Finding>), ScanError> {
    let (subject, catalog) = sbom::from_cyclonedx(cyclonedx)?;
    Ok((subject, match_catalog(&catalog, db)))
}

/// Findings present in `new` but not in `old` (by id and package): what a database update made
/// newly affect an image, for the event the registry sends.
pub fn newly_affected<'a>(old: &[Finding], new: &'a [Finding]) -> Vec<&'a Finding> {
    new.iter()
        .filter(|n| n.suppressed.is_none())
        .filter(|n| !old.iter().any(|o| o.id == n.id && o.purl == n.purl))
        .collect()
}
