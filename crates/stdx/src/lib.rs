//! Small helpers that several zoll crates once wrote each for themselves (issue 15): hex,
//! strict base64 (standard and URL-safe),
//! wall-clock times and RFC 3339 stamps, a constant-time compare, random identifiers, the
//! `Progress` long work reports to and, with the `rt` feature, the tokio runtimes of the
//! command line. One copy means one place to get
//! them right (the old hex decoders accepted a leading `+` in a pair).
//!
//! Depends on no zoll crate, so every crate, the graph's roots included, may use it.

#![forbid(unsafe_code)]

pub mod base64;
pub mod ct;
pub mod hex;
pub mod progress;
pub mod rand;
#[cfg(feature = "rt")]
pub mod rt;
pub mod text;
pub mod time;
