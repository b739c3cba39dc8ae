//! Paged lists against a registry that never ends them: a fake registry answering every
//! referrers request with one page (empty, or of one descriptor) linking to the next.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use zoll_client::ClientError;
use zoll_oci::Digest;

use crate::{open, serve_fake};

/// Serves endless referrer pages of `per_page` descriptors; returns its address and the
/// count of requests served.
async fn endless(per_page: usize) -> (String, Arc<AtomicUsize>) {
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let page = move |uri: axum::http::Uri| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        async move {
            let manifests: Vec<_> = (0..per_page)
                .map(|i| {
                    let d = zoll_client::descriptor(
                        "application/vnd.oci.image.manifest.v1+json",
                        format!("{n}-{i}").as_bytes(),
                    );
                    serde_json::json!({
                        "mediaType": d.media_type,
                        "digest": d.digest,
                        "size": d.size,
                        "artifactType": "application/vnd.example.signature",
                    })
                })
                .collect();
            let body = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": manifests,
            });
            let next = format!("<{}?last={n}>; rel=\"next\"", uri.path());
            (
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.oci.image.index.v1+json".to_owned(),
                    ),
                    (header::LINK, next),
                ],
                body.to_string(),
            )
                .into_response()
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (
        serve_fake(listener, axum::Router::new().fallback(page)),
        served,
    )
}

#[tokio::test]
async fn endless_empty_pages_end_in_an_error() {
    let (addr, served) = endless(0).await;
    let repo = open(&format!("{addr}/app:v1"));
    let subject = Digest::sha256(b"subject");
    let listed = tokio::time::timeout(Duration::from_secs(60), repo.referrers(&subject, None))
        .await
        .expect("the pages are not followed forever");
    assert!(
        matches!(listed, Err(ClientError::TooLarge { .. })),
        "{listed:?}"
    );
    assert!(served.load(Ordering::SeqCst) <= 1001);
}

#[tokio::test]
async fn referrers_until_a_limit_stop_reading_pages() {
    let (addr, served) = endless(1).await;
    let repo = open(&format!("{addr}/app:v1"));
    let subject = Digest::sha256(b"subject");
    let listed = repo.referrers_until(&subject, None, 5).await.unwrap();
    assert_eq!(listed.len(), 5);
    assert_eq!(served.load(Ordering::SeqCst), 5);
}
