//! The client against real registries (zoll's Router on a loopback port, Debian's
//! docker-registry 2.8.2) and real OCI layouts (read and written by skopeo).

mod layouts;
mod paging;
mod registries;

use std::process::Command;

use zoll_client::{ClientConfig, ImageRef, Repository};

pub fn open(r: &str) -> Repository {
    let r: ImageRef = r.parse().unwrap();
    Repository::open(&r, &ClientConfig::default()).unwrap()
}

pub use zoll_testkit::run_peer as run;

pub fn skopeo_copy(src: &str, dst: &str) -> Command {
    let mut c = Command::new("skopeo");
    c.args([
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--preserve-digests",
        src,
        dst,
    ]);
    c
}
