//! Governance over the real Router with authentication on: the token flow, the
//! authorization matrix, audit tamper detection, pushes into missing projects, immutable tags,
//! quotas, retention, webhooks and the peers' logins.

mod audit;
mod auth;
mod backup;
mod cross_site;
mod hardening;
mod matrix;
mod metrics;
mod peers;
mod policies;
mod projects;
mod webhooks;

use base64::Engine;
use serde_json::{Value, json};
use zoll_store::Account;

pub use crate::harness::metric;
use crate::harness::{Resp, TestRegistry};

pub const ADMIN: (&str, &str) = ("admin", "admin-password");

pub fn basic(user: &str, pass: &str) -> String {
    let raw = format!("{user}:{pass}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// A registry with authentication on and the administrator [`ADMIN`].
pub async fn registry() -> TestRegistry {
    let reg = TestRegistry::with_auth().await;
    zoll_registry::auth::bootstrap_admin(&reg.store, Some(ADMIN.1))
        .await
        .unwrap();
    reg
}

/// Creates a user directly in the store (as `zoll user add` does).
pub async fn add_user(reg: &TestRegistry, name: &str, pass: &str) {
    let hash = zoll_registry::auth::password::hash(pass);
    assert!(
        reg.store
            .put_account(&Account::user(name, hash, false), false)
            .await
            .unwrap()
    );
}

/// Creates project `project` and a user `user` (password `pass`) holding `role` in it.
pub async fn project_with_member(
    reg: &TestRegistry,
    project: &str,
    user: &str,
    pass: &str,
    role: &str,
) {
    admin_api(reg, "POST", "/projects", Some(json!({"name": project}))).await;
    add_user(reg, user, pass).await;
    admin_api(
        reg,
        "PUT",
        &format!("/projects/{project}/members/{user}"),
        Some(json!({"role": role})),
    )
    .await;
}

/// A management API call with Basic credentials.
pub async fn api(
    reg: &TestRegistry,
    method: &str,
    path: &str,
    who: (&str, &str),
    body: Option<Value>,
) -> Resp {
    let auth = basic(who.0, who.1);
    let mut headers = vec![("authorization", auth.as_str())];
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    let bytes = body
        .map(|b| serde_json::to_vec(&b).unwrap())
        .unwrap_or_default();
    reg.call(method, &format!("/api/v1{path}"), &headers, bytes)
        .await
}

/// As the administrator, expecting success.
pub async fn admin_api(reg: &TestRegistry, method: &str, path: &str, body: Option<Value>) -> Value {
    let r = api(reg, method, path, ADMIN, body).await;
    assert!(
        (200..300).contains(&r.status),
        "{method} {path}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

/// The metrics page, read as the administrator.
pub async fn metrics(reg: &TestRegistry) -> String {
    reg.metrics(Some(ADMIN)).await
}

/// A token from the token endpoint for `scope`, with Basic credentials (or none).
pub async fn token(reg: &TestRegistry, who: Option<(&str, &str)>, scope: &str) -> String {
    let auth = who.map(|(u, p)| basic(u, p));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let r = reg
        .call(
            "GET",
            &format!("/token?service=zoll-registry&scope={scope}"),
            &headers,
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["token"].as_str().unwrap().to_owned()
}

/// The `access` claim of a token (read without verification, to see what was granted).
pub fn token_access(token: &str) -> Value {
    let claims = token.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .unwrap();
    serde_json::from_slice::<Value>(&raw).unwrap()["access"].clone()
}

/// Pushes an image as the administrator (Basic) and returns the manifest digest.
pub async fn push_as_admin(
    reg: &TestRegistry,
    repo: &str,
    tag: &str,
    layer: &[u8],
) -> (String, String) {
    let auth = basic(ADMIN.0, ADMIN.1);
    let h = [("authorization", auth.as_str())];
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let mut digests = Vec::new();
    for content in [&config[..], layer] {
        let d = zoll_oci::Digest::sha256(content);
        let r = reg
            .call(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &h,
                content.to_vec(),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        digests.push(d);
    }
    let m = crate::harness::image_manifest(
        &digests[0],
        config.len(),
        &[(&digests[1], layer.len())],
        None,
    );
    let bytes = serde_json::to_vec(&m).unwrap();
    let r = reg
        .call(
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[
                ("authorization", auth.as_str()),
                ("content-type", crate::harness::OCI_MANIFEST),
            ],
            bytes.clone(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    (
        zoll_oci::Digest::sha256(&bytes).to_string(),
        digests[1].to_string(),
    )
}
