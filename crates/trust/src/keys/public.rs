//! Public keys: parsed from SubjectPublicKeyInfo, classified, and used to check signatures.

use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::{KeyError, KeyKind, SignatureAlgorithm};

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";

/// A public key as its DER SubjectPublicKeyInfo plus what kind it is.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    kind: KeyKind,
    spki_der: Vec<u8>,
    /// The subjectPublicKey bits: RSAPublicKey DER, an uncompressed EC point or 32 Ed25519 bytes.
    raw: Vec<u8>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({}, sha256:{})", self.kind, self.fingerprint())
    }
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| KeyError::UnsupportedKey(format!("SubjectPublicKeyInfo: {e}")))?;
        if !rest.is_empty() {
            return Err(KeyError::UnsupportedKey(
                "trailing bytes after SubjectPublicKeyInfo".into(),
            ));
        }
        let raw = spki.subject_public_key.data.to_vec();
        let kind = match spki.algorithm.algorithm.to_id_string().as_str() {
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    OID_P256 => KeyKind::EcP256,
                    OID_P384 => KeyKind::EcP384,
                    OID_P521 => KeyKind::EcP521,
                    other => return Err(KeyError::UnsupportedKey(format!("EC curve {other}"))),
                }
            }
            OID_RSA => match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => KeyKind::Rsa {
                    bits: bit_len(rsa.modulus),
                },
                _ => return Err(KeyError::UnsupportedKey("malformed RSA public key".into())),
            },
            OID_ED25519 => KeyKind::Ed25519,
            other => return Err(KeyError::UnsupportedKey(format!("key algorithm {other}"))),
        };
        Ok(PublicKey {
            kind,
            spki_der: der.to_vec(),
            raw,
        })
    }

    /// Parses a PEM `PUBLIC KEY` block.
    pub fn from_pem(text: &[u8]) -> Result<PublicKey, KeyError> {
        let block = pem::parse(text).map_err(|e| KeyError::UnsupportedKey(format!("PEM: {e}")))?;
        if block.tag() != "PUBLIC KEY" {
            return Err(KeyError::UnsupportedKey(format!(
                "expected a PUBLIC KEY PEM block, found {}",
                block.tag()
            )));
        }
        PublicKey::from_spki_der(block.contents())
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The subjectPublicKey bit string contents.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub fn to_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki_der.clone()))
    }

    /// Hex SHA-256 of the DER SubjectPublicKeyInfo: the key's name in reports.
    pub fn fingerprint(&self) -> String {
        zoll_stdx::hex::encode(&super::HashAlgorithm::Sha256.digest(&self.spki_der))
    }

    /// Checks a signature whose ECDSA form is fixed-width `r || s` (JWS, COSE).
    pub fn verify(&self, algorithm: SignatureAlgorithm, message: &[u8], signature: &[u8]) -> bool {
        self.check(algorithm, message, signature, false)
    }

    /// Checks a signature whose ECDSA form is ASN.1 DER (X.509, cosign, DSSE).
    pub fn verify_asn1(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        self.check(algorithm, message, signature, true)
    }

    fn check(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
        asn1: bool,
    ) -> bool {
        if !algorithm.fits(self.kind) {
            return false;
        }
        let verifier: &'static dyn VerificationAlgorithm = match (algorithm, asn1) {
            (SignatureAlgorithm::RsaPssSha256, _) => &sig::RSA_PSS_2048_8192_SHA256,
            (SignatureAlgorithm::RsaPssSha384, _) => &sig::RSA_PSS_2048_8192_SHA384,
            (SignatureAlgorithm::RsaPssSha512, _) => &sig::RSA_PSS_2048_8192_SHA512,
            (SignatureAlgorithm::RsaPkcs1Sha256, _) => &sig::RSA_PKCS1_2048_8192_SHA256,
            (SignatureAlgorithm::RsaPkcs1Sha384, _) => &sig::RSA_PKCS1_2048_8192_SHA384,
            (SignatureAlgorithm::RsaPkcs1Sha512, _) => &sig::RSA_PKCS1_2048_8192_SHA512,
            (SignatureAlgorithm::EcdsaP256Sha256, false) => &sig::ECDSA_P256_SHA256_FIXED,
            (SignatureAlgorithm::EcdsaP256Sha256, true) => &sig::ECDSA_P256_SHA256_ASN1,
            (SignatureAlgorithm::EcdsaP384Sha384, false) => &sig::ECDSA_P384_SHA384_FIXED,
            (SignatureAlgorithm::EcdsaP384Sha384, true) => &sig::ECDSA_P384_SHA384_ASN1,
            (SignatureAlgorithm::EcdsaP521Sha512, false) => &sig::ECDSA_P521_SHA512_FIXED,
            (SignatureAlgorithm::EcdsaP521Sha512, true) => &sig::ECDSA_P521_SHA512_ASN1,
            (SignatureAlgorithm::Ed25519, _) => &sig::ED25519,
        };
        UnparsedPublicKey::new(verifier, &self.raw)
            .verify(message, signature)
            .is_ok()
    }
}

/// Number of significant bits of a big-endian unsigned integer.
fn bit_len(bytes: &[u8]) -> u32 {
    let trimmed: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    (trimmed.len() as u32 - 1) * 8 + (8 - trimmed[0].leading_zeros())
}
