//! Recipients (`--recipient`) and decryption keys (`--key`) as users write them, in
//! ocicrypt's syntax:
//!
//! - recipients: `jwe:PUBKEY.pem` (RSA or EC), `pkcs7:CERT.pem`, `pkcs11:URI`,
//!   `pkcs11:KEYFILE.yaml` or `pkcs11:PUBKEY.pem`, `provider:NAME[:PARAMS]`;
//! - keys: `FILE[:PASSWORD]` (PEM private key, certificate for PKCS#7, or an ocicrypt PKCS#11
//!   key file), `pkcs11:URI`, `provider:NAME[:PARAMS]`. PASSWORD is `pass=…`, `file=PATH`
//!   or the password itself.

use std::path::Path;

use crate::error::{CryptError, Result};
use crate::keyprovider::ProviderKey;
use crate::keys::{self, Certificate, PrivateKey, PublicKey};
use crate::pkcs11::key_file::parse_key_file;
use crate::pkcs11::{Pkcs11Recipient, TokenKey};

/// Key files larger than this are refused.
const MAX_KEY_FILE: u64 = 1 << 20;

fn bad(spec: &str, reason: impl Into<String>) -> CryptError {
    CryptError::InvalidSpec {
        spec: redact(spec),
        reason: reason.into(),
    }
}

/// The spec as a message may show it: the PIN of a `pkcs11:` URI and the password of a
/// `FILE:PASSWORD` key hidden (a refused spec is echoed to the terminal and to logs).
fn redact(spec: &str) -> String {
    if spec.starts_with("pkcs11:") {
        return zoll_pkcs11::redact(spec);
    }
    if ["jwe:", "pkcs7:", "provider:"]
        .iter()
        .any(|scheme| spec.starts_with(scheme))
    {
        return spec.to_owned();
    }
    match spec.split_once(':') {
        Some((file, _password)) => format!("{file}:***"),
        None => spec.to_owned(),
    }
}

fn read_file(spec: &str, path: &str) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| bad(spec, format!("{path}: {e}")))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(bad(
            spec,
            format!("{path} is larger than {MAX_KEY_FILE} bytes"),
        ));
    }
    std::fs::read(path).map_err(|e| bad(spec, format!("{path}: {e}")))
}

/// Someone who will be able to decrypt.
#[derive(Debug, Clone)]
pub enum Recipient {
    Jwe(PublicKey),
    Pkcs7(Certificate),
    Pkcs11(Pkcs11Recipient),
    Provider(ProviderKey),
}

impl Recipient {
    pub fn parse(spec: &str) -> Result<Recipient> {
        let (scheme, value) = spec.split_once(':').ok_or_else(|| {
            bad(
                spec,
                "expected SCHEME:VALUE (jwe:, pkcs7:, pkcs11:, provider:)",
            )
        })?;
        match scheme {
            "jwe" => Ok(Recipient::Jwe(keys::parse_public_key(
                &read_file(spec, value)?,
                value,
            )?)),
            "pkcs7" => Ok(Recipient::Pkcs7(keys::parse_certificate(
                &read_file(spec, value)?,
                value,
            )?)),
            "pkcs11" => {
                if !Path::new(value).exists() && value.contains('=') {
                    return Ok(Recipient::Pkcs11(Pkcs11Recipient::Token(TokenKey::parse(
                        spec,
                    )?)));
                }
                let bytes = read_file(spec, value)?;
                if let Some(key) = parse_key_file(&String::from_utf8_lossy(&bytes))? {
                    return Ok(Recipient::Pkcs11(Pkcs11Recipient::Token(key)));
                }
                Ok(Recipient::Pkcs11(Pkcs11Recipient::PublicKey(
                    keys::parse_public_key(&bytes, value)?,
                )))
            }
            "provider" => Ok(Recipient::Provider(ProviderKey::from_spec(value)?)),
            "pgp" => Err(bad(spec, "OpenPGP recipients are not supported")),
            other => Err(bad(
                spec,
                format!("unknown scheme {other:?} (jwe, pkcs7, pkcs11, provider)"),
            )),
        }
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Recipient::Jwe(_) => "jwe",
            Recipient::Pkcs7(_) => "pkcs7",
            Recipient::Pkcs11(_) => "pkcs11",
            Recipient::Provider(_) => "provider",
        }
    }
}

/// Everything given to decrypt with.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    pub private: Vec<PrivateKey>,
    pub certificates: Vec<Certificate>,
    pub pkcs11: Vec<TokenKey>,
    pub providers: Vec<ProviderKey>,
}

impl KeyRing {
    pub fn parse(specs: &[String]) -> Result<KeyRing> {
        let mut ring = KeyRing::default();
        for spec in specs {
            ring.add(spec)?;
        }
        Ok(ring)
    }

    pub fn is_empty(&self) -> bool {
        self.private.is_empty() && self.pkcs11.is_empty() && self.providers.is_empty()
    }

    fn add(&mut self, spec: &str) -> Result<()> {
        if let Some(value) = spec.strip_prefix("provider:") {
            self.providers.push(ProviderKey::from_spec(value)?);
            return Ok(());
        }
        if let Some(value) = spec.strip_prefix("pkcs11:") {
            if !Path::new(value).exists() {
                self.pkcs11.push(TokenKey::parse(spec)?);
                return Ok(());
            }
            let bytes = read_file(spec, value)?;
            let key = parse_key_file(&String::from_utf8_lossy(&bytes))?
                .ok_or_else(|| bad(spec, "not an ocicrypt PKCS#11 key file"))?;
            self.pkcs11.push(key);
            return Ok(());
        }
        let (path, password) = if Path::new(spec).exists() {
            (spec, None)
        } else {
            match spec.split_once(':') {
                Some((p, pw)) => (p, Some(password(spec, pw)?)),
                None => (spec, None),
            }
        };
        let bytes = read_file(spec, path)?;
        if keys::is_private_key(&bytes) {
            self.private
                .push(keys::parse_private_key(&bytes, password.as_deref(), path)?);
        } else if keys::is_certificate(&bytes) {
            self.certificates
                .push(keys::parse_certificate(&bytes, path)?);
        } else if let Some(key) = parse_key_file(&String::from_utf8_lossy(&bytes))? {
            self.pkcs11.push(key);
        } else {
            // A DER PKCS#8 key.
            self.private
                .push(keys::parse_private_key(&bytes, password.as_deref(), path)?);
        }
        Ok(())
    }
}

fn password(spec: &str, pw: &str) -> Result<Vec<u8>> {
    if let Some(p) = pw.strip_prefix("pass=") {
        return Ok(p.as_bytes().to_vec());
    }
    if let Some(f) = pw.strip_prefix("file=") {
        let mut bytes = read_file(spec, f)?;
        while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            bytes.pop();
        }
        return Ok(bytes);
    }
    Ok(pw.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_specs_never_show_a_password_or_pin() {
        for (spec, secret) in [
            ("missing-key.pem:hunter2", "hunter2"),
            ("missing-key.pem:pass=hunter2", "hunter2"),
            ("pkcs11:token=t;object=k?pin-value=hunter2", "hunter2"),
        ] {
            let shown = bad(spec, "cannot read").to_string();
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(redact("jwe:pub.pem"), "jwe:pub.pem");
        assert_eq!(redact("key.pem"), "key.pem");
    }
}
