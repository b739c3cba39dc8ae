//! Test support shared by the integration tests of several crates. Never a dependency of
//! shipped code.

#![forbid(unsafe_code)]

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
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("zt_{}_{n}_{nanos}", std::process::id());
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
