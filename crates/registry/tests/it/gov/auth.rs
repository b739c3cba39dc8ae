//! Authentication: challenges, the token endpoint, Basic, robots, htpasswd hashes, anonymous
//! pulls of public projects, and zoll-client's token flow against it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use zoll_client::{ClientConfig, Credentials, ImageRef, Repository};
use zoll_stdx::time::{Clock, ManualClock};
use zoll_store::Account;

use crate::harness::TestRegistry;

use super::{
    ADMIN, admin_api, api, basic, project_with_member, push_as_admin, registry, token, token_access,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_endpoint_challenges_and_the_token_endpoint_grants_what_roles_allow() {
    let reg = registry().await;
    let r = reg.get("/v2/").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "UNAUTHORIZED");
    assert_eq!(
        r.header("www-authenticate"),
        "Bearer realm=\"http://localhost/token\",service=\"zoll-registry\""
    );
    let r = reg
        .call("GET", "/v2/", &[("host", "reg.example:5000")], vec![])
        .await;
    assert!(
        r.header("www-authenticate")
            .contains("realm=\"http://reg.example:5000/token\"")
    );
    let r = reg
        .call(
            "GET",
            "/v2/",
            &[("authorization", &basic(ADMIN.0, ADMIN.1))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = reg
        .call(
            "GET",
            "/v2/",
            &[("authorization", &basic(ADMIN.0, "wrong"))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 401);

    project_with_member(&reg, "team", "dev", "dev-password", "developer").await;
    let t = token(
        &reg,
        Some(("dev", "dev-password")),
        "repository:team/app:pull,push,delete",
    )
    .await;
    assert_eq!(
        token_access(&t),
        json!([{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}])
    );
    let t = token(
        &reg,
        Some(("dev", "dev-password")),
        "repository:other/app:pull",
    )
    .await;
    assert_eq!(token_access(&t), json!([]));
    let t = token(&reg, None, "repository:team/app:pull").await;
    assert_eq!(token_access(&t), json!([]));
    // Wrong password at the token endpoint: 401, and the attempt is audited.
    let r = reg
        .call(
            "GET",
            "/token?scope=repository:team/app:pull",
            &[("authorization", &basic("dev", "nope"))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 401);
    let audit = reg.store.audit_records(0, 1000).await.unwrap();
    assert!(audit.iter().any(|r| r.entry.actor == "dev"
        && r.entry.action == "login"
        && r.entry.outcome == "denied"));
    // One record per token request names every action that was not granted.
    assert!(audit.iter().any(|r| r.entry.actor == "dev"
        && r.entry.action == "token"
        && r.entry.outcome == "denied"
        && r.entry.detail.contains("delete on team/app")));
    // OAuth2 password grant, as docker's POST /token.
    let r = reg
        .call(
            "POST",
            "/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            "grant_type=password&username=dev&password=dev-password&service=zoll-registry&scope=repository:team/app:pull&client_id=docker"
                .as_bytes()
                .to_vec(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        token_access(r.json()["access_token"].as_str().unwrap())[0]["actions"],
        json!(["pull"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zoll_client_logs_in_with_the_token_flow_and_anonymous_pulls_only_public_projects() {
    let reg = registry().await;
    let addr = reg.listen().await;
    for (p, public) in [("team", false), ("open", true)] {
        admin_api(
            &reg,
            "POST",
            "/projects",
            Some(json!({"name": p, "public": public})),
        )
        .await;
        push_as_admin(&reg, &format!("{p}/app"), "v1", b"content").await;
    }
    let open = |repo: &str, creds: Option<Credentials>| {
        let r: ImageRef = format!("{addr}/{repo}:v1").parse().unwrap();
        let config = ClientConfig {
            credentials: creds,
            ..ClientConfig::default()
        };
        Repository::open(&r, &config).unwrap()
    };
    let admin = Some(Credentials {
        username: ADMIN.0.into(),
        password: ADMIN.1.into(),
    });
    assert_eq!(
        open("team/app", admin.clone()).tags().await.unwrap(),
        vec!["v1"]
    );
    assert_eq!(open("open/app", None).tags().await.unwrap(), vec!["v1"]);
    let err = open("team/app", None).tags().await.unwrap_err();
    assert!(matches!(err, zoll_client::ClientError::Auth(..)), "{err:?}");
    // Pushing with the client (token flow with push scope).
    let repo = open("team/pushed", admin);
    let desc = repo
        .push_blob_bytes(
            "application/octet-stream",
            bytes::Bytes::from_static(b"pushed by the client"),
        )
        .await
        .unwrap();
    assert!(repo.blob_exists(&desc.digest).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_act_only_within_their_permissions_and_expire() {
    let reg = registry().await;
    admin_api(&reg, "POST", "/projects", Some(json!({"name": "team"}))).await;
    push_as_admin(&reg, "team/app", "v1", b"x").await;
    push_as_admin(&reg, "team/secret", "v1", b"y").await;
    let robot = admin_api(
        &reg,
        "POST",
        "/projects/team/robots",
        Some(json!({"name": "reader", "permissions": [{"repositories": "app", "actions": ["pull"]}]})),
    )
    .await;
    let (name, secret) = (
        robot["name"].as_str().unwrap(),
        robot["secret"].as_str().unwrap(),
    );
    assert_eq!(name, "robot$team+reader");
    let auth = basic(name, secret);
    let get = |path: &'static str| {
        let auth = auth.clone();
        let reg = &reg;
        async move {
            reg.call("GET", path, &[("authorization", &auth)], vec![])
                .await
                .status
        }
    };
    assert_eq!(get("/v2/team/app/manifests/v1").await, 200);
    assert_eq!(get("/v2/team/secret/manifests/v1").await, 403);
    let r = reg
        .call(
            "DELETE",
            "/v2/team/app/manifests/v1",
            &[("authorization", &auth)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 403);
    // Expired: refused like bad credentials.
    let mut account = reg.store.account(name).await.unwrap().unwrap();
    account.expires_ms = Some(1);
    reg.store.put_account(&account, true).await.unwrap();
    assert_eq!(get("/v2/team/app/manifests/v1").await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_bcrypt_hashes_log_in_and_are_upgraded_to_argon2id() {
    let reg = registry().await;
    // Made by `htpasswd -nbB carol carol-password` (Apache's bcrypt, $2y$).
    let hash = bcrypt_of("carol-password");
    reg.store
        .put_account(&Account::user("carol", hash, false), false)
        .await
        .unwrap();
    let r = reg
        .call(
            "GET",
            "/v2/",
            &[("authorization", &basic("carol", "carol-password"))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    let stored = reg
        .store
        .account("carol")
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    let r = reg
        .call(
            "GET",
            "/v2/",
            &[("authorization", &basic("carol", "carol-password"))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    let r = reg
        .call(
            "GET",
            "/v2/",
            &[("authorization", &basic("carol", "wrong"))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 401);
}

/// A `$2y$` hash made by Apache's `htpasswd` tool, an independent implementation.
fn bcrypt_of(password: &str) -> String {
    let out = std::process::Command::new("htpasswd")
        .args(["-nbB", "-C", "5", "carol", password])
        .output()
        .expect("htpasswd (apache2-utils) is needed: run scripts/install-peers.sh");
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    line.trim().split_once(':').unwrap().1.to_owned()
}

/// Bearer tokens and the login throttle run on the registry's one clock (the store's
/// `StoreConfig::clock`): the test moves it past a token's lifetime instead of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_expire_by_the_registrys_clock() {
    let clock = Arc::new(ManualClock::at(zoll_stdx::time::now_ms()));
    let registry_clock = clock.clone() as Arc<dyn Clock>;
    let ttl = Duration::from_secs(300);
    let reg = TestRegistry::with_auth_and(|config, auth| {
        config.clock = registry_clock;
        auth.token_rate_per_source = 0;
        auth.token_ttl = ttl;
    })
    .await;
    zoll_registry::auth::bootstrap_admin(&reg.store, Some(ADMIN.1))
        .await
        .unwrap();
    let bearer = format!(
        "Bearer {}",
        token(&reg, Some(ADMIN), "registry:catalog:*").await
    );
    let headers = [("authorization", bearer.as_str())];
    let catalog = || reg.call("GET", "/v2/_catalog", &headers, axum::body::Body::empty());
    assert_eq!(catalog().await.status, 200);
    // Inside the lifetime plus the skew allowance: still good.
    clock.advance(ttl);
    assert_eq!(catalog().await.status, 200);
    // Past it: refused, though no real time passed.
    clock.advance(Duration::from_secs(60));
    let r = catalog().await;
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        String::from_utf8_lossy(&r.body).contains("expired"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

/// Refusals say who may not do what, where, and which role would let them — never the
/// internal action names of the audit trail ("may not immutable.set", issue 16).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_read_as_sentences_and_name_the_role_that_would_do() {
    let reg = registry().await;
    project_with_member(&reg, "team", "dev", "dev-password", "developer").await;
    let dev = ("dev", "dev-password");
    let message = |r: &crate::harness::Resp| {
        assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
        r.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let r = api(
        &reg,
        "PUT",
        "/projects/team/immutable",
        dev,
        Some(json!(["v*"])),
    )
    .await;
    assert_eq!(
        message(&r),
        "dev may not manage the policies (immutable tags, retention, webhooks) in team \
         (needs the role project-admin or maintainer)"
    );
    let r = api(&reg, "GET", "/projects/team/robots", dev, None).await;
    assert_eq!(
        message(&r),
        "dev may not manage the members and robots in team (needs the role project-admin)"
    );
    let r = api(&reg, "GET", "/users", dev, None).await;
    assert_eq!(
        message(&r),
        "only a system administrator may list accounts; dev is not one"
    );
}
