//! Attacks on the running binary from outside: floods of wrong logins, silent and
//! half-sent connections under a descriptor limit. Each test fails on a server without the
//! defence it names.

use std::time::Duration;

use base64::Engine;

use crate::server::{command_with_auth, Zoll};

const ADMIN_PASSWORD: &str = "the-right-password";

fn basic(user: &str, pass: &str) -> String {
    let raw = format!("{user}:{pass}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// 200 concurrent wrong logins (throttling off, so that every one asks for a password
/// check): the server's peak RSS stays under 256 MiB and falls back under 128 MiB, and a
/// right login still works afterwards. Without bounded hashing each attempt allocated
/// 19 MiB on its own thread (11 GiB for 200), and the allocator kept it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_login_flood_keeps_memory_bounded() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = command_with_auth(data.path(), &[]);
    cmd.env("ZOLL_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("ZOLL_AUTH_FAILED_LOGINS_PER_SOURCE", "0")
        .env("ZOLL_AUTH_FAILED_LOGINS_PER_ACCOUNT", "0");
    let zoll = Zoll::spawn(cmd, "http").await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let url = format!("{}/v2/", zoll.base);
    let attempts = (0..200).map(|i| {
        let http = http.clone();
        let url = url.clone();
        tokio::spawn(async move {
            http.get(&url)
                .header("authorization", basic("admin", &format!("wrong-{i}")))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let mut unauthorized = 0;
    for s in statuses {
        match s.unwrap().expect("answered") {
            401 => unauthorized += 1,
            429 => {} // too many checks waiting: refused without hashing
            other => panic!("a wrong login answered {other}"),
        }
    }
    assert!(unauthorized >= 2, "some wrong logins were checked");
    let peak = zoll.peak_rss();
    eprintln!(
        "200 concurrent wrong logins: {unauthorized} checked, peak RSS {} MiB",
        peak >> 20
    );
    assert!(peak < 256 << 20, "peak RSS {} MiB", peak >> 20);
    // The memory comes back (allow the runtime a moment to settle).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while zoll.rss() >= 128 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "RSS stayed at {} MiB after the flood",
            zoll.rss() >> 20
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ok = http
        .get(&url)
        .header("authorization", basic("admin", ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}
