//! PKCS#11 URIs (RFC 7512) and ocicrypt's PKCS#11 key files:
//!
//! ```yaml
//! pkcs11:
//!   uri: pkcs11:token=t;object=k;type=private?pin-value=1234&module-name=softhsm2
//! module:
//!   env:
//!     SOFTHSM2_CONF: /path/softhsm2.conf
//! ```
//!
//! Only this shape of YAML is read (two known sections, `key: value` lines), which is all
//! ocicrypt writes and documents.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{CryptError, Result};

fn bad(uri: &str, reason: impl Into<String>) -> CryptError {
    CryptError::InvalidSpec {
        spec: redact(uri),
        reason: reason.into(),
    }
}

/// The URI with any `pin-value` hidden, for messages.
pub fn redact(uri: &str) -> String {
    match uri.split_once('?') {
        None => uri.to_owned(),
        Some((path, query)) => {
            let q: Vec<String> = query
                .split('&')
                .map(|kv| {
                    if kv.starts_with("pin-value=") {
                        "pin-value=***".to_owned()
                    } else {
                        kv.to_owned()
                    }
                })
                .collect();
            format!("{path}?{}", q.join("&"))
        }
    }
}

/// A parsed `pkcs11:` URI.
#[derive(Clone, Default)]
pub struct Pkcs11Uri {
    pub path: BTreeMap<String, Vec<u8>>,
    pub query: BTreeMap<String, Vec<u8>>,
    /// Environment the module needs (from a key file's `module.env`).
    pub env: BTreeMap<String, String>,
    text: String,
}

impl std::fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact(&self.text))
    }
}

fn percent_decode(s: &str, uri: &str) -> Result<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(uri, "bad percent-encoding"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

impl Pkcs11Uri {
    pub fn parse(uri: &str) -> Result<Pkcs11Uri> {
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad(uri, "a PKCS#11 URI starts with pkcs11:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut parsed = Pkcs11Uri {
            text: uri.to_owned(),
            ..Default::default()
        };
        for (part, sep, target) in [
            (path, ';', &mut parsed.path),
            (query, '&', &mut parsed.query),
        ] {
            for attr in part.split(sep).filter(|a| !a.is_empty()) {
                let (k, v) = attr
                    .split_once('=')
                    .ok_or_else(|| bad(uri, format!("attribute {attr:?} has no value")))?;
                if target
                    .insert(k.to_owned(), percent_decode(v, uri)?)
                    .is_some()
                {
                    return Err(bad(uri, format!("attribute {k:?} given twice")));
                }
            }
        }
        if !parsed.path.contains_key("object") && !parsed.path.contains_key("id") {
            return Err(bad(uri, "the URI must name the key with object= or id="));
        }
        Ok(parsed)
    }

    pub fn path_str(&self, key: &str) -> Option<String> {
        self.path
            .get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// The PIN from `pin-value` or the file named by `pin-source`.
    pub fn pin(&self) -> Result<Option<String>> {
        if let Some(v) = self.query.get("pin-value") {
            return Ok(Some(String::from_utf8_lossy(v).into_owned()));
        }
        if let Some(src) = self.query.get("pin-source") {
            let path = String::from_utf8_lossy(src);
            let path = path.strip_prefix("file:").unwrap_or(&path);
            let pin = std::fs::read_to_string(path)
                .map_err(|e| bad(&self.text, format!("pin-source {path}: {e}")))?;
            return Ok(Some(pin.trim_end_matches(['\r', '\n']).to_owned()));
        }
        Ok(None)
    }

    /// The module to load: `module-path`, or `module-name` looked up in the usual
    /// directories (Debian's multiarch softhsm and pkcs11 directories among them).
    pub fn module(&self) -> Result<PathBuf> {
        if let Some(p) = self.query.get("module-path") {
            return Ok(PathBuf::from(String::from_utf8_lossy(p).into_owned()));
        }
        let name = self
            .query
            .get("module-name")
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or_else(|| {
                bad(
                    &self.text,
                    "the URI names no module (module-name= or module-path=)",
                )
            })?;
        if name.contains('/') {
            return Err(bad(&self.text, "module-name must be a bare name"));
        }
        let arch = std::env::consts::ARCH;
        let dirs = [
            format!("/usr/lib/{arch}-linux-gnu/softhsm"),
            format!("/usr/lib/{arch}-linux-gnu/pkcs11"),
            format!("/usr/lib/{arch}-linux-gnu"),
            "/usr/lib/softhsm".to_owned(),
            "/usr/lib64/pkcs11".to_owned(),
            "/usr/lib/pkcs11".to_owned(),
            "/usr/local/lib/pkcs11".to_owned(),
            "/usr/local/lib/softhsm".to_owned(),
        ];
        for dir in &dirs {
            for file in [format!("lib{name}.so"), format!("{name}.so")] {
                let p = PathBuf::from(dir).join(file);
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
        Err(bad(
            &self.text,
            format!("PKCS#11 module {name:?} not found in {}", dirs.join(", ")),
        ))
    }
}

/// Reads an ocicrypt PKCS#11 key file (YAML). `None` if the text is not one.
pub fn parse_key_file(text: &str) -> Result<Option<Pkcs11Uri>> {
    let mut section = "";
    let mut subsection = "";
    let mut uri = None;
    let mut env = BTreeMap::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let Some((key, value)) = trimmed.trim_start_matches("- ").split_once(':') else {
            return Ok(None);
        };
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        match (indent, value.is_empty()) {
            (0, true) => {
                section = if key == "pkcs11" {
                    "pkcs11"
                } else if key == "module" {
                    "module"
                } else {
                    ""
                };
                subsection = "";
            }
            (_, true) => subsection = if key == "env" { "env" } else { "" },
            (_, false) if section == "pkcs11" && key.trim() == "uri" => {
                // The URI itself contains ':' after the scheme: re-join.
                let full = trimmed
                    .trim_start_matches("- ")
                    .trim_start_matches("uri:")
                    .trim();
                uri = Some(full.trim_matches(|c| c == '"' || c == '\'').to_owned());
            }
            (_, false) if section == "module" && subsection == "env" => {
                env.insert(key.trim().to_owned(), value.to_owned());
            }
            _ => {}
        }
    }
    match uri {
        None => Ok(None),
        Some(u) => {
            let mut parsed = Pkcs11Uri::parse(&u)?;
            parsed.env = env;
            Ok(Some(parsed))
        }
    }
}
