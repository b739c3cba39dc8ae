//! Webhooks: a receiver in the test checks every delivery's HMAC-SHA256 signature and the
//! CloudEvents fields; it fails the first attempts, and the registry retries with backoff
//! and logs each attempt.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::{add_user, admin_api, push_as_admin};
use crate::harness::TestRegistry;

const SECRET: &str = "a-webhook-secret-of-some-length";

#[derive(Default)]
struct Received {
    attempts: usize,
    delivered: Vec<(HeaderMap, Vec<u8>)>,
}

/// Answers 503 to the first `fail` requests, then 200; keeps what it accepted.
async fn receiver(fail: usize) -> (String, Arc<Mutex<Received>>) {
    let seen = Arc::new(Mutex::new(Received::default()));
    let state = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                let mut s = state.lock().unwrap();
                s.attempts += 1;
                if s.attempts <= fail {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                s.delivered.push((headers, body.to_vec()));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

/// A registry whose webhooks may reach the receivers on loopback (allowed explicitly, as an
/// administrator would).
async fn registry() -> TestRegistry {
    super::registry()
        .await
        .with_hooks(|h| h.destinations.allowed = vec!["127.0.0.0/8".parse().unwrap()])
}

fn hmac_hex(body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, body);
    zoll_stdx::hex::encode(tag.as_ref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_cloudevents_are_delivered_with_retries_after_a_failing_receiver() {
    let reg = registry().await;
    let (url, seen) = receiver(2).await;
    admin_api(&reg, "POST", "/projects", Some(json!({"name": "hooked"}))).await;
    let hook = admin_api(
        &reg,
        "POST",
        "/projects/hooked/webhooks",
        Some(json!({"url": url, "secret": SECRET, "events": ["io.zoll.artifact.pushed", "io.zoll.pull.denied"]})),
    )
    .await;
    let deliveries = tokio::spawn(zoll_registry::events::run_deliveries(reg.app.clone()));
    let (digest, _) = push_as_admin(&reg, "hooked/app", "v1", b"layer").await;
    add_user(&reg, "eve", "eve-password").await;
    assert_eq!(
        reg.get_as("/v2/hooked/app/manifests/v1", ("eve", "eve-password"))
            .await
            .status,
        403
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.lock().unwrap().delivered.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The receiver answers before the sender records the attempt: wait for the log too.
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut recorded = 0;
        for d in reg.store.deliveries(&hook_id, 100).await.unwrap() {
            recorded += reg.store.attempts(&d.id).await.unwrap().len();
        }
        if recorded >= 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "attempts were not recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    deliveries.abort();
    let (attempts, delivered) = {
        let got = seen.lock().unwrap();
        (got.attempts, got.delivered.clone())
    };
    assert_eq!(attempts, 4, "two refused attempts, then two deliveries");
    let mut types = Vec::new();
    for (headers, body) in &delivered {
        let sig = headers["x-zoll-signature-256"].to_str().unwrap();
        assert_eq!(sig, format!("sha256={}", hmac_hex(body)));
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/cloudevents+json")
        );
        let e: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["data"]["repository"], "hooked/app");
        types.push(e["type"].as_str().unwrap().to_owned());
        if e["type"] == "io.zoll.artifact.pushed" {
            assert_eq!(e["subject"], "hooked/app:v1");
            assert_eq!(e["data"]["digest"], digest);
            assert_eq!(e["data"]["actor"], "admin");
        } else {
            assert_eq!(e["data"]["actor"], "eve");
        }
    }
    types.sort();
    assert_eq!(
        types,
        vec!["io.zoll.artifact.pushed", "io.zoll.pull.denied"]
    );
    // The delivery log: four attempts over the two events, each ending delivered.
    let log = admin_api(
        &reg,
        "GET",
        &format!(
            "/projects/hooked/webhooks/{}/deliveries",
            hook["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    let push = log
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event_type"] == "io.zoll.artifact.pushed")
        .unwrap();
    assert_eq!(push["state"], "delivered");
    let statuses: Vec<Value> = push["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    let total: usize = log
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attempt_log"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, 4);
    assert_eq!(statuses.last().unwrap(), &json!(200));
    // Attempts and settled deliveries are counted by result.
    let page = super::metrics(&reg).await;
    let count = |series: &str| super::metric(&page, series);
    assert_eq!(count(r#"zoll_webhook_attempts_total{result="failed"}"#), 2);
    assert_eq!(count(r#"zoll_webhook_attempts_total{result="ok"}"#), 2);
    assert_eq!(
        count(r#"zoll_webhook_deliveries_total{result="delivered"}"#),
        2
    );
    assert!(!page.contains(r#"zoll_webhook_deliveries_total{result="failed"}"#));
}
