//! Private keys in files (PKCS#8, SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`, read by
//! `zoll-der`), signing with aws-lc-rs.

use std::path::Path;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use zeroize::Zeroizing;
use zoll_der::{Algorithm, Curve};

use super::{KeyError, KeyKind, KeySource, PublicKey, SignatureAlgorithm, check_fits};

enum Inner {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key loaded from a PEM file into memory.
pub struct FileKey {
    label: String,
    inner: Inner,
    public: PublicKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileKey({})", self.label)
    }
}

/// Private key files larger than this are refused unread (a 16384-bit RSA key is ~13 KiB).
const MAX_KEY_FILE: u64 = 64 * 1024;

impl FileKey {
    pub fn from_file(path: &Path) -> Result<FileKey, KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_KEY_FILE {
            return Err(KeyError::UnsupportedKey(format!(
                "{} is larger than a key file",
                path.display()
            )));
        }
        let text = Zeroizing::new(std::fs::read(path).map_err(io)?);
        FileKey::from_pem(&text, &path.display().to_string())
    }

    /// Parses a private key file (PEM `PRIVATE KEY`, `EC PRIVATE KEY`, `RSA PRIVATE KEY`, or
    /// PKCS#8 DER). `label` names the key in messages.
    pub fn from_pem(text: &[u8], label: &str) -> Result<FileKey, KeyError> {
        let blocks = zoll_der::pem::blocks(text)?;
        if blocks.iter().any(|b| {
            b.label.starts_with("ENCRYPTED")
                && (b.label.contains("COSIGN") || b.label.contains("SIGSTORE"))
        }) {
            return Err(KeyError::UnsupportedKey(
                "this is a cosign-encrypted key: convert it with `zoll key import-cosign`".into(),
            ));
        }
        match zoll_der::keys::private_key(text, None) {
            Ok(key) => FileKey::from_der_key(&key, label),
            Err(zoll_der::Error::PasswordRequired) => Err(KeyError::UnsupportedKey(
                "the private key is encrypted: decrypt it with `openssl pkcs8` or keep it on a PKCS#11 token"
                    .into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Parses a PKCS#8 DER private key of any supported type.
    pub fn from_pkcs8_der(der: &[u8], label: &str) -> Result<FileKey, KeyError> {
        FileKey::from_der_key(&zoll_der::PrivateKey::from_pkcs8(der)?, label)
    }

    fn from_der_key(key: &zoll_der::PrivateKey, label: &str) -> Result<FileKey, KeyError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| {
            KeyError::UnsupportedKey(format!("{:?} key rejected: {e}", key.algorithm()))
        };
        let der = key.der();
        let inner = match key.algorithm() {
            Algorithm::Ec(curve) => {
                let alg = match curve {
                    Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                    Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
                    Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
                };
                Inner::Ecdsa(EcdsaKeyPair::from_private_key_der(alg, der).map_err(rejected)?)
            }
            Algorithm::Rsa { .. } => Inner::Rsa(RsaKeyPair::from_pkcs8(der).map_err(rejected)?),
            Algorithm::Ed25519 => {
                Inner::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected)?)
            }
        };
        FileKey::with(label, inner)
    }

    fn with(label: &str, inner: Inner) -> Result<FileKey, KeyError> {
        let spki = match &inner {
            Inner::Ecdsa(k) => spki(k.public_key().as_der()),
            Inner::Rsa(k) => spki(k.public_key().as_der()),
            Inner::Ed25519(k) => spki(k.public_key().as_der()),
        }?;
        let public = PublicKey::from_spki_der(&spki)?;
        if let KeyKind::Rsa { bits } = public.kind()
            && bits < 2048
        {
            return Err(KeyError::UnsupportedKey(format!(
                "RSA keys must have at least 2048 bits, this one has {bits}"
            )));
        }
        Ok(FileKey {
            label: label.to_owned(),
            inner,
            public,
            rng: SystemRandom::new(),
        })
    }
}

fn spki(
    der: Result<PublicKeyX509Der<'_>, aws_lc_rs::error::Unspecified>,
) -> Result<Vec<u8>, KeyError> {
    der.map(|d| d.as_ref().to_vec())
        .map_err(|_| KeyError::UnsupportedKey("cannot encode the public key".into()))
}

impl KeySource for FileKey {
    fn describe(&self) -> String {
        format!("{} ({})", self.label, self.public.kind())
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, algorithm: SignatureAlgorithm, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        check_fits(self.public.kind(), algorithm)?;
        let failed = |e: aws_lc_rs::error::Unspecified| KeyError::Signing(e.to_string());
        match &self.inner {
            // The key pair was built for its curve's algorithm, which `check_fits` matched.
            Inner::Ecdsa(k) => Ok(k
                .sign(&self.rng, message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            Inner::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
            Inner::Rsa(k) => {
                let padding: &'static dyn sig::RsaEncoding = match algorithm {
                    SignatureAlgorithm::RsaPssSha256 => &sig::RSA_PSS_SHA256,
                    SignatureAlgorithm::RsaPssSha384 => &sig::RSA_PSS_SHA384,
                    SignatureAlgorithm::RsaPssSha512 => &sig::RSA_PSS_SHA512,
                    SignatureAlgorithm::RsaPkcs1Sha256 => &sig::RSA_PKCS1_SHA256,
                    SignatureAlgorithm::RsaPkcs1Sha384 => &sig::RSA_PKCS1_SHA384,
                    _ => &sig::RSA_PKCS1_SHA512,
                };
                let mut out = vec![0u8; k.public_modulus_len()];
                k.sign(padding, &self.rng, message, &mut out)
                    .map_err(failed)?;
                Ok(out)
            }
        }
    }
}
