//! `pkcs11:` URIs (RFC 7512): which token, which object, which module, which PIN.

use std::path::PathBuf;
use std::str::FromStr;

use zeroize::Zeroizing;

use super::KeyError;

/// Where the PIN comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum PinSource {
    /// `pin-value=` in the URI itself.
    Value(Zeroizing<String>),
    /// `pin-source=` naming a file (`file:` URI or a plain path) holding the PIN.
    File(PathBuf),
}

impl std::fmt::Debug for PinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinSource::Value(_) => f.write_str("PinSource::Value(<redacted>)"),
            PinSource::File(p) => write!(f, "PinSource::File({})", p.display()),
        }
    }
}

impl PinSource {
    pub fn read(&self) -> Result<Zeroizing<String>, KeyError> {
        match self {
            PinSource::Value(v) => Ok(v.clone()),
            PinSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    KeyError::Pkcs11Uri(format!("pin-source {}: {e}", path.display()))
                })?;
                Ok(Zeroizing::new(
                    text.trim_end_matches(['\r', '\n']).to_owned(),
                ))
            }
        }
    }
}

/// A parsed `pkcs11:` URI. Only the attributes zoll uses are kept; other standard path
/// attributes (manufacturer, serial, model, library-*) narrow the token search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub token: Option<String>,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
    pub slot_id: Option<u64>,
    pub module_path: Option<PathBuf>,
    pub pin: Option<PinSource>,
}

/// Attribute values longer than this are refused (labels are 32 bytes on most tokens).
const MAX_VALUE: usize = 4096;

impl FromStr for Pkcs11Uri {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Pkcs11Uri, KeyError> {
        let bad = |m: String| KeyError::Pkcs11Uri(m);
        let rest = text
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("must start with \"pkcs11:\"".into()))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| bad(format!("path attribute {attr:?} has no '='")))?;
            let value = percent_decode(value)?;
            let text = || {
                String::from_utf8(value.clone()).map_err(|_| bad(format!("{name} is not UTF-8")))
            };
            match name {
                "token" => set(&mut uri.token, text()?, name)?,
                "manufacturer" => set(&mut uri.manufacturer, text()?, name)?,
                "serial" => set(&mut uri.serial, text()?, name)?,
                "model" => set(&mut uri.model, text()?, name)?,
                "object" => set(&mut uri.object, text()?, name)?,
                "id" => set(&mut uri.id, value, name)?,
                "slot-id" => {
                    let n = text()?
                        .parse()
                        .map_err(|_| bad("slot-id must be a decimal number".into()))?;
                    set(&mut uri.slot_id, n, name)?
                }
                // The object class is implied: zoll signs with private keys.
                "type" => {
                    let t = text()?;
                    if t != "private" {
                        return Err(bad(format!(
                            "type={t}: a signing key URI names the private key"
                        )));
                    }
                }
                "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer" => {}
                other => return Err(bad(format!("unknown path attribute {other:?}"))),
            }
        }
        for attr in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|a| !a.is_empty())
        {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| bad(format!("query attribute {attr:?} has no '='")))?;
            let value = String::from_utf8(percent_decode(value)?)
                .map_err(|_| bad(format!("{name} is not UTF-8")))?;
            match name {
                "module-path" => set(&mut uri.module_path, PathBuf::from(value), name)?,
                "pin-value" => set(&mut uri.pin, PinSource::Value(Zeroizing::new(value)), name)?,
                "pin-source" => {
                    let path = value
                        .strip_prefix("file:")
                        .unwrap_or(&value)
                        .trim_start_matches("//");
                    let path = if value.starts_with("file:") && !path.starts_with('/') {
                        format!("/{path}")
                    } else {
                        path.to_owned()
                    };
                    set(&mut uri.pin, PinSource::File(PathBuf::from(path)), name)?
                }
                "module-name" => {
                    return Err(bad("module-name is not supported: give module-path".into()))
                }
                other if other.starts_with("x-") => {}
                other => return Err(bad(format!("unknown query attribute {other:?}"))),
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(bad("name the key with object= or id=".into()));
        }
        Ok(uri)
    }
}

fn set<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), KeyError> {
    if slot.is_some() {
        return Err(KeyError::Pkcs11Uri(format!("{name} is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

fn percent_decode(text: &str) -> Result<Vec<u8>, KeyError> {
    if text.len() > MAX_VALUE {
        return Err(KeyError::Pkcs11Uri("attribute value too long".into()));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| KeyError::Pkcs11Uri(format!("bad percent-encoding in {text:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}
