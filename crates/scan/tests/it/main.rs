//! The one integration-test binary of zoll-scan.

mod hostile;
mod layers;
mod peers;
mod rootfs;
mod tarbuild;
mod versions;
mod vuln;
