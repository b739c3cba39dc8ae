//! Suppressing findings: OpenVEX statements (`not_affected` / `fixed`) and allowlist entries
//! with a reason, an author and an expiry. An expired entry suppresses nothing and is reported.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::matcher::Finding;
use crate::error::ScanError;
use crate::sbom::time::parse_date;

/// Why a finding is suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// `vex` or `allowlist`.
    pub by: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// One VEX statement, reduced to what suppression needs.
#[derive(Debug, Clone)]
struct VexStatement {
    vulnerability: Vec<String>,
    products: Vec<String>,
    status: String,
    reason: String,
    author: Option<String>,
}

/// An allowlist entry (`[[allow]]` in a TOML file).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct AllowEntry {
    /// CVE or advisory id.
    pub id: String,
    /// Package name, source package name or purl prefix the entry is limited to; every
    /// package when absent.
    #[serde(default)]
    pub package: Option<String>,
    pub reason: String,
    pub author: String,
    /// `YYYY-MM-DD` (end of validity, UTC).
    pub expires: String,
}

#[derive(Deserialize)]
struct AllowFile {
    #[serde(default)]
    allow: Vec<AllowEntry>,
}

/// Everything that can suppress findings for one project.
#[derive(Debug, Clone, Default)]
pub struct Suppressions {
    vex: Vec<VexStatement>,
    allow: Vec<AllowEntry>,
}

/// Statements in one VEX document we read at most.
const MAX_STATEMENTS: usize = 100_000;

impl Suppressions {
    /// Adds the statements of an OpenVEX document.
    pub fn add_openvex(&mut self, doc: &Value) -> Result<(), ScanError> {
        let bad = |r: &str| ScanError::bad_input("OpenVEX document", r);
        if !doc
            .get("@context")
            .and_then(Value::as_str)
            .is_some_and(|c| c.contains("openvex"))
        {
            return Err(bad("no OpenVEX @context"));
        }
        let author = doc.get("author").and_then(Value::as_str).map(str::to_owned);
        let statements = doc
            .get("statements")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no statements"))?;
        for s in statements.iter().take(MAX_STATEMENTS) {
            let vuln = s
                .get("vulnerability")
                .ok_or_else(|| bad("statement without vulnerability"))?;
            let mut ids = Vec::new();
            match vuln {
                Value::String(id) => ids.push(id.clone()),
                v => {
                    ids.extend(v.get("name").and_then(Value::as_str).map(str::to_owned));
                    ids.extend(v.get("@id").and_then(Value::as_str).map(str::to_owned));
                    if let Some(a) = v.get("aliases").and_then(Value::as_array) {
                        ids.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                }
            }
            let mut products = Vec::new();
            for p in s
                .get("products")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                match p {
                    Value::String(id) => products.push(id.clone()),
                    p => {
                        products.extend(p.get("@id").and_then(Value::as_str).map(str::to_owned));
                        if let Some(ids) = p.pointer("/identifiers/purl").and_then(Value::as_str) {
                            products.push(ids.to_owned());
                        }
                        for sub in p
                            .get("subcomponents")
                            .and_then(Value::as_array)
                            .map(Vec::as_slice)
                            .unwrap_or(&[])
                        {
                            products
                                .extend(sub.get("@id").and_then(Value::as_str).map(str::to_owned));
                        }
                    }
                }
            }
            let status = s
                .get("status")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("statement without status"))?
                .to_owned();
            let reason = s
                .get("justification")
                .or_else(|| s.get("impact_statement"))
                .or_else(|| s.get("status_notes"))
                .and_then(Value::as_str)
                .unwrap_or(&status)
                .to_owned();
            self.vex.push(VexStatement {
                vulnerability: ids,
                products,
                status,
                reason,
                author: author.clone(),
            });
        }
        Ok(())
    }

    /// Adds the entries of an allowlist file; every entry needs a reason, an author and a
    /// valid expiry date.
    pub fn add_allowlist_toml(&mut self, text: &str, origin: &str) -> Result<(), ScanError> {
        let f: AllowFile = toml::from_str(text)
            .map_err(|e| ScanError::bad_input(origin, e.message().to_owned()))?;
        for e in f.allow {
            if e.reason.trim().is_empty() || e.author.trim().is_empty() {
                return Err(ScanError::bad_input(
                    origin,
                    format!("allowlist entry {} needs a reason and an author", e.id),
                ));
            }
            if parse_date(&e.expires).is_none() {
                return Err(ScanError::bad_input(
                    origin,
                    format!(
                        "allowlist entry {}: expires {:?} is not YYYY-MM-DD",
                        e.id, e.expires
                    ),
                ));
            }
            self.allow.push(e);
        }
        Ok(())
    }

    /// Loads a file by its content: OpenVEX JSON or an allowlist TOML.
    pub fn add_file(&mut self, path: &Path) -> Result<(), ScanError> {
        let text =
            std::fs::read_to_string(path).map_err(ScanError::io(path.display().to_string()))?;
        if text.trim_start().starts_with('{') {
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| ScanError::bad_input(path.display().to_string(), e))?;
            self.add_openvex(&doc)
        } else {
            self.add_allowlist_toml(&text, &path.display().to_string())
        }
    }

    /// Allowlist entries past their expiry at `now` (seconds since the epoch).
    pub fn expired(&self, now: u64) -> Vec<&AllowEntry> {
        self.allow.iter().filter(|e| !valid_at(e, now)).collect()
    }

    /// Marks the findings these statements suppress. `subject` names the image (reference,
    /// digest or `pkg:oci` purl) for VEX products that name the image rather than a package.
    pub fn apply(&self, findings: &mut [Finding], subject: &[&str], now: u64) {
        for f in findings.iter_mut() {
            f.suppressed = self.suppression_for(f, subject, now);
        }
    }

    fn suppression_for(&self, f: &Finding, subject: &[&str], now: u64) -> Option<Suppression> {
        for s in &self.vex {
            if !s.vulnerability.iter().any(|v| f.ids().any(|id| id == v)) {
                continue;
            }
            if !(s.status == "not_affected" || s.status == "fixed") {
                continue;
            }
            if s.products
                .iter()
                .any(|p| product_matches(p, &f.purl, subject))
            {
                return Some(Suppression {
                    by: "vex".into(),
                    reason: format!("{}: {}", s.status, s.reason),
                    author: s.author.clone(),
                    expires: None,
                });
            }
        }
        for e in &self.allow {
            if !f.ids().any(|id| id == e.id) || !valid_at(e, now) {
                continue;
            }
            let applies = match &e.package {
                None => true,
                Some(p) if p.starts_with("pkg:") => f.purl.starts_with(p.as_str()),
                Some(p) => *p == f.package || f.source.as_deref() == Some(p.as_str()),
            };
            if applies {
                return Some(Suppression {
                    by: "allowlist".into(),
                    reason: e.reason.clone(),
                    author: Some(e.author.clone()),
                    expires: Some(e.expires.clone()),
                });
            }
        }
        None
    }
}

impl Suppressions {
    /// Allowlist entries valid at `now` that match none of `findings` (a typo in an id or a
    /// package, or a vulnerability fixed since): reported, so that a stale entry is seen.
    pub fn unmatched<'a>(&'a self, findings: &[Finding], now: u64) -> Vec<&'a AllowEntry> {
        self.allow
            .iter()
            .filter(|e| valid_at(e, now))
            .filter(|e| {
                !findings.iter().any(|f| {
                    f.suppressed
                        .as_ref()
                        .is_some_and(|s| s.by == "allowlist" && s.reason == e.reason)
                        && f.ids().any(|id| id == e.id)
                })
            })
            .collect()
    }
}

fn valid_at(e: &AllowEntry, now: u64) -> bool {
    // Valid through the whole expiry day.
    parse_date(&e.expires).is_some_and(|t| now < t + 86_400)
}

/// A VEX product matches a package purl (qualifiers ignored; a product without version matches
/// every version) or names the image itself.
fn product_matches(product: &str, purl: &str, subject: &[&str]) -> bool {
    if subject
        .iter()
        .any(|s| !s.is_empty() && (product == *s || product.ends_with(&format!("@{s}"))))
    {
        return true;
    }
    let strip = |p: &str| p.split(['?', '#']).next().unwrap_or(p).to_owned();
    let (product, purl) = (strip(product), strip(purl));
    if product == purl {
        return true;
    }
    !product.contains('@') && purl.split('@').next() == Some(product.as_str())
}
