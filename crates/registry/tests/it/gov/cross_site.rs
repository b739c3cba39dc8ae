//! Review finding: a browser that once held an administrator's Basic credentials for the
//! registry (typed at a `/metrics` or `/api` prompt) sends them again by itself, so a page of
//! another site could post a form shaped like JSON to `/api/v1/users` and create an
//! administrator. Changes sent by another site's page are refused, and API bodies must say
//! they are JSON, which no cross-site form can.

use super::{ADMIN, basic, registry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_from_another_sites_page_are_refused_and_api_bodies_must_be_json() {
    let reg = registry().await;
    let auth = basic(ADMIN.0, ADMIN.1);
    let user =
        |name: &str| format!(r#"{{"name":"{name}","password":"a-long-password","admin":true}}"#);
    let post = |headers: Vec<(&'static str, String)>, body: String| {
        let reg = &reg;
        let auth = auth.clone();
        async move {
            let mut h: Vec<(&str, &str)> = vec![("authorization", auth.as_str())];
            h.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
            reg.call("POST", "/api/v1/users", &h, body).await
        }
    };
    // The form a page elsewhere can send: text/plain, with the browser's fetch metadata.
    let form = post(
        vec![
            ("content-type", "text/plain".into()),
            ("sec-fetch-site", "cross-site".into()),
            ("origin", "https://evil.example".into()),
        ],
        user("evil1"),
    )
    .await;
    assert_eq!(form.status, 403, "{}", String::from_utf8_lossy(&form.body));
    // Even without fetch metadata (an older browser): the Origin is not this server.
    let r = post(
        vec![
            ("content-type", "application/json".into()),
            ("origin", "https://evil.example".into()),
            ("host", "registry.example".into()),
        ],
        user("evil2"),
    )
    .await;
    assert_eq!(r.status, 403);
    // And a body that does not say it is JSON is not read as JSON.
    let r = post(vec![("content-type", "text/plain".into())], user("evil3")).await;
    assert_eq!(r.status, 415, "{}", String::from_utf8_lossy(&r.body));
    // A same-site page is another site's page too; a null origin is nobody's.
    for (k, v) in [("sec-fetch-site", "same-site"), ("origin", "null")] {
        let r = post(
            vec![("content-type", "application/json".into()), (k, v.into())],
            user("evil4"),
        )
        .await;
        assert_eq!(r.status, 403, "{k}: {v}");
    }
    // The same change from a registry client (no browser headers), or from a page of this
    // very server, is done.
    let r = post(
        vec![("content-type", "application/json".into())],
        user("ok1"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = post(
        vec![
            ("content-type", "application/json; charset=utf-8".into()),
            ("host", "registry.example".into()),
            ("origin", "https://registry.example".into()),
            ("sec-fetch-site", "same-origin".into()),
        ],
        user("ok2"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let users = super::admin_api(&reg, "GET", "/users", None)
        .await
        .to_string();
    assert!(!users.contains("evil"), "{users}");

    // The Distribution API too: no upload started by another site's page.
    let r = reg
        .call(
            "POST",
            "/v2/team/app/blobs/uploads/",
            &[
                ("authorization", auth.as_str()),
                ("sec-fetch-site", "cross-site"),
            ],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(r.status, 403);
}

/// Without authentication (`--no-auth`, loopback only) a page whose DNS name was rebound to
/// 127.0.0.1 reaches the registry with everyone's rights; its requests name that host, not
/// a loopback one, and are refused (review finding).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_authentication_only_loopback_names_are_answered() {
    let reg = crate::harness::TestRegistry::new().await;
    let get = |host: &'static str| {
        let reg = &reg;
        async move {
            reg.call("GET", "/v2/", &[("host", host)], axum::body::Body::empty())
                .await
        }
    };
    assert_eq!(get("rebound.evil.example").await.status, 403);
    assert_eq!(get("rebound.evil.example:5000").await.status, 403);
    for host in [
        "127.0.0.1:5000",
        "localhost:5000",
        "[::1]:5000",
        "LOCALHOST",
    ] {
        assert_eq!(get(host).await.status, 200, "{host}");
    }
}
