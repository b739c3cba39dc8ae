//! cosign's formats: the legacy `sha256-<hex>.sig` tag with simple-signing layers, and the
//! sigstore bundle v0.3 attached as an OCI 1.1 referrer.

pub mod bundle;
pub mod simple_signing;
