//! Signing and verification for zoll.
#![forbid(unsafe_code)]

pub mod cbor;
pub mod encoding;
pub mod keys;
pub mod notation;
pub mod x509;
