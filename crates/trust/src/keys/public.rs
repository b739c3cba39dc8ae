//! Public keys: parsed from SubjectPublicKeyInfo, classified, and used to check signatures.

use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use zoll_der::{Algorithm, Curve};

use super::{KeyError, KeyKind, SignatureAlgorithm};

/// A public key as its DER SubjectPublicKeyInfo plus what kind it is.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    kind: KeyKind,
    der: zoll_der::PublicKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({}, sha256:{})", self.kind, self.fingerprint())
    }
}

impl From<zoll_der::Error> for KeyError {
    fn from(e: zoll_der::Error) -> KeyError {
        KeyError::UnsupportedKey(e.to_string())
    }
}

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        PublicKey::from_der_key(zoll_der::PublicKey::from_spki(der)?)
    }

    /// Classifies a key `zoll-der` read.
    pub fn from_der_key(der: zoll_der::PublicKey) -> Result<PublicKey, KeyError> {
        let kind = match der.algorithm() {
            Algorithm::Ec(Curve::P256) => KeyKind::EcP256,
            Algorithm::Ec(Curve::P384) => KeyKind::EcP384,
            Algorithm::Ec(Curve::P521) => KeyKind::EcP521,
            Algorithm::Rsa { bits } => KeyKind::Rsa { bits },
            Algorithm::Ed25519 => KeyKind::Ed25519,
        };
        Ok(PublicKey { kind, der })
    }

    /// Parses a public key file: PEM `PUBLIC KEY`, `RSA PUBLIC KEY` or `CERTIFICATE` (its
    /// subject's key), or SubjectPublicKeyInfo DER.
    pub fn from_pem(text: &[u8]) -> Result<PublicKey, KeyError> {
        PublicKey::from_der_key(zoll_der::keys::public_key(text)?)
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub fn spki_der(&self) -> &[u8] {
        self.der.spki()
    }

    /// The subjectPublicKey bit string contents.
    pub fn raw(&self) -> &[u8] {
        self.der.key()
    }

    pub fn to_pem(&self) -> String {
        zoll_der::pem::encode("PUBLIC KEY", self.spki_der())
    }

    /// Hex SHA-256 of the DER SubjectPublicKeyInfo: the key's name in reports.
    pub fn fingerprint(&self) -> String {
        zoll_stdx::hex::encode(&super::HashAlgorithm::Sha256.digest(self.spki_der()))
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
        UnparsedPublicKey::new(verifier, self.raw())
            .verify(message, signature)
            .is_ok()
    }
}
