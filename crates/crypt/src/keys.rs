//! The keys ocicrypt's schemes use, as aws-lc-rs objects: recipients' public keys (RSA or EC),
//! file private keys and PKCS#7 certificates. Reading them from files is `zoll-der`'s; this
//! module turns what it read into what JWE, PKCS#7 and PKCS#11 wrapping need, and words its
//! errors for the key file they came from.

use aws_lc_rs::{agreement, digest, rsa};
use base64::Engine;
pub use zoll_der::Curve;
pub use zoll_der::keys::{is_certificate, is_private_key};
use zoll_der::{Algorithm, keys as der_keys};

use crate::error::{CryptError, Result, invalid_key};

/// What JWE (RFC 7518) and ECDH need of a curve, beside what `zoll-der` knows of it.
pub trait CurveExt {
    fn jwk_name(self) -> &'static str;
    fn agreement(self) -> &'static agreement::Algorithm;
}

impl CurveExt for Curve {
    fn jwk_name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    fn agreement(self) -> &'static agreement::Algorithm {
        match self {
            Curve::P256 => &agreement::ECDH_P256,
            Curve::P384 => &agreement::ECDH_P384,
            Curve::P521 => &agreement::ECDH_P521,
        }
    }
}

pub fn curve_from_jwk_name(name: &str) -> Option<Curve> {
    [Curve::P256, Curve::P384, Curve::P521]
        .into_iter()
        .find(|c| c.jwk_name() == name)
}

/// A `zoll-der` error about the key file `what`: structure errors stay `Malformed`, the rest
/// name the file.
fn from_der(e: zoll_der::Error, what: &str) -> CryptError {
    match e {
        zoll_der::Error::Malformed { what, reason } => CryptError::Malformed { what, reason },
        zoll_der::Error::PasswordRequired => invalid_key(
            what,
            "the private key is encrypted; give its password (FILE:pass=…)",
        ),
        other => invalid_key(what, other.to_string()),
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
    /// Checks a key `zoll-der` read and keeps what the schemes use: RSA keys aws-lc-rs
    /// accepts for encryption, EC keys on an uncompressed point.
    pub fn from_der_key(key: &der_keys::PublicKey, what: &str) -> Result<PublicKey> {
        match key.algorithm() {
            Algorithm::Rsa { .. } => {
                rsa::PublicEncryptingKey::from_der(key.spki())
                    .map_err(|e| invalid_key(what, format!("RSA public key rejected: {e}")))?;
                Ok(PublicKey::Rsa {
                    spki: key.spki().to_vec(),
                })
            }
            Algorithm::Ec(curve) => {
                point_coordinates(curve, key.key())
                    .map_err(|_| invalid_key(what, "EC public key is not an uncompressed point"))?;
                Ok(PublicKey::Ec {
                    curve,
                    point: key.key().to_vec(),
                })
            }
            Algorithm::Ed25519 => Err(invalid_key(what, "public key is neither RSA nor EC")),
        }
    }

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
                let key = der_keys::PublicKey::from_spki(spki)
                    .map_err(|e| from_der(e, "RSA public key"))?;
                let (n, e) = key
                    .rsa_components()
                    .ok_or_else(|| invalid_key("RSA public key", "not an RSA key"))?;
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n))
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

/// A private key held in memory (file keys; HSM keys never are).
#[derive(Clone)]
pub enum PrivateKey {
    /// PKCS#8 DER of an RSA key.
    Rsa { pkcs8: zoll_der::PrivateKey },
    /// PKCS#8 or RFC 5915 DER of an EC key.
    Ec {
        curve: Curve,
        der: zoll_der::PrivateKey,
    },
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
            PrivateKey::Rsa { pkcs8 } => rsa::PrivateDecryptingKey::from_pkcs8(pkcs8.der()).ok(),
            PrivateKey::Ec { .. } => None,
        }
    }

    pub fn ec(&self) -> Option<(Curve, agreement::PrivateKey)> {
        match self {
            PrivateKey::Ec { curve, der } => {
                agreement::PrivateKey::from_private_key_der(curve.agreement(), der.der())
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
    let key = der_keys::public_key(bytes).map_err(|e| from_der(e, what))?;
    PublicKey::from_der_key(&key, what)
}

/// Reads the first certificate of a PEM file (or a DER certificate).
pub fn parse_certificate(bytes: &[u8], what: &str) -> Result<Certificate> {
    let cert = der_keys::certificate(bytes).map_err(|e| from_der(e, what))?;
    Ok(Certificate {
        public_key: PublicKey::from_der_key(&cert.public_key, what)?,
        issuer: cert.issuer,
        serial: cert.serial,
    })
}

/// Reads a private key: PEM PRIVATE KEY / RSA PRIVATE KEY / EC PRIVATE KEY / ENCRYPTED
/// PRIVATE KEY (with `password`), or PKCS#8 DER; RSA and EC keys only, checked by aws-lc-rs.
pub fn parse_private_key(bytes: &[u8], password: Option<&[u8]>, what: &str) -> Result<PrivateKey> {
    let key = der_keys::private_key(bytes, password).map_err(|e| from_der(e, what))?;
    match key.algorithm() {
        Algorithm::Rsa { .. } => {
            rsa::PrivateDecryptingKey::from_pkcs8(key.der())
                .map_err(|e| invalid_key(what, format!("RSA private key rejected: {e}")))?;
            Ok(PrivateKey::Rsa { pkcs8: key })
        }
        Algorithm::Ec(curve) => {
            agreement::PrivateKey::from_private_key_der(curve.agreement(), key.der())
                .map_err(|e| invalid_key(what, format!("EC private key rejected: {e}")))?;
            Ok(PrivateKey::Ec { curve, der: key })
        }
        Algorithm::Ed25519 => Err(invalid_key(what, "private key is neither RSA nor EC")),
    }
}
