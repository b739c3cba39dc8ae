//! The one integration-test binary of zoll-scan.

mod hostile;
mod layers;
mod lint;
mod peers;
mod rootfs;
mod seam;
mod tarbuild;
mod versions;
mod vuln;
