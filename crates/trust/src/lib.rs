//! Signing and verification for zoll.
#![forbid(unsafe_code)]

pub mod artifact;
pub mod cbor;
mod client_repository;
pub mod cosign;
pub mod dsse;
pub mod go_json;
pub mod image;
pub mod keys;
pub mod notation;
pub mod repository;
pub mod signatures;
pub mod verify;
pub mod x509;
