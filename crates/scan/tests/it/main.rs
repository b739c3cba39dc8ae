//! The one integration-test binary of zoll-scan.

mod hostile;
mod layers;
mod tarbuild;
mod versions;
mod vuln;
