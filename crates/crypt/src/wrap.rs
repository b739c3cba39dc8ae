//! The encryption annotations of a layer descriptor: wrapping the private options for
//! recipients, unwrapping them with keys, and re-wrapping (adding and removing recipients)
//! without touching the layer data.
//!
//! Each `org.opencontainers.image.enc.keys.<scheme>` value is a comma-separated list of
//! base64 wrapped keys (ocicrypt appends to the list when recipients are added).

use std::collections::BTreeMap;

use base64::Engine;
use zoll_oci::Digest;

use crate::error::{CryptError, Result, malformed};
use crate::keyprovider::ProviderKey;
use crate::options::{PrivateOptions, PublicOptions};
use crate::pkcs11::{self, OaepHash, Pkcs11Recipient};
use crate::spec::{KeyRing, Recipient};
use crate::{jwe, pkcs7};

pub const PUBOPTS: &str = "org.opencontainers.image.enc.pubopts";
pub const ANNOTATION_PREFIX: &str = "org.opencontainers.image.enc.";
const KEYS_PREFIX: &str = "org.opencontainers.image.enc.keys.";

/// Encryption annotation values larger than this are refused.
const MAX_ANNOTATION: usize = 1 << 20;
/// Wrapped keys per annotation.
const MAX_WRAPPED: usize = 256;

/// How the pkcs11 scheme pads.
#[derive(Debug, Clone, Copy)]
pub struct WrapSettings {
    pub pkcs11_oaep_hash: OaepHash,
}

impl Default for WrapSettings {
    /// ocicrypt's default (SHA-256) unless `OCICRYPT_OAEP_HASHALG` says otherwise.
    fn default() -> Self {
        let hash = std::env::var("OCICRYPT_OAEP_HASHALG")
            .ok()
            .and_then(|h| OaepHash::parse(&h).ok())
            .unwrap_or(OaepHash::Sha256);
        WrapSettings {
            pkcs11_oaep_hash: hash,
        }
    }
}

/// Whether a descriptor's annotations mark it encrypted.
pub fn is_encrypted(annotations: &BTreeMap<String, String>) -> bool {
    annotations.keys().any(|k| k.starts_with(KEYS_PREFIX))
}

/// Wraps `optsdata` for the recipients: annotation key → one new base64 wrapped key.
fn wrap_for(
    recipients: &[Recipient],
    optsdata: &[u8],
    settings: WrapSettings,
) -> Result<Vec<(String, String)>> {
    if recipients.is_empty() {
        return Err(CryptError::NoRecipients);
    }
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    let mut out = Vec::new();
    let jwe_keys: Vec<_> = recipients
        .iter()
        .filter_map(|r| {
            if let Recipient::Jwe(k) = r {
                Some(k.clone())
            } else {
                None
            }
        })
        .collect();
    if !jwe_keys.is_empty() {
        out.push((
            jwe::ANNOTATION.to_owned(),
            b64(jwe::wrap(&jwe_keys, optsdata)?),
        ));
    }
    let certs: Vec<_> = recipients
        .iter()
        .filter_map(|r| {
            if let Recipient::Pkcs7(c) = r {
                Some(c.clone())
            } else {
                None
            }
        })
        .collect();
    if !certs.is_empty() {
        out.push((
            pkcs7::ANNOTATION.to_owned(),
            b64(pkcs7::wrap(&certs, optsdata)?),
        ));
    }
    let p11: Vec<Pkcs11Recipient> = recipients
        .iter()
        .filter_map(|r| {
            if let Recipient::Pkcs11(p) = r {
                Some(p.clone())
            } else {
                None
            }
        })
        .collect();
    if !p11.is_empty() {
        out.push((
            pkcs11::ANNOTATION.to_owned(),
            b64(pkcs11::wrap(&p11, settings.pkcs11_oaep_hash, optsdata)?),
        ));
    }
    for r in recipients {
        if let Recipient::Provider(p) = r {
            out.push((p.annotation(), b64(p.wrap(optsdata)?)));
        }
    }
    Ok(out)
}

fn append(annotations: &mut BTreeMap<String, String>, key: String, value: String) {
    match annotations.get_mut(&key) {
        Some(existing) if !existing.is_empty() => {
            existing.push(',');
            existing.push_str(&value);
        }
        _ => {
            annotations.insert(key, value);
        }
    }
}

/// The annotations of a freshly encrypted layer.
pub fn annotations_for(
    private: &PrivateOptions,
    public: &PublicOptions,
    recipients: &[Recipient],
    settings: WrapSettings,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in wrap_for(recipients, &private.to_json(), settings)? {
        append(&mut out, k, v);
    }
    out.insert(PUBOPTS.to_owned(), public.to_annotation());
    Ok(out)
}

/// The wrapped keys of one annotation, decoded.
fn wrapped_keys(key: &str, value: &str) -> Result<Vec<Vec<u8>>> {
    if value.len() > MAX_ANNOTATION {
        return Err(CryptError::Limit(format!(
            "{key} is larger than {MAX_ANNOTATION} bytes"
        )));
    }
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.len() > MAX_WRAPPED {
        return Err(CryptError::Limit(format!(
            "{key} holds more than {MAX_WRAPPED} wrapped keys"
        )));
    }
    items
        .into_iter()
        .map(|item| {
            base64::engine::general_purpose::STANDARD
                .decode(item.as_bytes())
                .map_err(|e| malformed("encryption annotation", format!("{key}: {e}")))
        })
        .collect()
}

/// Unwraps the raw private options JSON with any key that fits any recipient.
fn unwrap_optsdata(
    annotations: &BTreeMap<String, String>,
    keys: &KeyRing,
    digest: &Digest,
) -> Result<Vec<u8>> {
    if !is_encrypted(annotations) {
        return Err(CryptError::NotEncrypted(digest.clone()));
    }
    if keys.is_empty() {
        return Err(CryptError::NoKeys);
    }
    let mut first_error = None;
    let mut schemes = Vec::new();
    for (key, value) in annotations
        .iter()
        .filter(|(k, _)| k.starts_with(KEYS_PREFIX))
    {
        let scheme = &key[KEYS_PREFIX.len()..];
        schemes.push(scheme.to_owned());
        for wrapped in wrapped_keys(key, value)? {
            let attempt = match scheme {
                "jwe" if !keys.private.is_empty() => jwe::unwrap(&wrapped, &keys.private),
                "pkcs7" if !keys.private.is_empty() => {
                    pkcs7::unwrap(&wrapped, &keys.private, &keys.certificates)
                }
                "pkcs11" if !keys.pkcs11.is_empty() => pkcs11::unwrap(&wrapped, &keys.pkcs11),
                s if s.starts_with("provider.") => {
                    unwrap_provider(&s["provider.".len()..], &wrapped, &keys.providers)
                }
                _ => Ok(None),
            };
            match attempt {
                Ok(Some(optsdata)) => return Ok(optsdata),
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    Err(first_error.unwrap_or_else(|| CryptError::NoMatchingKey {
        digest: digest.clone(),
        schemes: schemes.join(", "),
    }))
}

fn unwrap_provider(
    name: &str,
    wrapped: &[u8],
    providers: &[ProviderKey],
) -> Result<Option<Vec<u8>>> {
    for p in providers.iter().filter(|p| p.provider.name == name) {
        if let Some(optsdata) = p.unwrap(wrapped)? {
            return Ok(Some(optsdata));
        }
    }
    Ok(None)
}

/// The layer's options, unwrapped with `keys`.
pub fn unwrap_options(
    annotations: &BTreeMap<String, String>,
    keys: &KeyRing,
    digest: &Digest,
) -> Result<(PrivateOptions, PublicOptions)> {
    let public = PublicOptions::from_annotation(annotations.get(PUBOPTS).map(String::as_str))?;
    let optsdata = unwrap_optsdata(annotations, keys, digest)?;
    let private = PrivateOptions::from_json(&optsdata, &public)?;
    Ok((private, public))
}

/// Adds recipients: unwraps the options with `keys` and wraps them again for `recipients`,
/// appending to the existing wrapped keys. Layer data and public options stay as they are.
pub fn add_recipients(
    annotations: &BTreeMap<String, String>,
    keys: &KeyRing,
    recipients: &[Recipient],
    settings: WrapSettings,
    digest: &Digest,
) -> Result<BTreeMap<String, String>> {
    // Check the public options too, so a broken layer is not given more recipients.
    PublicOptions::from_annotation(annotations.get(PUBOPTS).map(String::as_str))?;
    let optsdata = unwrap_optsdata(annotations, keys, digest)?;
    let mut out = annotations.clone();
    for (k, v) in wrap_for(recipients, &optsdata, settings)? {
        append(&mut out, k, v);
    }
    Ok(out)
}

/// Removes recipients. JWE and pkcs11 entries are found by the `kid` zoll writes, PKCS#7
/// entries by issuer and serial number, providers by name. Needs no key.
pub fn remove_recipients(
    annotations: &BTreeMap<String, String>,
    recipients: &[Recipient],
    digest: &Digest,
) -> Result<BTreeMap<String, String>> {
    if !is_encrypted(annotations) {
        return Err(CryptError::NotEncrypted(digest.clone()));
    }
    let mut out = annotations.clone();
    for r in recipients {
        let removed = match r {
            Recipient::Jwe(k) => {
                let kid = k.thumbprint()?;
                rewrite(&mut out, jwe::ANNOTATION, |w| {
                    jwe::remove_recipients(w, std::slice::from_ref(&kid))
                })?
            }
            Recipient::Pkcs7(c) => rewrite(&mut out, pkcs7::ANNOTATION, |w| {
                pkcs7::remove_recipients(w, std::slice::from_ref(c))
            })?,
            Recipient::Pkcs11(p) => {
                let kid = match p {
                    Pkcs11Recipient::PublicKey(k) => k.thumbprint()?,
                    Pkcs11Recipient::Token(uri) => pkcs11::token_public_key(uri)?.thumbprint()?,
                };
                rewrite(&mut out, pkcs11::ANNOTATION, |w| {
                    pkcs11::remove_recipients(w, std::slice::from_ref(&kid))
                })?
            }
            Recipient::Provider(p) => usize::from(out.remove(&p.annotation()).is_some()),
        };
        if removed == 0 {
            return Err(CryptError::RecipientNotFound(describe(r)));
        }
    }
    if !is_encrypted(&out) {
        return Err(CryptError::LastRecipient(digest.clone()));
    }
    Ok(out)
}

fn describe(r: &Recipient) -> String {
    let name = match r {
        Recipient::Jwe(k) | Recipient::Pkcs11(Pkcs11Recipient::PublicKey(k)) => {
            k.thumbprint().unwrap_or_default()
        }
        Recipient::Pkcs7(_) => "certificate".to_owned(),
        Recipient::Pkcs11(Pkcs11Recipient::Token(uri)) => format!("{uri:?}"),
        Recipient::Provider(p) => p.provider.name.clone(),
    };
    format!("{}:{name}", r.scheme())
}

/// Applies `edit` to every wrapped key of one annotation; returns how many entries went.
fn rewrite(
    annotations: &mut BTreeMap<String, String>,
    key: &str,
    edit: impl Fn(&[u8]) -> Result<(Option<Vec<u8>>, usize)>,
) -> Result<usize> {
    let Some(value) = annotations.get(key) else {
        return Ok(0);
    };
    let mut kept = Vec::new();
    let mut removed = 0;
    for wrapped in wrapped_keys(key, value)? {
        let (new, n) = edit(&wrapped)?;
        removed += n;
        if let Some(new) = new {
            kept.push(base64::engine::general_purpose::STANDARD.encode(new));
        }
    }
    if kept.is_empty() {
        annotations.remove(key);
    } else {
        annotations.insert(key.to_owned(), kept.join(","));
    }
    Ok(removed)
}
