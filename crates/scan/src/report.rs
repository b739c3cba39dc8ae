//! The machine-readable reports the CLI prints and the registry attaches as referrers: the
//! vulnerability + lint report (JSON), SARIF 2.1.0, and CycloneDX with its vulnerabilities.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::catalog::Distro;
use crate::job::Inspection;
use crate::lint::{Level, LintReport};
use crate::sbom::Subject;
use crate::vuln::{Finding, Severity};
use crate::walk::Warning;

/// Artifact types of the referrers the registry attaches to an image.
pub const ARTIFACT_CYCLONEDX: &str = "application/vnd.cyclonedx+json";
pub const ARTIFACT_SPDX: &str = "application/spdx+json";
pub const ARTIFACT_VULNERABILITIES: &str = "application/vnd.zoll.vulnerability-report.v1+json";
pub const ARTIFACT_LINT: &str = "application/vnd.zoll.lint-report.v1+json";

/// The `--format json` document and the stored vulnerability report.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub subject: Subject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distro: Option<Distro>,
    pub packages: usize,
    /// The version (digest) of the vulnerability database matched against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    pub vulnerabilities: Vec<Finding>,
    pub lint: LintReport,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

impl Report {
    pub fn new(
        inspection: &Inspection,
        findings: Vec<Finding>,
        database: Option<String>,
    ) -> Report {
        Report {
            subject: inspection.subject.clone(),
            distro: inspection.catalog.distro.clone(),
            packages: inspection.catalog.packages.len(),
            database,
            vulnerabilities: findings,
            lint: inspection.lint.clone(),
            warnings: inspection.warnings.clone(),
        }
    }
}

/// Keeps the findings whose severity is listed (all when the list is empty).
pub fn filter_severity(findings: Vec<Finding>, severities: &[Severity]) -> Vec<Finding> {
    if severities.is_empty() {
        return findings;
    }
    findings
        .into_iter()
        .filter(|f| severities.contains(&f.severity))
        .collect()
}

/// CycloneDX 1.6 with a `vulnerabilities` section (affects → component bom-refs; suppressed
/// findings carry an `analysis`).
pub fn cyclonedx_with_vulnerabilities(inspection: &Inspection, findings: &[Finding]) -> Value {
    let mut doc = inspection.cyclonedx();
    if findings.is_empty() {
        return doc;
    }
    let refs: Vec<(String, String)> = doc["components"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| {
                    Some((
                        c.get("purl")?.as_str()?.to_owned(),
                        c.get("bom-ref")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let vulns: Vec<Value> = findings
        .iter()
        .map(|f| {
            let affects: Vec<Value> = refs.iter().filter(|(p, _)| *p == f.purl).map(|(_, r)| json!({ "ref": r })).collect();
            let mut rating = json!({ "severity": f.severity.as_str().to_ascii_lowercase() });
            if let Some(s) = f.score {
                rating["score"] = cvss_score(s);
                rating["method"] = json!("CVSSv31");
            }
            let mut v = json!({
                "bom-ref": format!("{}:{}", f.id, f.purl),
                "id": f.id,
                "ratings": [rating],
                "affects": affects,
            });
            if !f.summary.is_empty() {
                v["description"] = json!(f.summary);
            }
            if let Some(fix) = &f.fixed {
                v["recommendation"] = json!(format!("upgrade to {fix}"));
            }
            if let Some(s) = &f.suppressed {
                v["analysis"] = json!({
                    "state": if s.by == "vex" && s.reason.starts_with("fixed") { "resolved" } else { "not_affected" },
                    "detail": format!("{}: {}", s.by, s.reason),
                });
            }
            v
        })
        .collect();
    doc["vulnerabilities"] = json!(vulns);
    doc
}

/// SARIF 2.1.0: one rule per vulnerability id and lint code, one result per finding.
pub fn sarif(inspection: &Inspection, findings: &[Finding]) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut results = Vec::new();
    for f in findings.iter().filter(|f| f.suppressed.is_none()) {
        if seen.insert(f.id.clone()) {
            rules.push(json!({
                "id": f.id,
                "shortDescription": { "text": if f.summary.is_empty() { f.id.clone() } else { f.summary.clone() } },
                "properties": { "security-severity": format!("{:.1}", f.score.unwrap_or(severity_score(f.severity))), "tags": ["vulnerability", f.severity.as_str()] },
            }));
        }
        results.push(json!({
            "ruleId": f.id,
            "level": match f.severity { Severity::Critical | Severity::High => "error", Severity::Medium => "warning", _ => "note" },
            "message": { "text": format!("{} {} {} is affected by {}{}", kind_label(f), f.package, f.version, f.id, f.fixed.as_ref().map(|x| format!("; fixed in {x}")).unwrap_or_default()) },
            "locations": [location(&inspection.subject, &f.location)],
        }));
    }
    for r in inspection
        .lint
        .results
        .iter()
        .filter(|r| r.level > Level::Pass)
    {
        if seen.insert(r.code.clone()) {
            rules.push(json!({ "id": r.code, "shortDescription": { "text": r.title }, "properties": { "tags": ["lint"] } }));
        }
        for a in if r.alerts.is_empty() {
            vec![r.title.clone()]
        } else {
            r.alerts.clone()
        } {
            results.push(json!({
                "ruleId": r.code,
                "level": match r.level { Level::Fatal => "error", Level::Warn => "warning", _ => "note" },
                "message": { "text": a },
                "locations": [location(&inspection.subject, "/")],
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": { "name": "zoll", "version": env!("CARGO_PKG_VERSION"), "informationUri": "https://zoll.invalid/", "rules": rules } },
            "results": results,
        }],
    })
}

fn location(subject: &Subject, path: &str) -> Value {
    json!({ "physicalLocation": { "artifactLocation": { "uri": format!("{}{}", subject.name.trim_end_matches('/'), path) } } })
}

fn kind_label(f: &Finding) -> &'static str {
    crate::sbom::kind_label(f.kind)
}

/// A CVSS score as JSON with its one decimal: the f32 widened as is prints 9.800000190734863.
fn cvss_score(score: f32) -> Value {
    json!((f64::from(score) * 10.0).round() / 10.0)
}

fn severity_score(s: Severity) -> f32 {
    match s {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Unknown => 0.0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scores_keep_their_one_decimal() {
        // Without rounding, 9.8 as f32 widened to f64 prints 9.800000190734863.
        assert_eq!(super::cvss_score(9.8).to_string(), "9.8");
        assert_eq!(super::cvss_score(7.5).to_string(), "7.5");
        assert_eq!(super::cvss_score(10.0).to_string(), "10.0");
    }
}
