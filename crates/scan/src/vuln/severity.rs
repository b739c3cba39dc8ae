//! Severity levels and the CVSS v3.x base score (FIRST's specification formulas).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "medium" | "moderate" => Severity::Medium,
            "low" | "negligible" | "unimportant" => Severity::Low,
            "unknown" | "not yet assigned" | "end-of-life" => Severity::Unknown,
            _ => return None,
        })
    }

    pub fn from_score(score: f32) -> Severity {
        match score {
            s if s >= 9.0 => Severity::Critical,
            s if s >= 7.0 => Severity::High,
            s if s >= 4.0 => Severity::Medium,
            s if s > 0.0 => Severity::Low,
            _ => Severity::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "UNKNOWN",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// The severity and base score of a CVSS vector of any version: v2 (`AV:N/AC:L/Au:N/…`,
/// no prefix; NIST's bands, which have no critical), v3.0/v3.1 and v4.0 (`CVSS:4.0/…`), by
/// RustSec's `cvss` crate. `None` when the vector does not parse.
pub fn cvss(vector: &str) -> Option<(Severity, f32)> {
    let vector = vector.trim();
    // Every base metric must be there: the parser fills missing v4 ones with defaults,
    // which would score a truncated vector 0.
    let base: &[&str] = if vector.starts_with("CVSS:4") {
        &[
            "AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA",
        ]
    } else if vector.starts_with("CVSS:3") {
        &["AV", "AC", "PR", "UI", "S", "C", "I", "A"]
    } else {
        &["AV", "AC", "Au", "C", "I", "A"]
    };
    let present: Vec<&str> = vector
        .split('/')
        .filter_map(|m| m.split_once(':').map(|(k, _)| k))
        .collect();
    if !base.iter().all(|m| present.contains(m)) {
        return None;
    }
    let v: ::cvss::Cvss = vector.parse().ok()?;
    let severity = match v.severity() {
        ::cvss::Severity::None => Severity::Unknown,
        ::cvss::Severity::Low => Severity::Low,
        ::cvss::Severity::Medium => Severity::Medium,
        ::cvss::Severity::High => Severity::High,
        ::cvss::Severity::Critical => Severity::Critical,
    };
    let score = v.score();
    score.is_finite().then_some((severity, score as f32))
}
