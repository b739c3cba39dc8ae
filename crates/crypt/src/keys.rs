//! Key material from files: public keys (SPKI, PKCS#1, certificates), private keys (PKCS#8,
//! PKCS#1, SEC1, password-protected PKCS#8 with PBES2), X.509 certificates. Parsing only;
//! the operations live with the schemes that use them.

use std::num::NonZeroU32;

use aws_lc_rs::{agreement, cipher, digest, pbkdf2, rsa};
use base64::Engine;

use crate::der::{self, oid, Reader};
use crate::error::{invalid_key, Result};
use crate::pem;

/// PBKDF2 iteration counts above this are refused (a hostile key file could stall us).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub fn from_oid(oid_content: &[u8]) -> Option<Curve> {
        match oid_content {
            oid::P256 => Some(Curve::P256),
            oid::P384 => Some(Curve::P384),
            oid::P521 => Some(Curve::P521),
            _ => None,
        }
    }

    pub fn from_jwk_name(name: &str) -> Option<Curve> {
        match name {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            "P-521" => Some(Curve::P521),
            _ => None,
        }
    }

    pub fn jwk_name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// Bytes of one field element (a coordinate).
    pub fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    pub fn agreement(self) -> &'static agreement::Algorithm {
        match self {
            Curve::P256 => &agreement::ECDH_P256,
            Curve::P384 => &agreement::ECDH_P384,
            Curve::P521 => &agreement::ECDH_P521,
        }
    }
}

/// A recipient's public key.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// X.509 SubjectPublicKeyInfo DER of an RSA key.
    Rsa { spki: Vec<u8> },
    /// An uncompressed SEC1 point (0x04 ‖ x ‖ y).
    Ec { curve: Curve, point: Vec<u8> },
}

impl PublicKey {
    pub fn rsa(&self) -> Option<rsa::PublicEncryptingKey> {
        match self {
            PublicKey::Rsa { spki } => rsa::PublicEncryptingKey::from_der(spki).ok(),
            PublicKey::Ec { .. } => None,
        }
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url): how zoll names a recipient in the
    /// `kid` of what it wraps, so that `--remove-recipient` can find it again.
    pub fn thumbprint(&self) -> Result<String> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let canonical = match self {
            PublicKey::Rsa { spki } => {
                let (n, e) = rsa_components(spki)?;
                format!(
                    r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                    b64(der::unsigned(e)),
                    b64(der::unsigned(n))
                )
            }
            PublicKey::Ec { curve, point } => {
                let (x, y) = point_coordinates(*curve, point)?;
                format!(
                    r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                    curve.jwk_name(),
                    b64(x),
                    b64(y)
                )
            }
        };
        Ok(b64(
            digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref()
        ))
    }
}

/// Splits an uncompressed point into its coordinates.
pub fn point_coordinates(curve: Curve, point: &[u8]) -> Result<(&[u8], &[u8])> {
    let n = curve.coordinate_len();
    if point.len() != 1 + 2 * n || point[0] != 4 {
        return Err(invalid_key("EC public key", "not an uncompressed point"));
    }
    Ok((&point[1..1 + n], &point[1 + n..]))
}

fn rsa_components(spki: &[u8]) -> Result<(&[u8], &[u8])> {
    let mut r = Reader::new(spki, "RSA public key");
    let mut s = r.nested(der::SEQUENCE)?;
    der::algorithm_identifier(&mut s)?;
    let bits = s.expect(der::BIT_STRING)?;
    let pkcs1 = bits
        .get(1..)
        .ok_or_else(|| invalid_key("RSA public key", "empty BIT STRING"))?;
    let mut k = Reader::new(pkcs1, "RSA public key").nested(der::SEQUENCE)?;
    let n = k.expect(der::INTEGER)?;
    let e = k.expect(der::INTEGER)?;
    Ok((n, e))
}

/// A private key held in memory (file keys; HSM keys never are).
#[derive(Clone)]
pub enum PrivateKey {
    /// PKCS#8 DER of an RSA key.
    Rsa { pkcs8: Vec<u8> },
    /// PKCS#8 or RFC 5915 DER of an EC key.
    Ec { curve: Curve, der: Vec<u8> },
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrivateKey::Rsa { .. } => f.write_str("PrivateKey::Rsa(..)"),
            PrivateKey::Ec { curve, .. } => write!(f, "PrivateKey::Ec({curve:?}, ..)"),
        }
    }
}

impl PrivateKey {
    pub fn rsa(&self) -> Option<rsa::PrivateDecryptingKey> {
        match self {
            PrivateKey::Rsa { pkcs8 } => rsa::PrivateDecryptingKey::from_pkcs8(pkcs8).ok(),
            PrivateKey::Ec { .. } => None,
        }
    }

    pub fn ec(&self) -> Option<(Curve, agreement::PrivateKey)> {
        match self {
            PrivateKey::Ec { curve, der } => {
                agreement::PrivateKey::from_private_key_der(curve.agreement(), der)
                    .ok()
                    .map(|k| (*curve, k))
            }
            PrivateKey::Rsa { .. } => None,
        }
    }
}

/// The parts of an X.509 certificate that CMS recipients need.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// The issuer Name, as encoded in the certificate.
    pub issuer: Vec<u8>,
    /// The serial number INTEGER content.
    pub serial: Vec<u8>,
    pub public_key: PublicKey,
}

/// Reads a public key from PEM (PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE) or SPKI DER.
pub fn parse_public_key(bytes: &[u8], what: &str) -> Result<PublicKey> {
    let blocks = pem::blocks(bytes, what)?;
    if blocks.is_empty() {
        return spki_to_public_key(bytes, what);
    }
    for block in blocks {
        match block.label.as_str() {
            "PUBLIC KEY" => return spki_to_public_key(&block.der, what),
            "RSA PUBLIC KEY" => {
                let spki = rsa_spki_from_pkcs1(&block.der);
                return spki_to_public_key(&spki, what);
            }
            "CERTIFICATE" => return parse_certificate_der(&block.der, what).map(|c| c.public_key),
            _ => continue,
        }
    }
    Err(invalid_key(
        what,
        "no public key or certificate in the file",
    ))
}

/// Reads the first certificate of a PEM file (or a DER certificate).
pub fn parse_certificate(bytes: &[u8], what: &str) -> Result<Certificate> {
    let blocks = pem::blocks(bytes, what)?;
    if blocks.is_empty() {
        return parse_certificate_der(bytes, what);
    }
    let block = blocks
        .into_iter()
        .find(|b| b.label == "CERTIFICATE")
        .ok_or_else(|| invalid_key(what, "no CERTIFICATE block"))?;
    parse_certificate_der(&block.der, what)
}

/// Whether the file holds a certificate (used to tell `--key cert.pem` apart).
pub fn is_certificate(bytes: &[u8]) -> bool {
    pem::blocks(bytes, "")
        .map(|b| b.iter().any(|b| b.label == "CERTIFICATE"))
        .unwrap_or(false)
}

fn parse_certificate_der(der_bytes: &[u8], what: &str) -> Result<Certificate> {
    let mut r = Reader::new(der_bytes, "certificate");
    let mut cert = r.nested(der::SEQUENCE)?;
    let mut tbs = cert.nested(der::SEQUENCE)?;
    tbs.optional(der::context(0, true))?; // version
    let serial = tbs.expect(der::INTEGER)?.to_vec();
    der::algorithm_identifier(&mut tbs)?;
    let issuer = tbs.read()?.raw.to_vec();
    tbs.read()?; // validity
    tbs.read()?; // subject
    let spki = tbs.read()?.raw;
    Ok(Certificate {
        issuer,
        serial,
        public_key: spki_to_public_key(spki, what)?,
    })
}

fn spki_to_public_key(spki: &[u8], what: &str) -> Result<PublicKey> {
    let mut r = Reader::new(spki, "public key");
    let mut s = r.nested(der::SEQUENCE)?;
    let (alg, params) = der::algorithm_identifier(&mut s)?;
    let bits = s.expect(der::BIT_STRING)?;
    match alg {
        oid::RSA_ENCRYPTION => {
            rsa::PublicEncryptingKey::from_der(spki)
                .map_err(|e| invalid_key(what, format!("RSA public key rejected: {e}")))?;
            Ok(PublicKey::Rsa {
                spki: spki.to_vec(),
            })
        }
        oid::EC_PUBLIC_KEY => {
            let curve = params
                .filter(|p| p.tag == der::OID)
                .and_then(|p| Curve::from_oid(p.content))
                .ok_or_else(|| invalid_key(what, "EC key on a curve other than P-256/384/521"))?;
            let point = bits.get(1..).unwrap_or_default().to_vec();
            point_coordinates(curve, &point)
                .map_err(|_| invalid_key(what, "EC public key is not an uncompressed point"))?;
            Ok(PublicKey::Ec { curve, point })
        }
        _ => Err(invalid_key(what, "public key is neither RSA nor EC")),
    }
}

fn rsa_spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let alg = der::algorithm(oid::RSA_ENCRYPTION, Some(&der::tlv(der::NULL, &[])));
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    der::constructed(der::SEQUENCE, &[&alg, &der::tlv(der::BIT_STRING, &bits)])
}

fn rsa_pkcs8_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let alg = der::algorithm(oid::RSA_ENCRYPTION, Some(&der::tlv(der::NULL, &[])));
    der::constructed(
        der::SEQUENCE,
        &[
            &der::small_integer(0),
            &alg,
            &der::tlv(der::OCTET_STRING, pkcs1),
        ],
    )
}

/// Whether the file looks like a private key (PEM label), without decrypting it.
pub fn is_private_key(bytes: &[u8]) -> bool {
    pem::blocks(bytes, "")
        .map(|b| b.iter().any(|b| b.label.ends_with("PRIVATE KEY")))
        .unwrap_or(false)
}

/// Reads a private key: PEM PRIVATE KEY / RSA PRIVATE KEY / EC PRIVATE KEY / ENCRYPTED
/// PRIVATE KEY (with `password`), or PKCS#8 DER.
pub fn parse_private_key(bytes: &[u8], password: Option<&[u8]>, what: &str) -> Result<PrivateKey> {
    let blocks = pem::blocks(bytes, what)?;
    if blocks.is_empty() {
        return pkcs8_to_private_key(bytes.to_vec(), what);
    }
    for block in blocks {
        match block.label.as_str() {
            "PRIVATE KEY" => return pkcs8_to_private_key(block.der, what),
            "RSA PRIVATE KEY" => {
                return pkcs8_to_private_key(rsa_pkcs8_from_pkcs1(&block.der), what)
            }
            "EC PRIVATE KEY" => return sec1_to_private_key(block.der, what),
            "ENCRYPTED PRIVATE KEY" => {
                let password = password.ok_or_else(|| {
                    invalid_key(
                        what,
                        "the private key is encrypted; give its password (FILE:pass=…)",
                    )
                })?;
                let pkcs8 = decrypt_pkcs8(&block.der, password, what)?;
                return pkcs8_to_private_key(pkcs8, what);
            }
            _ => continue,
        }
    }
    Err(invalid_key(what, "no private key in the file"))
}

fn pkcs8_to_private_key(pkcs8: Vec<u8>, what: &str) -> Result<PrivateKey> {
    let mut r = Reader::new(&pkcs8, "private key");
    let mut s = r.nested(der::SEQUENCE)?;
    s.expect(der::INTEGER)?;
    let (alg, params) = der::algorithm_identifier(&mut s)?;
    match alg {
        oid::RSA_ENCRYPTION => {
            rsa::PrivateDecryptingKey::from_pkcs8(&pkcs8)
                .map_err(|e| invalid_key(what, format!("RSA private key rejected: {e}")))?;
            Ok(PrivateKey::Rsa { pkcs8 })
        }
        oid::EC_PUBLIC_KEY => {
            let curve = params
                .filter(|p| p.tag == der::OID)
                .and_then(|p| Curve::from_oid(p.content))
                .ok_or_else(|| invalid_key(what, "EC key on a curve other than P-256/384/521"))?;
            checked_ec(curve, pkcs8, what)
        }
        _ => Err(invalid_key(what, "private key is neither RSA nor EC")),
    }
}

fn sec1_to_private_key(sec1: Vec<u8>, what: &str) -> Result<PrivateKey> {
    let mut r = Reader::new(&sec1, "EC private key");
    let mut s = r.nested(der::SEQUENCE)?;
    s.expect(der::INTEGER)?;
    s.expect(der::OCTET_STRING)?;
    let curve = s
        .optional(der::context(0, true))?
        .and_then(|p| Reader::new(p, "EC parameters").expect(der::OID).ok())
        .and_then(Curve::from_oid)
        .ok_or_else(|| invalid_key(what, "EC key without a P-256/384/521 named curve"))?;
    checked_ec(curve, sec1, what)
}

fn checked_ec(curve: Curve, der_bytes: Vec<u8>, what: &str) -> Result<PrivateKey> {
    agreement::PrivateKey::from_private_key_der(curve.agreement(), &der_bytes)
        .map_err(|e| invalid_key(what, format!("EC private key rejected: {e}")))?;
    Ok(PrivateKey::Ec {
        curve,
        der: der_bytes,
    })
}

/// PKCS#8 EncryptedPrivateKeyInfo with PBES2 (PBKDF2 + AES-CBC), as `openssl genpkey
/// -aes256` and `openssl pkcs8 -topk8` write it.
fn decrypt_pkcs8(der_bytes: &[u8], password: &[u8], what: &str) -> Result<Vec<u8>> {
    let bad = |reason: &str| invalid_key(what, reason.to_owned());
    let mut r = Reader::new(der_bytes, "encrypted private key");
    let mut epki = r.nested(der::SEQUENCE)?;
    let (alg, params) = der::algorithm_identifier(&mut epki)?;
    let data = epki.expect(der::OCTET_STRING)?;
    if alg != oid::PBES2 {
        return Err(bad("only PBES2 key encryption is supported"));
    }
    let params = params.ok_or_else(|| bad("PBES2 parameters missing"))?;
    let mut p = Reader::new(params.content, "PBES2 parameters");
    let (kdf, kdf_params) = der::algorithm_identifier(&mut p)?;
    let (enc, enc_params) = der::algorithm_identifier(&mut p)?;
    if kdf != oid::PBKDF2 {
        return Err(bad("only PBKDF2 key derivation is supported"));
    }
    let kdf_params = kdf_params.ok_or_else(|| bad("PBKDF2 parameters missing"))?;
    let mut k = Reader::new(kdf_params.content, "PBKDF2 parameters");
    let salt = k.expect(der::OCTET_STRING)?;
    let iterations = der::unsigned(k.expect(der::INTEGER)?)
        .iter()
        .try_fold(0u32, |acc, &b| acc.checked_mul(256).map(|a| a | b as u32))
        .filter(|&n| n <= MAX_PBKDF2_ITERATIONS)
        .and_then(NonZeroU32::new)
        .ok_or_else(|| bad("PBKDF2 iteration count out of range"))?;
    k.optional(der::INTEGER)?; // keyLength: implied by the cipher
    let prf = if k.is_empty() {
        pbkdf2::PBKDF2_HMAC_SHA1
    } else {
        match der::algorithm_identifier(&mut k)?.0 {
            oid::HMAC_SHA1 => pbkdf2::PBKDF2_HMAC_SHA1,
            oid::HMAC_SHA256 => pbkdf2::PBKDF2_HMAC_SHA256,
            _ => return Err(bad("unsupported PBKDF2 PRF")),
        }
    };
    let (cipher_alg, key_len) = match enc {
        oid::AES128_CBC => (&cipher::AES_128, 16),
        oid::AES192_CBC => (&cipher::AES_192, 24),
        oid::AES256_CBC => (&cipher::AES_256, 32),
        _ => return Err(bad("unsupported key encryption cipher (AES-CBC only)")),
    };
    let iv: [u8; 16] = enc_params
        .filter(|p| p.tag == der::OCTET_STRING)
        .and_then(|p| p.content.try_into().ok())
        .ok_or_else(|| bad("AES-CBC IV missing"))?;
    let mut key = vec![0u8; key_len];
    pbkdf2::derive(prf, iterations, salt, password, &mut key);
    let decrypt = || -> Option<Vec<u8>> {
        let unbound = cipher::UnboundCipherKey::new(cipher_alg, &key).ok()?;
        let dec = cipher::PaddedBlockDecryptingKey::cbc_pkcs7(unbound).ok()?;
        let mut buf = data.to_vec();
        let ctx = cipher::DecryptionContext::Iv128(iv.into());
        let plain = dec.decrypt(&mut buf, ctx).ok()?;
        Some(plain.to_vec())
    };
    decrypt().ok_or_else(|| bad("wrong password for the encrypted private key"))
}
