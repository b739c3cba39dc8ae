//! One module per command family; each turns its arguments into calls of the library
//! crates. Shared pieces live beside `main.rs`: the runtime and the store (`main.rs`),
//! configuration (`config.rs`), logging and the management-API client (`remote.rs`).

pub mod admin;
pub mod admission;
pub mod approvals;
pub mod crypt;
pub mod docs;
pub mod gov;
pub mod key;
pub mod maintain;
pub mod policy;
pub mod scan;
pub mod scans;
pub mod sign;
pub mod verify;
