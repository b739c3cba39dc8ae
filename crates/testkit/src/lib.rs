//! Test support shared by the integration tests of several crates. Never a dependency of
//! shipped code.

#![forbid(unsafe_code)]

mod image;
mod peers;
mod quorum;
mod server;
mod softhsm;
mod tar;

pub use image::{CONFIG, LAYER_TAR, LAYER_TAR_GZIP, OCI_MANIFEST, TestImage, TestLayer};
pub use peers::require_peer;
pub use quorum::quorum_keys_file;
pub use server::{DistributionServer, TEST_ADMIN_PASSWORD, TestServer, store_config};
pub use softhsm::{
    SOFTHSM_KEYS, SOFTHSM_MODULE, SOFTHSM_PIN, SOFTHSM_TOKEN, softhsm_conf, softhsm_key,
    softhsm_token,
};
pub use tar::{EntryKind, TarEntry, gzip_stored, tar};

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
    Some(fresh_postgres_database())
}

/// A new, empty database on the test PostgreSQL server at `ZOLL_TEST_POSTGRES_URL`.
pub fn fresh_postgres_database() -> String {
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
    format!("{base}/{name}")
}

/// The backends one test runs on, chosen by the test run's environment: metadata in SQLite
/// or a fresh PostgreSQL database, blobs on local disk or in a fresh S3 bucket. Keep it for
/// the whole test: a restarted server must see the same database and bucket.
#[derive(Debug, Clone)]
pub struct Backends {
    pub metadata_url: Option<String>,
    pub s3: Option<S3Target>,
}

impl Backends {
    pub fn for_test() -> Backends {
        Backends {
            metadata_url: metadata_url(),
            s3: s3_target(),
        }
    }

    /// PostgreSQL and S3 whatever the test run selected: for tests of several replicas,
    /// which only these shared backends allow.
    pub fn shared() -> Backends {
        Backends {
            metadata_url: Some(fresh_postgres_database()),
            s3: Some(fresh_s3_bucket()),
        }
    }

    /// `ZOLL_*` environment for a `zoll` process on these backends.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(url) = &self.metadata_url {
            env.push(("ZOLL_METADATA_URL".to_owned(), url.clone()));
        }
        if let Some(t) = &self.s3 {
            for (k, v) in [
                ("ZOLL_S3_BUCKET", t.bucket.as_str()),
                ("ZOLL_S3_ENDPOINT", t.endpoint.as_str()),
                ("ZOLL_S3_PREFIX", t.prefix.as_str()),
                ("ZOLL_S3_REGION", "us-east-1"),
                ("ZOLL_S3_ACCESS_KEY_ID", "test"),
                ("ZOLL_S3_SECRET_ACCESS_KEY", "test"),
                ("ZOLL_S3_PATH_STYLE", "true"),
                ("ZOLL_S3_DANGER_ALLOW_HTTP", "true"),
            ] {
                env.push((k.to_owned(), v.to_owned()));
            }
        }
        env
    }
}

/// An S3 location for one test: a bucket of its own on the S3 API server at
/// `ZOLL_TEST_S3_ENDPOINT` (scripts/test.sh starts one), so that no test lists another's
/// objects.
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
    Some(fresh_s3_bucket())
}

/// A new, empty bucket on the test S3 server at `ZOLL_TEST_S3_ENDPOINT`.
pub fn fresh_s3_bucket() -> S3Target {
    let endpoint = std::env::var("ZOLL_TEST_S3_ENDPOINT")
        .expect("ZOLL_TEST_S3_ENDPOINT (scripts/test.sh starts an S3 server and sets it)");
    let bucket = unique_name("zt").replace('_', "-");
    create_bucket(&endpoint, &bucket);
    S3Target {
        endpoint,
        bucket,
        prefix: "zoll/".into(),
    }
}

/// `PUT /<bucket>` on the test S3 server (it accepts unsigned requests), over a plain
/// socket so that the kit needs no HTTP client.
fn create_bucket(endpoint: &str, bucket: &str) {
    use std::io::{Read, Write};
    let host = endpoint
        .strip_prefix("http://")
        .expect("the test S3 endpoint is plain http on loopback")
        .trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(host)
        .unwrap_or_else(|e| panic!("S3 test server at {endpoint}: {e}"));
    write!(
        conn,
        "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("read");
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
        "creating bucket {bucket}: {}",
        answer.lines().next().unwrap_or("")
    );
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

/// Bytes free on the file system holding `dir` (`df`), so a test that needs room can say so
/// instead of failing later with an unrelated-looking error (a 500, a broken pipe).
pub fn free_bytes(dir: &std::path::Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .expect("run df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("df printed nothing usable for {}", dir.display()))
}
