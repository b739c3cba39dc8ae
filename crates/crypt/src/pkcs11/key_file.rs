//! A key on a token as `zoll encrypt`/`decrypt` are given it: a `pkcs11:` URI (read by
//! `zoll_pkcs11::Uri`, the one URI grammar), or ocicrypt's PKCS#11 key file, which adds the
//! environment the module needs:
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

use zoll_pkcs11::Uri;

use crate::error::Result;

/// A key object on a token, and the environment its module wants (a key file's
/// `module.env`; empty for a bare URI). The environment is not applied here: see
/// [`super::token`].
#[derive(Debug, Clone)]
pub struct TokenKey {
    /// Boxed: a URI is a few hundred bytes, and recipients are enums beside small keys.
    pub uri: Box<Uri>,
    pub env: BTreeMap<String, String>,
}

impl TokenKey {
    /// A bare `pkcs11:` URI.
    pub fn parse(text: &str) -> Result<TokenKey> {
        Ok(TokenKey {
            uri: Box::new(Uri::parse(text)?),
            env: BTreeMap::new(),
        })
    }
}

/// Reads an ocicrypt PKCS#11 key file (YAML). `None` if the text is not one.
pub fn parse_key_file(text: &str) -> Result<Option<TokenKey>> {
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
        Some(u) => Ok(Some(TokenKey {
            uri: Box::new(Uri::parse(&u)?),
            env,
        })),
    }
}
