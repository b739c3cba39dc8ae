//! `pkcs11:` URIs (RFC 7512): which token, which object, which module, which PIN.
//!
//! Strict on purpose: every attribute of RFC 7512 is understood (or refused), a vendor
//! (`x-`) query attribute is ignored, and anything else is an error, because an attribute
//! zoll skipped would silently widen which key is used. The PIN is held in memory wiped on
//! drop, and neither `Debug` nor `Display` nor any error shows it.

use std::path::PathBuf;

use cryptoki::object::ObjectClass;
use zeroize::Zeroizing;

use crate::Error;
use crate::pin::PinSource;

/// Attribute values longer than this (before decoding) are refused: token labels are 32
/// bytes, and nothing in a URI needs more than a path.
const MAX_VALUE: usize = 4096;

/// `type=`: the class of the object the URI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    Private,
    Public,
    SecretKey,
    Cert,
    Data,
}

impl ObjectType {
    fn parse(text: &str) -> Option<ObjectType> {
        Some(match text {
            "private" => ObjectType::Private,
            "public" => ObjectType::Public,
            "secret-key" => ObjectType::SecretKey,
            "cert" => ObjectType::Cert,
            "data" => ObjectType::Data,
            _ => return None,
        })
    }

    /// The spelling in a URI.
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Private => "private",
            ObjectType::Public => "public",
            ObjectType::SecretKey => "secret-key",
            ObjectType::Cert => "cert",
            ObjectType::Data => "data",
        }
    }

    pub fn class(self) -> ObjectClass {
        match self {
            ObjectType::Private => ObjectClass::PRIVATE_KEY,
            ObjectType::Public => ObjectClass::PUBLIC_KEY,
            ObjectType::SecretKey => ObjectClass::SECRET_KEY,
            ObjectType::Cert => ObjectClass::CERTIFICATE,
            ObjectType::Data => ObjectClass::DATA,
        }
    }
}

/// A parsed `pkcs11:` URI that names one object (by `object=` label and/or `id=`). Made
/// only by [`Uri::parse`], so every `Uri` names its object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub(crate) token: Option<String>,
    pub(crate) manufacturer: Option<String>,
    pub(crate) serial: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) library_manufacturer: Option<String>,
    pub(crate) library_description: Option<String>,
    pub(crate) library_version: Option<(u8, u8)>,
    pub(crate) slot_description: Option<String>,
    pub(crate) slot_manufacturer: Option<String>,
    pub(crate) slot_id: Option<u64>,
    pub(crate) object: Option<String>,
    pub(crate) id: Option<Vec<u8>>,
    pub(crate) object_type: Option<ObjectType>,
    pub(crate) module_path: Option<PathBuf>,
    pub(crate) module_name: Option<String>,
    pub(crate) pin: Option<PinSource>,
    /// The text as given, redacted: what `Display` and error messages show.
    pub(crate) shown: String,
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::str::FromStr for Uri {
    type Err = Error;

    fn from_str(text: &str) -> Result<Uri, Error> {
        Uri::parse(text)
    }
}

impl Uri {
    /// Nothing given yet: the state parsing starts from (and tests build on).
    pub(crate) fn blank(shown: String) -> Uri {
        Uri {
            token: None,
            manufacturer: None,
            serial: None,
            model: None,
            library_manufacturer: None,
            library_description: None,
            library_version: None,
            slot_description: None,
            slot_manufacturer: None,
            slot_id: None,
            object: None,
            id: None,
            object_type: None,
            module_path: None,
            module_name: None,
            pin: None,
            shown,
        }
    }

    pub fn parse(text: &str) -> Result<Uri, Error> {
        let mut uri = Uri::blank(redact(text));
        match uri.read(text) {
            Ok(()) => Ok(uri),
            Err(reason) => Err(Error::Uri {
                uri: uri.shown,
                reason,
            }),
        }
    }

    fn read(&mut self, text: &str) -> Result<(), String> {
        let rest = text
            .strip_prefix("pkcs11:")
            .ok_or("a PKCS#11 URI must start with \"pkcs11:\"")?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (name, raw) = attr
                .split_once('=')
                .ok_or_else(|| format!("path attribute {} has no '='", path_name(attr)))?;
            self.path_attribute(name, decode(name, raw)?)?;
        }
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            // Never echoed: a query attribute may be a PIN written wrongly.
            let (name, raw) = attr.split_once('=').ok_or("a query attribute has no '='")?;
            self.query_attribute(name, decode(name, raw)?)?;
        }
        if self.object.is_none() && self.id.is_none() {
            return Err("name the key with object= or id=".into());
        }
        Ok(())
    }

    fn path_attribute(&mut self, name: &str, mut value: Zeroizing<Vec<u8>>) -> Result<(), String> {
        let value = std::mem::take(&mut *value);
        let text = || String::from_utf8(value.clone()).map_err(|_| format!("{name} is not UTF-8"));
        match name {
            "token" => set(&mut self.token, text()?, name),
            "manufacturer" => set(&mut self.manufacturer, text()?, name),
            "serial" => set(&mut self.serial, text()?, name),
            "model" => set(&mut self.model, text()?, name),
            "library-manufacturer" => set(&mut self.library_manufacturer, text()?, name),
            "library-description" => set(&mut self.library_description, text()?, name),
            "library-version" => {
                let v = version(&text()?)
                    .ok_or("library-version must be MAJOR or MAJOR.MINOR (0 to 255 each)")?;
                set(&mut self.library_version, v, name)
            }
            "slot-description" => set(&mut self.slot_description, text()?, name),
            "slot-manufacturer" => set(&mut self.slot_manufacturer, text()?, name),
            "slot-id" => {
                let id = decimal(&text()?).ok_or("slot-id must be a decimal number")?;
                set(&mut self.slot_id, id, name)
            }
            "object" => set(&mut self.object, text()?, name),
            "id" => set(&mut self.id, value, name),
            "type" => {
                let t = text()?;
                let t = ObjectType::parse(&t).ok_or_else(|| {
                    format!("type={t}: the types are private, public, secret-key, cert and data")
                })?;
                set(&mut self.object_type, t, name)
            }
            // A vendor path attribute narrows the match in a way zoll cannot apply.
            other if other.starts_with("x-") => Err(format!(
                "vendor path attribute {} is not understood",
                path_name(other)
            )),
            other if other.starts_with("pkcs11:") => Err(format!(
                "unknown path attribute {} (is \"pkcs11:\" written twice?)",
                path_name(other)
            )),
            other => Err(format!("unknown path attribute {}", path_name(other))),
        }
    }

    fn query_attribute(&mut self, name: &str, mut value: Zeroizing<Vec<u8>>) -> Result<(), String> {
        let secret = std::mem::take(&mut *value);
        let text = match String::from_utf8(secret) {
            Ok(text) => Zeroizing::new(text),
            Err(e) => {
                drop(Zeroizing::new(e.into_bytes()));
                return Err(format!("{} is not UTF-8", shown_name(name)));
            }
        };
        match name {
            "module-path" => set(&mut self.module_path, PathBuf::from(text.as_str()), name),
            "module-name" => {
                // Looked up in fixed system directories only: a '/' would let the URI
                // choose the file (that is what module-path says openly).
                if text.is_empty() || text.contains(['/', '\0']) {
                    return Err("module-name must be a bare module name (no '/')".into());
                }
                set(&mut self.module_name, text.to_string(), name)
            }
            "pin-value" | "pin-source" if self.pin.is_some() => {
                Err("the PIN is given twice (pin-value=, pin-source=)".into())
            }
            "pin-value" => {
                self.pin = Some(PinSource::Value(text));
                Ok(())
            }
            "pin-source" => {
                self.pin = Some(PinSource::file(&text));
                Ok(())
            }
            other if other.starts_with("x-") => Ok(()),
            other => Err(format!("unknown query attribute {}", shown_name(other))),
        }
    }

    /// `token=`, the token's label.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// `object=`, the object's label.
    pub fn object(&self) -> Option<&str> {
        self.object.as_deref()
    }

    /// `id=`, the object's CKA_ID.
    pub fn id(&self) -> Option<&[u8]> {
        self.id.as_deref()
    }

    pub fn slot_id(&self) -> Option<u64> {
        self.slot_id
    }

    /// `type=`, when given.
    pub fn object_type(&self) -> Option<ObjectType> {
        self.object_type
    }

    pub fn module_path(&self) -> Option<&std::path::Path> {
        self.module_path.as_deref()
    }

    pub fn module_name(&self) -> Option<&str> {
        self.module_name.as_deref()
    }

    pub fn pin_source(&self) -> Option<&PinSource> {
        self.pin.as_ref()
    }

    /// The PIN from `pin-value` or the `pin-source` file; `None` when the URI gives none.
    pub fn pin(&self) -> Result<Option<Zeroizing<String>>, Error> {
        self.pin
            .as_ref()
            .map(|p| p.read().map_err(|reason| self.error(reason)))
            .transpose()
    }

    /// The module file: `module-path` as given (it wins over `module-name`), or
    /// `module-name` found in the system's module directories; `None` when the URI names
    /// no module (the caller has its default, or refuses).
    pub fn module(&self) -> Result<Option<PathBuf>, Error> {
        if let Some(path) = &self.module_path {
            return Ok(Some(path.clone()));
        }
        let Some(name) = &self.module_name else {
            return Ok(None);
        };
        let dirs = crate::module_dirs();
        for dir in &dirs {
            for file in [format!("lib{name}.so"), format!("{name}.so")] {
                let path = dir.join(file);
                if path.is_file() {
                    return Ok(Some(path));
                }
            }
        }
        let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        Err(self.error(format!(
            "PKCS#11 module {name:?} not found in {}",
            dirs.join(", ")
        )))
    }

    /// An error about this URI (shown redacted).
    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::Uri {
            uri: self.shown.clone(),
            reason: reason.into(),
        }
    }
}

fn set<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{name} is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

/// Digits only: `str::parse` would also take a leading '+'.
fn decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `library-version`: `M` or `M.m` (RFC 7512 reads `M` as `M.0`).
fn version(text: &str) -> Option<(u8, u8)> {
    match text.split_once('.') {
        Some((major, minor)) => Some((decimal(major)?, decimal(minor)?)),
        None => Some((decimal(text)?, 0)),
    }
}

/// Percent-decodes one value. `%` must be followed by exactly two hex digits: a plain
/// `u8::from_str_radix` would also take `%+f`. The buffer is wiped on drop, since the
/// value may be the PIN.
fn decode(name: &str, raw: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    if raw.len() > MAX_VALUE {
        return Err(format!(
            "{} is longer than {MAX_VALUE} bytes",
            shown_name(name)
        ));
    }
    let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
    let bytes = raw.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let (Some(high), Some(low)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) else {
                return Err(format!(
                    "bad percent-encoding in {} ('%' takes two hex digits)",
                    shown_name(name)
                ));
            };
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// An attribute name for a message, or a stand-in when it does not look like one (it might
/// be a PIN written in the wrong place).
fn shown_name(name: &str) -> String {
    if plausible_name(name) && !mentions_pin(name) {
        format!("{name:?}")
    } else {
        "(not shown)".to_owned()
    }
}

/// A path attribute's name for a message. The path names things, it holds no secrets, so
/// more is shown than of a query name: anything short that does not speak of a PIN.
fn path_name(name: &str) -> String {
    if name.len() <= 64 && !mentions_pin(name) {
        format!("{name:?}")
    } else {
        "(not shown)".to_owned()
    }
}

/// Spelled like an attribute name (RFC 7512's names, vendor names): a letter, then letters,
/// digits, '-' or '_'. What is not may be a secret in the wrong place.
fn plausible_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether an attribute name, however spelled or escaped, speaks of a PIN.
fn mentions_pin(name: &str) -> bool {
    let mut decoded = Vec::with_capacity(name.len());
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                decoded.push(b);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    decoded.to_ascii_lowercase().windows(3).any(|w| w == b"pin")
}

/// `text` (a URI, or any key specification that may be one) fit for a message: the values
/// of query attributes other than `module-path`, `module-name` and `pin-source` are
/// replaced by `***`, and so is the value of any attribute whose name speaks of a PIN.
pub fn redact(text: &str) -> String {
    let (path, query) = match text.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (text, None),
    };
    let hide = |name: &str| format!("{name}=***");
    let path = path.split(';').map(|attr| match attr.split_once('=') {
        Some((name, _)) if mentions_pin(name) => hide(name),
        None if mentions_pin(attr) => "***".to_owned(),
        _ => attr.to_owned(),
    });
    let mut out = path.collect::<Vec<_>>().join(";");
    if let Some(query) = query {
        let query = query.split('&').map(|attr| match attr.split_once('=') {
            _ if attr.is_empty() => String::new(),
            Some(("module-path" | "module-name" | "pin-source", _)) => attr.to_owned(),
            Some((name, _)) if plausible_name(name) => hide(name),
            _ => "***".to_owned(),
        });
        out.push('?');
        out.push_str(&query.collect::<Vec<_>>().join("&"));
    }
    out
}

#[cfg(test)]
mod tests;
