//! Retries against a registry stand-in that fails its first requests: the client repeats
//! reads and manifest puts after connection failures and 429/502/503/504, as often and as
//! long as its policy says, and never repeats an upload `POST` or a request answered 400
//! or 404. Waits go to a recording sleeper, so nothing here sleeps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use zoll_client::{ClientConfig, ClientError, Repository, RetryPolicy, Sleeper};
use zoll_stdx::time::ManualClock;

use crate::{open_with, serve_fake};

const BLOB: &[u8] = b"the blob that is finally served";

/// Remembers every wait instead of waiting.
#[derive(Debug, Default)]
struct Recorded(Mutex<Vec<Duration>>);

impl Sleeper for Recorded {
    fn sleep(
        &self,
        d: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        self.0.lock().unwrap().push(d);
        Box::pin(std::future::ready(()))
    }
}

/// Now, for the stand-in's `Retry-After` dates: 2015-10-21T07:27:55Z.
const NOW_MS: i64 = 1_445_412_475_000;

/// A repository `app` on `addr`, retrying by the default policy into a recording sleeper.
fn client(addr: &str) -> (Repository, Arc<Recorded>) {
    let waits = Arc::new(Recorded::default());
    let config = ClientConfig {
        retry: RetryPolicy {
            sleeper: waits.clone(),
            clock: Arc::new(ManualClock::at(NOW_MS)),
            ..RetryPolicy::default()
        },
        ..ClientConfig::default()
    };
    (open_with(&format!("{addr}/app:v1"), &config), waits)
}

fn waits(w: &Recorded) -> Vec<Duration> {
    w.0.lock().unwrap().clone()
}

/// Answers the first `fail` requests with `status` (and `retry_after`, if any), then serves
/// [`BLOB`] and accepts manifests; returns its address and the requests received.
async fn flaky(
    fail: usize,
    status: StatusCode,
    retry_after: Option<&'static str>,
) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let answer = move |method: Method| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < fail {
                let mut resp = (status, "not now").into_response();
                if let Some(v) = retry_after {
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static(v));
                }
                return resp;
            }
            match method {
                Method::PUT => StatusCode::CREATED.into_response(),
                _ => BLOB.into_response(),
            }
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (
        serve_fake(listener, axum::Router::new().fallback(answer)),
        seen,
    )
}

/// The request failed with the registry's `status` after one attempt and no wait.
fn answered_at_once<T: std::fmt::Debug>(
    got: Result<T, ClientError>,
    status: u16,
    seen: &AtomicUsize,
    w: &Recorded,
) {
    assert!(
        matches!(got, Err(ClientError::Registry { status: s, .. }) if s == status),
        "{got:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(waits(w).is_empty());
}

async fn fetch(repo: &Repository) -> Result<bytes::Bytes, ClientError> {
    let desc = zoll_client::descriptor("application/octet-stream", BLOB);
    repo.fetch_blob_bytes(&desc, 1 << 20).await
}

#[tokio::test]
async fn unavailable_twice_then_served_backs_off_twice() {
    let (addr, seen) = flaky(2, StatusCode::SERVICE_UNAVAILABLE, None).await;
    let (repo, w) = client(&addr);
    assert_eq!(fetch(&repo).await.unwrap(), BLOB);
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    let w = waits(&w);
    assert_eq!(w.len(), 2, "{w:?}");
    // 500 ms then 1 s, each less up to half of it for jitter.
    assert!(w[0] >= Duration::from_millis(250) && w[0] <= Duration::from_millis(500));
    assert!(w[1] >= Duration::from_millis(500) && w[1] <= Duration::from_millis(1000));
}

#[tokio::test]
async fn retry_after_is_honoured_in_seconds_and_as_a_date() {
    let (addr, seen) = flaky(1, StatusCode::TOO_MANY_REQUESTS, Some("3")).await;
    let (repo, w) = client(&addr);
    assert_eq!(fetch(&repo).await.unwrap(), BLOB);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert_eq!(waits(&w), [Duration::from_secs(3)]);

    // Five seconds after the client's clock.
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    let (addr, seen) = flaky(1, StatusCode::BAD_GATEWAY, Some(date)).await;
    let (repo, w) = client(&addr);
    assert_eq!(fetch(&repo).await.unwrap(), BLOB);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert_eq!(waits(&w), [Duration::from_secs(5)]);
}

#[tokio::test]
async fn at_most_three_retries_then_the_registry_answer_is_the_error() {
    let (addr, seen) = flaky(usize::MAX, StatusCode::GATEWAY_TIMEOUT, None).await;
    let (repo, w) = client(&addr);
    let err = fetch(&repo).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Registry { status: 504, .. }),
        "{err:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 4);
    assert_eq!(waits(&w).len(), 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_longest_wait_is_not_waited_for() {
    let (addr, seen) = flaky(usize::MAX, StatusCode::SERVICE_UNAVAILABLE, Some("3600")).await;
    let (repo, w) = client(&addr);
    answered_at_once(fetch(&repo).await, 503, &seen, &w);
}

#[tokio::test]
async fn the_waits_of_one_request_stay_under_the_total_cap() {
    // Three waits of 9 s fit in the default 30 s.
    let (addr, seen) = flaky(usize::MAX, StatusCode::SERVICE_UNAVAILABLE, Some("9")).await;
    let (repo, w) = client(&addr);
    fetch(&repo).await.unwrap_err();
    assert_eq!(seen.load(Ordering::SeqCst), 4);
    assert_eq!(waits(&w), [Duration::from_secs(9); 3]);

    // With 15 s in all, a second wait of 10 s does not.
    let sleeper = Arc::new(Recorded::default());
    let config = ClientConfig {
        retry: RetryPolicy {
            max_total: Duration::from_secs(15),
            sleeper: sleeper.clone(),
            ..RetryPolicy::default()
        },
        ..ClientConfig::default()
    };
    let (addr, seen) = flaky(usize::MAX, StatusCode::SERVICE_UNAVAILABLE, Some("10")).await;
    fetch(&open_with(&format!("{addr}/app:v1"), &config))
        .await
        .unwrap_err();
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert_eq!(waits(&sleeper), [Duration::from_secs(10)]);
}

#[tokio::test]
async fn bad_request_and_not_found_are_answers_not_retried() {
    for (status, found) in [
        (StatusCode::BAD_REQUEST, false),
        (StatusCode::NOT_FOUND, true),
    ] {
        let (addr, seen) = flaky(usize::MAX, status, None).await;
        let (repo, w) = client(&addr);
        let err = fetch(&repo).await.unwrap_err();
        assert_eq!(matches!(err, ClientError::NotFound(_)), found, "{err:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 1, "{status}");
        assert!(waits(&w).is_empty());
    }
}

#[tokio::test]
async fn a_manifest_put_is_repeated_an_upload_post_is_not() {
    let (addr, seen) = flaky(1, StatusCode::SERVICE_UNAVAILABLE, None).await;
    let (repo, w) = client(&addr);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": zoll_client::descriptor("application/vnd.oci.image.config.v1+json", b"{}"),
        "layers": [],
    });
    repo.push_manifest(
        "application/vnd.oci.image.manifest.v1+json",
        serde_json::to_vec(&manifest).unwrap().into(),
        Some("v1"),
    )
    .await
    .unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert_eq!(waits(&w).len(), 1);

    let (addr, seen) = flaky(1, StatusCode::SERVICE_UNAVAILABLE, None).await;
    let (repo, w) = client(&addr);
    let pushed = repo
        .push_blob_bytes("application/octet-stream", BLOB.into())
        .await;
    answered_at_once(pushed, 503, &seen, &w);
}

#[tokio::test]
async fn connections_closed_unanswered_are_retried() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    // The first two connections are closed as soon as they are accepted; then it serves.
    tokio::spawn(async move {
        for _ in 0..2 {
            drop(listener.accept().await.unwrap());
        }
        let app = axum::Router::new().fallback(move || {
            count.fetch_add(1, Ordering::SeqCst);
            std::future::ready(BLOB)
        });
        serve_fake(listener, app);
    });
    let (repo, w) = client(&addr);
    assert_eq!(fetch(&repo).await.unwrap(), BLOB);
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert_eq!(waits(&w).len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_tried_four_times_then_reported() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let (repo, w) = client(&addr);
    let err = fetch(&repo).await.unwrap_err();
    assert!(matches!(err, ClientError::Http(_)), "{err:?}");
    assert_eq!(waits(&w).len(), 3);
}
