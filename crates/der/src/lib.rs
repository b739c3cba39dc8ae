//! zoll's one layer for the encodings keys and certificates come in (issue 15): PEM blocks
//! ([`pem`]), a bounded DER reader and the DER writing helpers ([`der`]), ECDSA signatures
//! between their fixed and DER forms ([`ecdsa`]), and public keys, private keys and
//! certificates out of SubjectPublicKeyInfo, PKCS#1, SEC1, PKCS#8 (PBES2-encrypted too) and
//! X.509 ([`keys`]). `zoll-trust` (signing) and `zoll-crypt` (ocicrypt) both read keys
//! through it; before, each had its own copy.
//!
//! Named `zoll-der` rather than `zoll-keys`: it knows encodings, not keys in use. Signing,
//! verifying, key sources and PKCS#11 stay with `zoll-trust` and `zoll-crypt`; the only
//! cryptography here is opening a password-protected PKCS#8 file, on aws-lc-rs like the rest
//! of zoll. X.509 certificates are read with `x509-parser` (which `zoll-trust` already uses
//! for chains); PEM framing is the `pem` crate's.

#![forbid(unsafe_code)]

pub mod der;
pub mod ecdsa;
mod error;
pub mod keys;
mod pbes2;
pub mod pem;

pub use error::{Error, Result};
pub use keys::{Algorithm, Certificate, Curve, PrivateKey, PublicKey};
pub use pbes2::MAX_PBKDF2_ITERATIONS;
