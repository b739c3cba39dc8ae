//! The client against real registries (zoll's Router on a loopback port, Debian's
//! docker-registry 2.8.2) and real OCI layouts (read and written by skopeo).

mod layouts;
mod paging;
mod registries;
mod retries;

use std::process::Command;

use zoll_client::{ClientConfig, ImageRef, Repository};

pub fn open(r: &str) -> Repository {
    open_with(r, &ClientConfig::default())
}

pub fn open_with(r: &str, config: &ClientConfig) -> Repository {
    let r: ImageRef = r.parse().unwrap();
    Repository::open(&r, config).unwrap()
}

/// Serves `app` (a registry stand-in that misbehaves on purpose) on `listener`; its address.
pub fn serve_fake(listener: tokio::net::TcpListener, app: axum::Router) -> String {
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
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
