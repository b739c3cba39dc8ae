//! Signing and verification for zoll.
#![forbid(unsafe_code)]

pub mod encoding;
pub mod keys;
