//! Matching a catalog against the database: each package is looked up under the ecosystem and
//! name its advisories use (Debian and Ubuntu: the source package; Alpine: the origin), and its
//! version is placed in each range with that ecosystem's ordering.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::db::Db;
use super::osv::{Affected, Event, normalize_name};
use super::severity::Severity;
use super::suppress::Suppression;
use super::version::Scheme;
use crate::catalog::{Catalog, Distro, Package, PackageKind};

/// One vulnerability in one package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The advisory id; a CVE alias is preferred when the advisory has exactly one.
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    pub package: String,
    /// The source package it was built from (Debian's `Source:`, Alpine's origin), when
    /// that differs in name: what advisories and allowlists often name (`openssl` for
    /// `libssl3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub version: String,
    pub purl: String,
    pub kind: PackageKind,
    /// The version that fixes it in this package's ecosystem, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    pub location: String,
    /// Set when a VEX statement or an allowlist entry suppresses the finding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Suppression>,
}

impl Finding {
    /// Every id the finding is known by.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

/// The (ecosystem, name, version) a package's advisories are filed under.
fn lookup_keys(p: &Package, distro: Option<&Distro>) -> Vec<(String, String, String)> {
    let os = || distro.and_then(Distro::osv_ecosystem);
    match p.kind {
        PackageKind::Deb | PackageKind::Apk => {
            let Some(eco) = os() else { return Vec::new() };
            let name = p.source_name.clone().unwrap_or_else(|| p.name.clone());
            // Advisories name the source version: a binary rebuilt from a newer source keeps
            // its own version, but the source's decides whether the fix is in.
            let version = p
                .source_version
                .clone()
                .unwrap_or_else(|| p.version.clone());
            vec![(eco, name, version)]
        }
        PackageKind::Rpm => {
            let Some(eco) = os() else { return Vec::new() };
            let mut keys = vec![(eco.clone(), p.name.clone(), p.version.clone())];
            if let Some(src) = &p.source_name
                && src != &p.name
            {
                keys.push((eco, src.clone(), p.version.clone()));
            }
            keys
        }
        PackageKind::Python => vec![(
            "PyPI".into(),
            normalize_name("PyPI", &p.name),
            p.version.clone(),
        )],
        PackageKind::Npm => vec![("npm".into(), p.name.clone(), p.version.clone())],
        PackageKind::Go => vec![("Go".into(), p.name.clone(), p.version.clone())],
        PackageKind::GoStdlib => vec![("Go".into(), "stdlib".into(), p.version.clone())],
        PackageKind::Rust => vec![("crates.io".into(), p.name.clone(), p.version.clone())],
        PackageKind::Java => match &p.source_name {
            Some(group) => vec![(
                "Maven".into(),
                format!("{group}:{}", p.name),
                p.version.clone(),
            )],
            None => Vec::new(),
        },
    }
}

/// Whether `version` is affected by one `affected` entry, and the fix if there is one.
pub fn affects(aff: &Affected, scheme: Scheme, version: &str) -> (bool, Option<String>) {
    let v = version.trim_start_matches('v');
    if aff.versions.iter().any(|x| x.trim_start_matches('v') == v) {
        return (true, first_fix_above(aff, scheme, v));
    }
    for events in &aff.ranges {
        if in_range(events, scheme, v) {
            return (true, first_fix_above(aff, scheme, v));
        }
    }
    (false, None)
}

/// OSV range evaluation: events in version order; `introduced` opens, `fixed` closes at the
/// version, `last_affected` closes after it. `0` is below every version.
fn in_range(events: &[Event], scheme: Scheme, v: &str) -> bool {
    let key = |e: &Event| -> String {
        match e {
            Event::Introduced(x) | Event::Fixed(x) | Event::LastAffected(x) => {
                x.trim_start_matches('v').to_owned()
            }
        }
    };
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        match (ka.as_str(), kb.as_str()) {
            ("0", "0") => Ordering::Equal,
            ("0", _) => Ordering::Less,
            (_, "0") => Ordering::Greater,
            _ => scheme.compare(&ka, &kb),
        }
    });
    let mut affected = false;
    for e in sorted {
        match e {
            Event::Introduced(x) => {
                let x = x.trim_start_matches('v');
                if x == "0" || scheme.compare(v, x) != Ordering::Less {
                    affected = true;
                }
            }
            Event::Fixed(x) => {
                let x = x.trim_start_matches('v');
                if x == "0" || scheme.compare(v, x) != Ordering::Less {
                    affected = false;
                }
            }
            Event::LastAffected(x) => {
                if scheme.compare(v, x.trim_start_matches('v')) == Ordering::Greater {
                    affected = false;
                }
            }
        }
    }
    affected
}

fn first_fix_above(aff: &Affected, scheme: Scheme, v: &str) -> Option<String> {
    aff.ranges
        .iter()
        .flatten()
        .filter_map(|e| match e {
            Event::Fixed(x)
                if x != "0"
                    && scheme.compare(x.trim_start_matches('v'), v) == Ordering::Greater =>
            {
                Some(x.clone())
            }
            _ => None,
        })
        .min_by(|a, b| scheme.compare(a.trim_start_matches('v'), b.trim_start_matches('v')))
}

/// Matches every package of a catalog.
pub fn match_catalog(catalog: &Catalog, db: &Db) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for p in &catalog.packages {
        let mut found: Vec<Finding> = Vec::new();
        for (eco, name, version) in lookup_keys(p, catalog.distro.as_ref()) {
            let Some(scheme) = Scheme::for_ecosystem(&eco) else {
                continue;
            };
            for (adv, j) in db.candidates(&eco, &name) {
                if adv.withdrawn {
                    continue;
                }
                let aff = &adv.affected[j];
                let (hit, fixed) = affects(aff, scheme, &version);
                if !hit
                    || found
                        .iter()
                        .any(|f| f.id == adv.id || f.aliases.contains(&adv.id))
                {
                    continue;
                }
                let cves: Vec<&String> = adv
                    .aliases
                    .iter()
                    .filter(|a| a.starts_with("CVE-"))
                    .collect();
                let (id, aliases) = match cves.as_slice() {
                    [cve] if !adv.id.starts_with("CVE-") => {
                        let mut aliases = vec![adv.id.clone()];
                        aliases.extend(adv.aliases.iter().filter(|a| a != cve).cloned());
                        ((*cve).clone(), aliases)
                    }
                    _ => (adv.id.clone(), adv.aliases.clone()),
                };
                // The same CVE through two advisories (a DSA and the CVE record): keep one.
                if found.iter().any(|f| f.id == id) {
                    continue;
                }
                found.push(Finding {
                    id,
                    aliases,
                    severity: aff.severity.unwrap_or(adv.severity),
                    score: adv.score,
                    summary: adv.summary.clone(),
                    package: p.name.clone(),
                    source: p.source_name.clone().filter(|s| *s != p.name),
                    version: p.version.clone(),
                    purl: p.purl.clone(),
                    kind: p.kind,
                    fixed: fixed.map(|f| display_fix(p, &version, f)),
                    layer: p.layer,
                    location: p.location.clone(),
                    suppressed: None,
                });
            }
        }
        out.extend(found);
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.package.cmp(&b.package))
    });
    out
}

/// Fixes are stated for the source version; say so when the binary's version differs.
fn display_fix(p: &Package, matched_version: &str, fix: String) -> String {
    if matched_version != p.version && matches!(p.kind, PackageKind::Deb | PackageKind::Apk) {
        format!(
            "{fix} (source {})",
            p.source_name.as_deref().unwrap_or(&p.name)
        )
    } else {
        fix
    }
}
