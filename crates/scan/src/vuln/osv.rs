//! The OSV schema (what `zoll db import` reads) and its normalisation into the compact
//! [`Advisory`] records the database keeps.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::severity::{Severity, cvss};

#[derive(Deserialize)]
pub struct OsvRecord {
    pub id: String,
    #[serde(default)]
    pub modified: String,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub severity: Vec<OsvSeverity>,
    #[serde(default)]
    pub affected: Vec<OsvAffected>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Deserialize)]
pub struct OsvSeverity {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Deserialize)]
pub struct OsvAffected {
    pub package: Option<OsvPackage>,
    #[serde(default)]
    pub ranges: Vec<OsvRange>,
    #[serde(default)]
    pub versions: Vec<String>,
    #[serde(default)]
    pub severity: Vec<OsvSeverity>,
    #[serde(default)]
    pub ecosystem_specific: Option<Value>,
    #[serde(default)]
    pub database_specific: Option<Value>,
}

#[derive(Deserialize)]
pub struct OsvPackage {
    pub ecosystem: String,
    pub name: String,
}

#[derive(Deserialize)]
pub struct OsvRange {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub events: Vec<Value>,
}

/// One advisory as stored: only what matching and reports need.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Advisory {
    pub id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub modified: String,
    /// Withdrawn advisories are kept (so an older copy imported later cannot revive them) and
    /// never match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub withdrawn: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    pub affected: Vec<Affected>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Affected {
    /// The OSV ecosystem with its release: `Debian:12`, `Alpine:v3.20`, `PyPI`.
    pub ecosystem: String,
    /// Normalised package name (Debian: the source package).
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Vec<Event>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Severity specific to this package (distro urgency), overriding the advisory's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
}

/// Bytes of summary kept per advisory.
const MAX_SUMMARY: usize = 240;

impl OsvRecord {
    pub fn normalize(self) -> Advisory {
        let (mut severity, mut score) =
            severity_of(&self.severity, self.database_specific.as_ref());
        let affected: Vec<Affected> = self
            .affected
            .into_iter()
            .filter_map(|a| {
                let p = a.package?;
                let ranges = a
                    .ranges
                    .iter()
                    .filter(|r| r.kind == "ECOSYSTEM" || r.kind == "SEMVER")
                    .map(|r| r.events.iter().filter_map(event).collect::<Vec<_>>())
                    .filter(|e: &Vec<Event>| !e.is_empty())
                    .collect();
                let (sev, sc) = severity_of(&a.severity, a.database_specific.as_ref());
                let distro_sev = a
                    .ecosystem_specific
                    .as_ref()
                    .and_then(|e| e.get("urgency").or_else(|| e.get("severity")))
                    .and_then(Value::as_str)
                    .and_then(Severity::parse);
                if severity == Severity::Unknown && sev != Severity::Unknown {
                    severity = sev;
                    score = score.or(sc);
                }
                Some(Affected {
                    name: normalize_name(&p.ecosystem, &p.name),
                    ecosystem: p.ecosystem,
                    ranges,
                    versions: a.versions,
                    severity: distro_sev.filter(|s| *s != Severity::Unknown),
                })
            })
            .collect();
        let summary = self.summary.or(self.details).unwrap_or_default();
        let summary = summary
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(MAX_SUMMARY)
            .collect();
        Advisory {
            id: self.id,
            aliases: self.aliases,
            modified: self.modified,
            withdrawn: self.withdrawn.is_some(),
            summary,
            severity,
            score,
            affected,
        }
    }
}

fn event(v: &Value) -> Option<Event> {
    let o = v.as_object()?;
    let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
    s("introduced")
        .map(Event::Introduced)
        .or_else(|| s("fixed").map(Event::Fixed))
        .or_else(|| s("last_affected").map(Event::LastAffected))
}

/// The advisory's severity: the worst of its CVSS vectors (v2, v3 and v4 are all scored;
/// a gate must not pass an advisory because its only vector is of a newer version), else
/// the database's own word for it.
fn severity_of(list: &[OsvSeverity], db: Option<&Value>) -> (Severity, Option<f32>) {
    let scored = list
        .iter()
        .filter(|s| matches!(s.kind.as_str(), "CVSS_V2" | "CVSS_V3" | "CVSS_V4"))
        .filter_map(|s| cvss(&s.score))
        .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    if let Some((severity, score)) = scored {
        return (severity, Some(score));
    }
    let named = db
        .and_then(|d| d.get("severity"))
        .and_then(Value::as_str)
        .and_then(Severity::parse);
    (named.unwrap_or(Severity::Unknown), None)
}

/// Names as each ecosystem compares them: PyPI per PEP 503, the rest as written.
pub fn normalize_name(ecosystem: &str, name: &str) -> String {
    if ecosystem == "PyPI" {
        let mut out = String::with_capacity(name.len());
        let mut last_sep = false;
        for c in name.chars() {
            if matches!(c, '-' | '_' | '.') {
                if !last_sep {
                    out.push('-');
                }
                last_sep = true;
            } else {
                out.push(c.to_ascii_lowercase());
                last_sep = false;
            }
        }
        out
    } else {
        name.to_owned()
    }
}
