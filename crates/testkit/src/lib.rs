//! Test support shared by the integration tests of several crates. Never a dependency of
//! shipped code.

#![forbid(unsafe_code)]

mod image;
mod server;
mod tar;

pub use image::{TestImage, TestLayer, CONFIG, LAYER_TAR, LAYER_TAR_GZIP, OCI_MANIFEST};
pub use server::{store_config, DistributionServer, TestServer};
pub use tar::{gzip_stored, tar, EntryKind, TarEntry};

use std::sync::atomic::{AtomicU32, Ordering};

/// The metadata database a test should use. With `ZOLL_TEST_METADATA=postgres`, a fresh
/// database on the server at `ZOLL_TEST_POSTGRES_URL` (scripts/test.sh starts one and runs
/// the suites once per backend); otherwise `None`, the embedded SQLite.
pub fn metadata_url() -> Option<String> {
    match std::env::var("ZOLL_TEST_METADATA").as_deref() {
        Ok("postgres") => {}
        Ok("sqlite") | Err(_) => return None,
        Ok(other) => panic!("ZOLL_TEST_METADATA={other}: use sqlite or postgres"),
    }
    let admin = std::env::var("ZOLL_TEST_POSTGRES_URL")
        .expect("ZOLL_TEST_POSTGRES_URL (scripts/test.sh starts a server and sets it)");
    let name = unique_name("zt");
    let out = std::process::Command::new("psql")
        .args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = admin.rsplit_once('/').expect("URL with a database").0;
    Some(format!("{base}/{name}"))
}

/// An S3 location for one test: the bucket on the S3 API server at `ZOLL_TEST_S3_ENDPOINT`
/// (scripts/test.sh starts one and creates the bucket) and a prefix no other test uses.
#[derive(Debug, Clone)]
pub struct S3Target {
    pub endpoint: String,
    pub bucket: String,
    pub prefix: String,
}

/// With `ZOLL_TEST_BLOBS=s3`, where a test keeps its blobs; otherwise `None`, local disk.
pub fn s3_target() -> Option<S3Target> {
    match std::env::var("ZOLL_TEST_BLOBS").as_deref() {
        Ok("s3") => {}
        Ok("local") | Err(_) => return None,
        Ok(other) => panic!("ZOLL_TEST_BLOBS={other}: use local or s3"),
    }
    let endpoint = std::env::var("ZOLL_TEST_S3_ENDPOINT")
        .expect("ZOLL_TEST_S3_ENDPOINT (scripts/test.sh starts an S3 server and sets it)");
    Some(S3Target {
        endpoint,
        bucket: "zoll-test".into(),
        prefix: format!("{}/", unique_name("t")),
    })
}

fn unique_name(stem: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{stem}_{}_{n}_{nanos}", std::process::id())
}

/// Deterministic bytes that differ per seed and do not compress.
pub fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Runs a peer command (skopeo, oras, openssl, ...) off the async runtime and returns its
/// stdout. A missing peer or a failure fails the test with the peer's stderr.
pub async fn run_peer(mut cmd: std::process::Command) -> String {
    let shown = format!("{cmd:?}");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("peer task")
        .unwrap_or_else(|e| {
            panic!("cannot run {shown}: {e} (install peers: scripts/install-peers.sh)")
        });
    assert!(
        out.status.success(),
        "{shown} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("peer output is UTF-8")
}
