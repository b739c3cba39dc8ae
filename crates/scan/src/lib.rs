//! `zoll-scan`: what is inside an image, what is known to be wrong with it, and how it was built.
//!
//! - [`walk`]: applies layers onto an in-memory index (whiteouts, bounds, hostile input);
//! - [`catalog`]: package catalogers (dpkg, apk, rpm, Python, npm, Go, Rust, Java) and OS
//!   detection;
//! - [`sbom`]: CycloneDX 1.6 and SPDX 2.3 JSON;
//! - [`vuln`]: the OSV database, per-ecosystem version ordering, matching, VEX and allowlists;
//! - [`lint`]: hardening checks on the image config and squashed filesystem (Dockle's set);
//! - [`job`]: what the registry calls: scan an image, re-match a stored SBOM, evaluate a gate.

#![forbid(unsafe_code)]

pub mod catalog;
pub mod error;
pub mod job;
pub mod limits;
pub mod lint;
pub mod purl;
pub mod report;
pub mod sbom;
pub mod seam;
pub mod vuln;
pub mod walk;

pub use error::ScanError;
pub use limits::Limits;
