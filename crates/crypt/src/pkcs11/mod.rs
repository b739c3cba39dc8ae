//! ocicrypt's PKCS#11 scheme (`org.opencontainers.image.enc.keys.pkcs11`): the private
//! options RSA-OAEP-encrypted for each recipient, in
//! `{"version":0,"recipients":[{"version":0,"blob":<base64>,"hash":"sha1"|"sha256"}]}`.
//! Recipients are RSA public keys (PEM, encrypted here) or keys on a token (encrypted by
//! the token); decryption always happens inside the token. zoll adds a `kid` (RFC 7638
//! thumbprint) to each recipient; Go ignores unknown fields.

pub mod key_file;
pub mod token;

use aws_lc_rs::rsa;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{CryptError, Result, malformed, unsupported};
use crate::keys::PublicKey;
pub use key_file::TokenKey;

pub const ANNOTATION: &str = "org.opencontainers.image.enc.keys.pkcs11";

const MAX_RECIPIENTS: usize = 256;

/// The OAEP hash. ocicrypt's default is SHA-256 (`OCICRYPT_OAEP_HASHALG` selects); SoftHSM
/// 2.6 decrypts only SHA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepHash {
    Sha1,
    Sha256,
}

impl OaepHash {
    pub fn name(self) -> &'static str {
        match self {
            OaepHash::Sha1 => "sha1",
            OaepHash::Sha256 => "sha256",
        }
    }

    pub fn parse(s: &str) -> Result<OaepHash> {
        match s.to_ascii_lowercase().as_str() {
            "sha1" => Ok(OaepHash::Sha1),
            "sha256" | "" => Ok(OaepHash::Sha256),
            other => Err(unsupported("OAEP hash", other)),
        }
    }

    fn digest_len(self) -> usize {
        match self {
            OaepHash::Sha1 => 20,
            OaepHash::Sha256 => 32,
        }
    }
}

/// Someone the options are encrypted for.
#[derive(Debug, Clone)]
pub enum Pkcs11Recipient {
    /// An RSA public key from a file (the HSM key's public half).
    PublicKey(PublicKey),
    /// A public key object on a token.
    Token(TokenKey),
}

#[derive(Serialize, Deserialize)]
struct Blob {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    recipients: Vec<Entry>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Entry {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    blob: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
}

/// Checks that RSA-OAEP with `hash` can carry `len` bytes under a `modulus_len`-byte key.
fn check_capacity(modulus_len: usize, hash: OaepHash, len: usize) -> Result<()> {
    let max = modulus_len.saturating_sub(2 * hash.digest_len() + 2);
    if len > max {
        return Err(CryptError::OaepCapacity {
            hash: if hash == OaepHash::Sha1 {
                "SHA1"
            } else {
                "SHA256"
            },
            bits: modulus_len * 8,
            max,
            len,
        });
    }
    Ok(())
}

/// The public key of a token key, as zoll names recipients.
pub fn token_public_key(key: &TokenKey) -> Result<PublicKey> {
    let (n, e) = token::public_components(key)?;
    let key = zoll_der::PublicKey::from_rsa_components(&n, &e)?;
    Ok(PublicKey::Rsa {
        spki: key.spki().to_vec(),
    })
}

/// Encrypts `plaintext` for every recipient.
pub fn wrap(recipients: &[Pkcs11Recipient], hash: OaepHash, plaintext: &[u8]) -> Result<Vec<u8>> {
    if recipients.is_empty() {
        return Err(CryptError::NoRecipients);
    }
    let mut entries = Vec::new();
    for r in recipients {
        let (ciphertext, kid) = match r {
            Pkcs11Recipient::PublicKey(key) => {
                let pk = key.rsa().ok_or_else(|| {
                    unsupported(
                        "PKCS#11 recipient key",
                        "EC (the pkcs11 scheme is RSA-OAEP)",
                    )
                })?;
                check_capacity(pk.key_size_bytes(), hash, plaintext.len())?;
                let alg = match hash {
                    OaepHash::Sha1 => &rsa::OAEP_SHA1_MGF1SHA1,
                    OaepHash::Sha256 => &rsa::OAEP_SHA256_MGF1SHA256,
                };
                (
                    crate::jwe::rsa_oaep_encrypt(pk, alg, plaintext)?,
                    key.thumbprint()?,
                )
            }
            Pkcs11Recipient::Token(uri) => {
                let key = token_public_key(uri)?;
                let modulus_len = key.rsa().map(|k| k.key_size_bytes()).unwrap_or_default();
                check_capacity(modulus_len, hash, plaintext.len())?;
                (token::encrypt(uri, hash, plaintext)?, key.thumbprint()?)
            }
        };
        entries.push(Entry {
            version: 0,
            blob: base64::engine::general_purpose::STANDARD.encode(ciphertext),
            hash: hash.name().to_owned(),
            kid: Some(kid),
        });
    }
    Ok(serde_json::to_vec(&Blob {
        version: 0,
        recipients: entries,
    })
    .expect("json"))
}

fn parse(input: &[u8]) -> Result<Blob> {
    let blob: Blob = serde_json::from_slice(input)
        .map_err(|e| malformed("pkcs11 wrapped key", e.to_string()))?;
    if blob.version != 0 {
        return Err(unsupported(
            "pkcs11 wrapped key version",
            blob.version.to_string(),
        ));
    }
    if blob.recipients.len() > MAX_RECIPIENTS {
        return Err(CryptError::Limit(format!(
            "pkcs11 with more than {MAX_RECIPIENTS} recipients"
        )));
    }
    Ok(blob)
}

/// Tries each recipient blob with each token key. `Ok(None)`: no key opens any blob.
pub fn unwrap(input: &[u8], keys: &[TokenKey]) -> Result<Option<Vec<u8>>> {
    let blob = parse(input)?;
    for entry in &blob.recipients {
        if entry.version != 0 {
            return Err(unsupported(
                "pkcs11 recipient version",
                entry.version.to_string(),
            ));
        }
        // An empty hash is SHA-1: what ocicrypt wrote before it recorded the hash.
        let hash = if entry.hash.is_empty() {
            OaepHash::Sha1
        } else {
            OaepHash::parse(&entry.hash)?
        };
        let Ok(ciphertext) =
            base64::engine::general_purpose::STANDARD.decode(entry.blob.as_bytes())
        else {
            continue;
        };
        for key in keys {
            if let Some(plain) = token::decrypt(key, hash, &ciphertext)? {
                return Ok(Some(plain));
            }
        }
    }
    Ok(None)
}

/// Removes the recipients whose `kid` is in `kids`.
pub fn remove_recipients(input: &[u8], kids: &[String]) -> Result<(Option<Vec<u8>>, usize)> {
    let mut blob = parse(input)?;
    let before = blob.recipients.len();
    blob.recipients
        .retain(|e| !e.kid.as_ref().is_some_and(|k| kids.contains(k)));
    let removed = before - blob.recipients.len();
    if removed == 0 {
        return Ok((Some(input.to_vec()), 0));
    }
    if blob.recipients.is_empty() {
        return Ok((None, removed));
    }
    Ok((Some(serde_json::to_vec(&blob).expect("json")), removed))
}
