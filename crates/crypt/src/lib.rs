//! ocicrypt-compatible OCI layer encryption: the `+encrypted` layer media types, the
//! `org.opencontainers.image.enc.*` annotations, AES-256-CTR + HMAC-SHA256 layer data, and
//! the private options wrapped for recipients with JWE, PKCS#7, PKCS#11 (RSA-OAEP in a
//! token) or an external key provider.
//!
//! Layers stream through a bounded pipeline on two cores ([`layer`]); decrypted data is
//! released only after its HMAC and digest verified ([`decrypt_to_staging`]).

#![forbid(unsafe_code)]

mod error;
pub mod image;
mod jwe;
mod keyprovider;
mod keys;
mod layer;
mod options;
mod pkcs11;
mod pkcs7;
mod repo;
mod spec;
mod wrap;

pub use error::{CryptError, Result};
pub use keyprovider::{CONFIG_ENV as KEYPROVIDER_CONFIG_ENV, ProviderKey};
pub use keys::{Certificate, Curve, PrivateKey, PublicKey};
pub use layer::{EncryptedLayer, VerifiedLayer, decrypt_to_staging, encrypt};
pub use options::{AES_256_CTR_HMAC_SHA256, PrivateOptions, PublicOptions};
pub use pkcs11::token::env_mismatches as pkcs11_env_mismatches;
pub use pkcs11::{OaepHash, Pkcs11Recipient, TokenKey};
pub use repo::{run, run_with};
pub use spec::{KeyRing, Recipient};
pub use wrap::{
    ANNOTATION_PREFIX, PUBOPTS, WrapSettings, add_recipients, annotations_for, is_encrypted,
    remove_recipients, unwrap_options,
};

/// Annotation keys of the key-wrapping schemes.
/// Parsers of attacker-supplied input, for the fuzz targets (`cargo afl build` sets
/// `--cfg fuzzing`).
#[cfg(fuzzing)]
pub mod fuzzing {
    pub use crate::jwe::{recipient_kids as jwe_recipient_kids, unwrap as jwe_unwrap};
    pub use crate::keys::{parse_certificate, parse_private_key, parse_public_key};
    pub use crate::pkcs7::{remove_recipients as pkcs7_remove_recipients, unwrap as pkcs7_unwrap};
    pub use crate::pkcs11::key_file::parse_key_file as pkcs11_key_file;
}

pub mod annotations {
    pub use crate::jwe::ANNOTATION as JWE;
    pub use crate::keyprovider::ANNOTATION_PREFIX as PROVIDER_PREFIX;
    pub use crate::pkcs7::ANNOTATION as PKCS7;
    pub use crate::pkcs11::ANNOTATION as PKCS11;
    pub use crate::wrap::PUBOPTS;
}
