//! Integration tests of zoll-trust: one binary, one module per area.

mod adversarial;
mod image;
mod keys;
mod notation;
mod peers;
mod policy;
mod support;
