//! Who reads `/metrics` (issue 16): system administrators and a dedicated scraper holding
//! the reader token, which authorizes nothing else; everyone else is refused.

use serde_json::json;
use zoll_registry::ReaderToken;

use super::{ADMIN, add_user, admin_api, push_as_admin, registry, token_access};
use crate::harness::TestRegistry;

const READER: &str = "scrape-5f0c2a9e7d1b4c3a8e6f0d2b9a7c5e3f";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn status(reg: &TestRegistry, method: &str, path: &str, auth: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
    reg.call(method, path, &headers, axum::body::Body::empty())
        .await
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_token_reads_metrics_and_nothing_else() {
    let reg = registry()
        .await
        .with_app(|app| app.metrics_reader = Some(ReaderToken::new(READER).unwrap()));
    admin_api(
        &reg,
        "POST",
        "/projects",
        Some(json!({"name": "pub", "public": true})),
    )
    .await;
    push_as_admin(&reg, "pub/app", "v1", b"layer").await;
    add_user(&reg, "alice", "alice-password").await;

    let token = bearer(READER);
    let r = reg
        .call("GET", "/metrics", &[("authorization", &token)], vec![])
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.header("content-type").starts_with("text/plain"),
        "{:?}",
        r.headers
    );
    let page = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(page.contains("zoll_http_requests_total{"), "{page}");
    // Administrators still read it.
    assert_eq!(reg.get_as("/metrics", ADMIN).await.status, 200);

    // Anyone else is refused: nobody, a wrong token, an account that is no administrator.
    assert_eq!(status(&reg, "GET", "/metrics", None).await, 401);
    let wrong = bearer(&READER.replace("5", "6"));
    assert_eq!(status(&reg, "GET", "/metrics", Some(&wrong)).await, 401);
    let alice = reg.get_as("/metrics", ("alice", "alice-password")).await;
    assert_eq!(alice.status, 403);
    assert_eq!(alice.code(), "DENIED");

    // The token is nobody anywhere else: not even what anonymous callers may (a public
    // pull), no push, no management call, no registry token.
    for (method, path) in [
        ("GET", "/v2/"),
        ("GET", "/v2/pub/app/manifests/v1"),
        ("POST", "/v2/pub/app/blobs/uploads/"),
        ("DELETE", "/v2/pub/app/manifests/v1"),
        ("GET", "/api/v1/projects"),
        ("GET", "/api/v1/users"),
    ] {
        assert_eq!(
            status(&reg, method, path, Some(&token)).await,
            401,
            "{method} {path}"
        );
    }
    // The token endpoint reads Basic credentials only: with the metrics token it answers
    // as to nobody (what anonymous callers get anyway), granting no push.
    let scope = "repository:pub/app:pull,push";
    let r = reg
        .call(
            "GET",
            &format!("/token?service=zoll-registry&scope={scope}"),
            &[("authorization", &token)],
            vec![],
        )
        .await;
    let granted = token_access(r.json()["token"].as_str().unwrap());
    assert_eq!(
        granted,
        token_access(&super::token(&reg, None, scope).await)
    );
    assert_eq!(granted[0]["actions"], json!(["pull"]), "{granted}");
}
