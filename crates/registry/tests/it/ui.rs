//! The web console (`/ui/`, issue 17) over the real Router with authentication on: its
//! session cookie, login throttling, logout, fixation, expiry on the registry's clock, the
//! CSRF defences, the security headers, escaping, and permissions that match the APIs'.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use zoll_stdx::time::{Clock, ManualClock};

use crate::gov::{ADMIN, add_user, api, basic, project_with_member, push_as_admin, registry};
use crate::harness::{Resp, TestRegistry};

pub(crate) const HOST: &str = "zoll.test";
pub(crate) const ORIGIN: &str = "https://zoll.test";
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' \
                   data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                   base-uri 'none'";

pub(crate) fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A console `POST` from a page of this server (`origin`), with `cookie` if given.
pub(crate) async fn post(
    reg: &TestRegistry,
    path: &str,
    origin: Option<&str>,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> Resp {
    let mut h = vec![
        ("host", HOST),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    if let Some(o) = origin {
        h.push(("origin", o));
    }
    if let Some(c) = cookie {
        h.push(("cookie", c));
    }
    reg.call("POST", path, &h, form_body(fields)).await
}

pub(crate) async fn get(reg: &TestRegistry, path: &str, cookie: Option<&str>) -> Resp {
    let mut h = vec![("host", HOST)];
    if let Some(c) = cookie {
        h.push(("cookie", c));
    }
    reg.call("GET", path, &h, Body::empty()).await
}

/// Logs in; returns the response and the `name=value` of the cookie it set.
pub(crate) async fn login_as(
    reg: &TestRegistry,
    who: (&str, &str),
    cookie: Option<&str>,
) -> (Resp, String) {
    let r = post(
        reg,
        "/ui/login",
        Some(ORIGIN),
        cookie,
        &[("username", who.0), ("password", who.1)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let set = r.header("set-cookie").to_owned();
    let pair = set.split(';').next().unwrap().to_owned();
    (r, pair)
}

pub(crate) async fn login(reg: &TestRegistry, who: (&str, &str)) -> String {
    login_as(reg, who, None).await.1
}

/// Whether `cookie` opens the projects page (otherwise the console sends to the login).
async fn works(reg: &TestRegistry, cookie: &str) -> bool {
    let r = get(reg, "/ui/projects", Some(cookie)).await;
    match r.status {
        200 => true,
        303 => {
            assert_eq!(r.header("location"), "/ui/login");
            false
        }
        other => panic!("unexpected {other}: {}", text(&r)),
    }
}

/// The form token a page of the session carries.
pub(crate) fn form_token(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form token") + 19;
    page[at..at + 64].to_owned()
}

async fn form_token_of(reg: &TestRegistry, cookie: &str) -> String {
    let r = get(reg, "/ui/projects", Some(cookie)).await;
    assert_eq!(r.status, 200);
    form_token(&text(&r))
}

/// A connection of its own to the registry's metadata database.
async fn database(reg: &TestRegistry) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = match &reg.config.metadata_url {
        Some(u) => u.clone(),
        None => format!("sqlite://{}", reg.dir.path().join("metadata.db").display()),
    };
    sqlx::AnyPool::connect(&url).await.unwrap()
}

/// The text column of the rows `query` selects.
async fn sql_texts(reg: &TestRegistry, query: &str) -> Vec<String> {
    let pool = database(reg).await;
    let rows = sqlx::query_scalar(query).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

/// Console sessions in the database.
async fn stored_sessions(reg: &TestRegistry) -> usize {
    sql_texts(reg, "SELECT token_hash FROM console_sessions")
        .await
        .len()
}

pub(crate) async fn sql_exec(reg: &TestRegistry, statement: &str) {
    let pool = database(reg).await;
    sqlx::query(statement).execute(&pool).await.unwrap();
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_host_only_secure_cookie_whose_token_is_stored_hashed() {
    let reg = registry().await;
    let (r, pair) = login_as(&reg, ADMIN, None).await;
    assert_eq!(r.header("location"), "/ui/projects");
    let set = r.header("set-cookie");
    let token = pair.strip_prefix("__Host-zoll_session=").expect(set);
    assert_eq!(token.len(), 64, "256 bits as hex: {set}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        set,
        format!("__Host-zoll_session={token}; Path=/; HttpOnly; Secure; SameSite=Lax")
    );
    assert!(works(&reg, &pair).await);
    // The database holds a hash of the token, never the token.
    let stored = sql_texts(&reg, "SELECT token_hash FROM console_sessions").await;
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);
    assert_eq!(stored[0].len(), 64);
    // Plain HTTP on loopback: no `Secure`, so no `__Host-` prefix either.
    let reg = registry().await.with_ui(|ui| ui.secure_cookie = false);
    let fields = [("username", ADMIN.0), ("password", ADMIN.1)];
    let r = post(&reg, "/ui/login", Some("http://zoll.test"), None, &fields).await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let pair = r.header("set-cookie").split(';').next().unwrap().to_owned();
    let token = pair.strip_prefix("zoll_session=").unwrap();
    assert_eq!(
        r.header("set-cookie"),
        format!("zoll_session={token}; Path=/; HttpOnly; SameSite=Lax")
    );
    assert!(works(&reg, &pair).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_throttled_like_the_registry() {
    let reg = registry().await;
    add_user(&reg, "alice", "alice-password").await;
    // Ten wrong passwords use up the account's failures (the registry's default limit).
    for i in 0..10 {
        let r = post(
            &reg,
            "/ui/login",
            Some(ORIGIN),
            None,
            &[("username", "alice"), ("password", &format!("guess-{i}"))],
        )
        .await;
        assert_eq!(r.status, 401, "attempt {i}");
        assert!(!r.headers.contains_key("set-cookie"));
        assert!(text(&r).contains("Wrong user name or password."));
    }
    // Now the right password too is refused without a hash, in the console and on /v2/.
    let r = post(
        &reg,
        "/ui/login",
        Some(ORIGIN),
        None,
        &[("username", "alice"), ("password", "alice-password")],
    )
    .await;
    assert_eq!(r.status, 429, "{}", text(&r));
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert!(!r.headers.contains_key("set-cookie"));
    let r = reg.get_as("/v2/", ("alice", "alice-password")).await;
    assert_eq!(r.status, 429);
    // The refusals are in the audit trail.
    let audit = crate::gov::admin_api(&reg, "GET", "/audit", None).await;
    let denied = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "console.login" && e["outcome"] == "denied" && e["actor"] == "alice"
        })
        .count();
    assert!(denied >= 10, "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_refused_on_v2_and_the_management_api() {
    let reg = registry().await;
    let cookie = login(&reg, ADMIN).await;
    for path in ["/v2/", "/v2/_catalog", "/api/v1/projects", "/api/v1/whoami"] {
        let without = reg.call("GET", path, &[], Body::empty()).await;
        let with = reg
            .call("GET", path, &[("cookie", cookie.as_str())], Body::empty())
            .await;
        assert_eq!(without.status, 401, "{path}");
        assert_eq!(with.status, 401, "{path}: the cookie must not authenticate");
        assert_eq!(with.body, without.body, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_on_the_server() {
    let reg = registry().await;
    let cookie = login(&reg, ADMIN).await;
    let csrf = form_token_of(&reg, &cookie).await;
    let r = post(
        &reg,
        "/ui/logout",
        Some(ORIGIN),
        Some(&cookie),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    assert_eq!(r.header("location"), "/ui/login");
    assert!(r.header("set-cookie").contains("Max-Age=0"));
    // A browser (or thief) that kept the cookie gets nothing from it.
    assert!(!works(&reg, &cookie).await);
    assert_eq!(stored_sessions(&reg).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_accounts_sessions_stop_working() {
    let reg = registry().await;
    add_user(&reg, "alice", "alice-password").await;
    let cookie = login(&reg, ("alice", "alice-password")).await;
    assert!(works(&reg, &cookie).await);
    crate::gov::admin_api(&reg, "DELETE", "/users/alice", None).await;
    assert!(!works(&reg, &cookie).await);
    assert_eq!(stored_sessions(&reg).await, 0);
}

/// Review finding: behind a TLS proxy on the same host (browsers at
/// `https://registry.example`, the registry listening on 127.0.0.1) every login was refused,
/// the expected origin being built from the forwarded `Host`. `[ui] origin` names what
/// browsers see; forms are checked against it and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_forms_are_checked_against_the_configured_origin() {
    let reg = registry()
        .await
        .with_ui(|ui| ui.origin = Some("https://registry.example".into()));
    let send = |origin: &'static str| {
        let reg = &reg;
        async move {
            let h = [
                ("host", "127.0.0.1:5000"),
                ("content-type", "application/x-www-form-urlencoded"),
                ("origin", origin),
            ];
            let body = form_body(&[("username", ADMIN.0), ("password", ADMIN.1)]);
            reg.call("POST", "/ui/login", &h, body).await.status
        }
    };
    assert_eq!(send("https://registry.example").await, 303);
    assert_eq!(send("http://127.0.0.1:5000").await, 403);
    assert_eq!(send("https://evil.example").await, 403);
}

/// Review finding: the `/ui` and `repositories/` prefixes were cut as often as they
/// repeated, so `/ui/ui/projects` was a page and the repositories of a project named
/// `repositories` opened other repositories. Each prefix is cut once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_prefixes_are_taken_once() {
    let reg = registry().await;
    crate::gov::push_as_admin(&reg, "repositories/app", "v1", b"layer").await;
    crate::gov::push_as_admin(&reg, "app", "v1", b"other").await;
    let cookie = login(&reg, ADMIN).await;
    assert_eq!(
        get(&reg, "/ui/ui/projects", Some(&cookie)).await.status,
        404
    );
    let r = get(&reg, "/ui/repositories/repositories/app", Some(&cookie)).await;
    assert_eq!(r.status, 200);
    let page = String::from_utf8_lossy(&r.body);
    assert!(page.contains("repositories/app"), "{page}");
}

/// Review finding: a session outlived the reset of its account's password (an attacker's
/// browser stayed logged in for up to 12 hours after the owner changed it), and an account
/// made again under a deleted one's name could inherit its sessions. A new password, by the
/// owner or an administrator, ends every session; so does replacing the account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_ends_the_accounts_sessions() {
    let reg = registry().await;
    add_user(&reg, "alice", "alice-password").await;
    let stolen = login(&reg, ("alice", "alice-password")).await;
    assert!(works(&reg, &stolen).await);
    let r = crate::gov::api(
        &reg,
        "PUT",
        "/users/alice/password",
        ("alice", "alice-password"),
        Some(serde_json::json!({"password": "alice-new-password"})),
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(
        !works(&reg, &stolen).await,
        "the thief's session ended with the old password"
    );
    let again = login(&reg, ("alice", "alice-new-password")).await;
    crate::gov::admin_api(
        &reg,
        "PUT",
        "/users/alice/password",
        Some(serde_json::json!({"password": "reset-by-admin"})),
    )
    .await;
    assert!(
        !works(&reg, &again).await,
        "an administrator's reset ends them too"
    );
    let third = login(&reg, ("alice", "reset-by-admin")).await;
    let replaced = zoll_store::Account::user(
        "alice",
        zoll_registry::auth::password::hash("replaced-password"),
        false,
    );
    assert!(reg.store.put_account(&replaced, true).await.unwrap());
    assert!(
        !works(&reg, &third).await,
        "replacing the account ends them"
    );
    assert_eq!(stored_sessions(&reg).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_always_gets_a_new_token_so_a_planted_one_is_worthless() {
    let reg = registry().await;
    add_user(&reg, "alice", "alice-password").await;
    // An attacker's own valid session cookie, planted in the victim's browser...
    let planted = login(&reg, ("alice", "alice-password")).await;
    // ...and a made-up one: neither survives the victim's login.
    let made_up = format!("__Host-zoll_session={}", "ab".repeat(32));
    for cookie in [planted.as_str(), made_up.as_str()] {
        let (_, fresh) = login_as(&reg, ADMIN, Some(cookie)).await;
        assert_ne!(fresh, cookie);
        assert!(works(&reg, &fresh).await);
    }
    assert!(!works(&reg, &planted).await, "the old session ended");
    // Two logins never share a token.
    let a = login(&reg, ADMIN).await;
    let b = login(&reg, ADMIN).await;
    assert_ne!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_keeps_a_bounded_number_of_sessions() {
    let reg = registry()
        .await
        .with_ui(|ui| ui.max_sessions_per_account = 2);
    let first = login(&reg, ADMIN).await;
    let second = login(&reg, ADMIN).await;
    let third = login(&reg, ADMIN).await;
    assert!(!works(&reg, &first).await, "the oldest made room");
    assert!(works(&reg, &second).await && works(&reg, &third).await);
    assert_eq!(
        sql_texts(&reg, "SELECT account FROM console_sessions").await,
        ["admin", "admin"]
    );
}

pub(crate) async fn registry_on(clock: Arc<ManualClock>) -> TestRegistry {
    let registry_clock = clock as Arc<dyn Clock>;
    let reg = TestRegistry::with_auth_and(|config, auth| {
        config.clock = registry_clock;
        auth.token_rate_per_source = 0;
    })
    .await;
    zoll_registry::auth::bootstrap_admin(&reg.store, Some(ADMIN.1))
        .await
        .unwrap();
    reg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_expire_when_idle_and_at_their_absolute_end_by_the_registrys_clock() {
    let clock = Arc::new(ManualClock::at(zoll_stdx::time::now_ms()));
    let reg = registry_on(clock.clone()).await;
    let minute = Duration::from_secs(60);

    // Idle: 29 minutes apart keeps it alive; 30 minutes unused ends it.
    let cookie = login(&reg, ADMIN).await;
    clock.advance(29 * minute);
    assert!(works(&reg, &cookie).await);
    clock.advance(29 * minute);
    assert!(works(&reg, &cookie).await, "use resets the idle time");
    clock.advance(30 * minute);
    assert!(!works(&reg, &cookie).await, "30 minutes idle");
    assert_eq!(stored_sessions(&reg).await, 0);

    // Absolute: used every 20 minutes, it still ends 12 hours after the login.
    let cookie = login(&reg, ADMIN).await;
    for _ in 0..35 {
        clock.advance(20 * minute);
        assert!(works(&reg, &cookie).await);
    }
    clock.advance(19 * minute); // 11 h 59 min after the login
    assert!(works(&reg, &cookie).await);
    clock.advance(minute);
    assert!(!works(&reg, &cookie).await, "12 hours after the login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_needs_this_servers_origin_and_the_sessions_form_token() {
    let reg = registry().await;
    let cookie = login(&reg, ADMIN).await;
    let csrf = form_token_of(&reg, &cookie).await;
    let logout = |origin: Option<&'static str>, fields: Vec<(&'static str, String)>| {
        let (reg, cookie) = (&reg, cookie.clone());
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(reg, "/ui/logout", origin, Some(&cookie), &fields).await
        }
    };
    let refusals = [
        (Some(ORIGIN), vec![]),
        (Some(ORIGIN), vec![("csrf", "0".repeat(64))]),
        (Some(ORIGIN), vec![("csrf", csrf[..63].to_owned())]),
        (Some("https://evil.test"), vec![("csrf", csrf.clone())]),
        (Some("http://zoll.test"), vec![("csrf", csrf.clone())]),
        (Some("null"), vec![("csrf", csrf.clone())]),
        (None, vec![("csrf", csrf.clone())]),
    ];
    for (origin, fields) in refusals {
        let r = logout(origin, fields.clone()).await;
        assert_eq!(r.status, 403, "{origin:?} {fields:?}: {}", text(&r));
        assert!(!r.headers.contains_key("set-cookie"));
        assert!(works(&reg, &cookie).await, "still logged in");
    }
    // A login form posted from another site is refused too (login CSRF).
    let r = post(
        &reg,
        "/ui/login",
        Some("https://evil.test"),
        None,
        &[("username", ADMIN.0), ("password", ADMIN.1)],
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(!r.headers.contains_key("set-cookie"));
    // Without Origin, a Referer from this server will do, and only one from this server.
    let with_referer = |referer: &'static str| {
        let (reg, cookie, csrf) = (&reg, cookie.clone(), csrf.clone());
        async move {
            let h = [
                ("host", HOST),
                ("referer", referer),
                ("cookie", cookie.as_str()),
                ("content-type", "application/x-www-form-urlencoded"),
            ];
            let body = form_body(&[("csrf", &csrf)]);
            reg.call("POST", "/ui/logout", &h, body).await
        }
    };
    for foreign in [
        "https://zoll.test.evil.test/ui/projects",
        "https://zoll.testing/",
        "http://zoll.test/ui/projects",
        "https://zoll.test",
    ] {
        assert_eq!(with_referer(foreign).await.status, 403, "{foreign}");
    }
    let r = with_referer("https://zoll.test/ui/projects").await;
    assert_eq!(r.status, 303, "{}", text(&r));
    assert!(!works(&reg, &cookie).await);
}

/// A registry with the project `p` and, in `p/app`, one image under each of `tags`.
async fn with_image(tags: &[&str]) -> TestRegistry {
    let reg = registry().await;
    let project = serde_json::json!({"name": "p"});
    crate::gov::admin_api(&reg, "POST", "/projects", Some(project)).await;
    for tag in tags {
        push_as_admin(&reg, "p/app", tag, tag.as_bytes()).await;
    }
    reg
}

/// Every element that runs script or applies style inline, which the CSP would block.
pub(crate) fn inline_code(page: &str) -> Vec<String> {
    let lower = page.to_ascii_lowercase();
    let mut found = Vec::new();
    for (i, _) in lower.match_indices("<script") {
        let tag = &lower[i..i + lower[i..].find('>').unwrap()];
        if !tag.contains(" src=") || !lower[i..].starts_with(&format!("{tag}></script>")) {
            found.push(tag.to_owned());
        }
    }
    for bad in [
        "<style",
        " style=",
        " onclick=",
        " onload=",
        " onsubmit=",
        "javascript:",
    ] {
        if lower.contains(bad) {
            found.push(bad.to_owned());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_response_carries_the_security_headers_and_no_inline_code() {
    let reg = with_image(&["v1"]).await;
    let cookie = login(&reg, ADMIN).await;
    let page = text(&get(&reg, "/ui/projects", Some(&cookie)).await);
    let css = page
        .split('"')
        .find(|s| s.starts_with("/ui/static/console-") && s.ends_with(".css"))
        .expect("a style sheet")
        .to_owned();
    let mut paths: Vec<(String, Option<&str>, u16)> = vec![
        ("/ui/login".into(), None, 200),
        ("/ui/projects".into(), None, 303),
        ("/ui/".into(), Some(&cookie), 303),
        ("/ui/projects".into(), Some(&cookie), 200),
        ("/ui/projects?q=p&n=1".into(), Some(&cookie), 200),
        ("/ui/projects/p".into(), Some(&cookie), 200),
        ("/ui/projects/nope".into(), Some(&cookie), 404),
        ("/ui/repositories/p/app".into(), Some(&cookie), 200),
        (
            "/ui/repositories/p/app?sort=newest".into(),
            Some(&cookie),
            200,
        ),
        ("/ui/repositories/p/Bad..Name".into(), Some(&cookie), 400),
        ("/ui/nothing-here".into(), Some(&cookie), 404),
        ("/ui/audit".into(), Some(&cookie), 200),
        (
            "/ui/audit?actor=admin&outcome=ok".into(),
            Some(&cookie),
            200,
        ),
        ("/ui/audit/export.csv".into(), Some(&cookie), 200),
        ("/ui/approvals".into(), Some(&cookie), 404),
        ("/ui/projects/p/members".into(), Some(&cookie), 200),
        ("/ui/projects/p/robots".into(), Some(&cookie), 200),
        ("/ui/projects/p/settings".into(), Some(&cookie), 200),
        ("/ui/projects/p/retention".into(), Some(&cookie), 200),
        ("/ui/projects/p/webhooks".into(), Some(&cookie), 200),
        ("/ui/static/htmx-2.0.11.min.js".into(), None, 200),
        ("/ui/static/nothing.js".into(), None, 404),
    ];
    paths.push((css.clone(), None, 200));
    for (path, cookie, status) in &paths {
        let r = get(&reg, path, *cookie).await;
        assert_eq!(r.status, *status, "{path}: {}", text(&r));
        assert_eq!(r.header("content-security-policy"), CSP, "{path}");
        assert_eq!(r.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(r.header("referrer-policy"), "same-origin", "{path}");
        let html = r.headers.get("content-type").map(|v| v.to_str().unwrap());
        if html.is_some_and(|t| t.starts_with("text/html")) {
            assert_eq!(inline_code(&text(&r)), Vec::<String>::new(), "{path}");
            assert_eq!(r.header("cache-control"), "no-store", "{path}");
        }
    }
    for refused in [
        post(
            &reg,
            "/ui/logout",
            Some("https://evil.test"),
            Some(&cookie),
            &[],
        )
        .await,
        reg.call("PUT", "/ui/projects", &[("host", HOST)], Body::empty())
            .await,
    ] {
        assert!(refused.status == 403 || refused.status == 405);
        assert_eq!(refused.header("content-security-policy"), CSP);
        assert_eq!(refused.header("x-content-type-options"), "nosniff");
    }
    let js = get(&reg, "/ui/static/htmx-2.0.11.min.js", None).await;
    assert!(js.header("content-type").starts_with("text/javascript"));
    assert!(js.header("cache-control").contains("max-age=31536000"));
    assert!(text(&js).contains("htmx"));
    let sheet = get(&reg, &css, None).await;
    assert!(sheet.header("content-type").starts_with("text/css"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_tags_and_queries_with_markup_are_shown_as_text() {
    let reg = with_image(&["v1"]).await;
    // The registry refuses such names and tags; rows written around it (an old version, a
    // restored backup, a hand edit) must still reach the page as text.
    let digest = sql_texts(&reg, "SELECT digest FROM tags WHERE name = 'v1'").await;
    sql_exec(
        &reg,
        "INSERT INTO repositories (id, name, created_ms) VALUES (9999, 'p/<script>alert(1)</script>', 0)",
    )
    .await;
    sql_exec(
        &reg,
        &format!(
            "INSERT INTO tags (repo_id, name, digest, updated_ms) SELECT repo_id, \
             '<script>alert(2)</script>', digest, 0 FROM tags WHERE digest = '{}'",
            digest[0]
        ),
    )
    .await;
    let cookie = login(&reg, ADMIN).await;
    let page = text(&get(&reg, "/ui/projects/p", Some(&cookie)).await);
    assert!(
        page.contains("p/&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    let page = text(&get(&reg, "/ui/repositories/p/app", Some(&cookie)).await);
    assert!(
        page.contains("&lt;script&gt;alert(2)&lt;/script&gt;"),
        "{page}"
    );
    let page = text(
        &get(
            &reg,
            "/ui/repositories/p/app?q=%3Cscript%3Ealert(3)%3C%2Fscript%3E%22%3E",
            Some(&cookie),
        )
        .await,
    );
    assert!(
        page.contains("value=\"&lt;script&gt;alert(3)&lt;/script&gt;&quot;&gt;\""),
        "{page}"
    );
    let r = post(
        &reg,
        "/ui/login",
        Some(ORIGIN),
        None,
        &[("username", "<script>alert(4)</script>"), ("password", "x")],
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(text(&r).contains("&lt;script&gt;alert(4)&lt;/script&gt;"));
    for page in [page, text(&r)] {
        assert!(!page.contains("<script>alert"), "{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_sees_only_the_projects_the_api_shows_and_is_refused_the_others_alike() {
    let reg = registry().await;
    project_with_member(&reg, "open", "alice", "alice-password", "guest").await;
    crate::gov::admin_api(
        &reg,
        "POST",
        "/projects",
        Some(serde_json::json!({"name": "secret"})),
    )
    .await;
    push_as_admin(&reg, "open/app", "v1", b"layer-1").await;
    push_as_admin(&reg, "secret/app", "v1", b"layer-2").await;
    let alice = ("alice", "alice-password");
    let cookie = login(&reg, alice).await;
    let page = text(&get(&reg, "/ui/projects", Some(&cookie)).await);
    assert!(page.contains("/ui/projects/open"), "{page}");
    assert!(!page.contains("secret"), "{page}");
    assert!(text(&get(&reg, "/ui/repositories/open/app", Some(&cookie)).await).contains("v1"));
    // Each page of a project she may not pull from answers as the API does.
    for (ui, api_path) in [
        ("/ui/projects/secret", "/projects/secret"),
        ("/ui/projects/missing", "/projects/missing"),
    ] {
        let r = get(&reg, ui, Some(&cookie)).await;
        let a = api(&reg, "GET", api_path, alice, None).await;
        assert_eq!(r.status, a.status, "{ui}");
        assert!(!text(&r).contains("secret/app"));
    }
    let r = get(&reg, "/ui/repositories/secret/app", Some(&cookie)).await;
    let v2 = reg.get_as("/v2/secret/app/tags/list", alice).await;
    assert_eq!((r.status, v2.status), (403, 403));
    assert!(!text(&r).contains("v1"));
    // The administrator sees both.
    let admin = login(&reg, ADMIN).await;
    let page = text(&get(&reg, "/ui/projects", Some(&admin)).await);
    assert!(page.contains("/ui/projects/secret") && page.contains("/ui/projects/open"));
    let _ = basic;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_page_with_a_bounded_size_and_keep_filter_and_order_in_links() {
    let reg = with_image(&["v1", "v2", "v3", "w1"]).await;
    let cookie = login(&reg, ADMIN).await;
    let page = text(&get(&reg, "/ui/repositories/p/app?q=v&n=2", Some(&cookie)).await);
    assert!(page.contains(">v1<") && page.contains(">v2<") && !page.contains(">v3<"));
    let next = "/ui/repositories/p/app?q=v&amp;n=2&amp;after=v2";
    assert!(page.contains(next), "{page}");
    let page = text(&get(&reg, &next.replace("&amp;", "&"), Some(&cookie)).await);
    assert!(page.contains(">v3<") && !page.contains(">v2<") && !page.contains(">w1<"));
    assert!(!page.contains("rel=\"next\""), "last page");
    // Newest first keeps its order and cursor in the link.
    let page = text(
        &get(
            &reg,
            "/ui/repositories/p/app?sort=newest&n=1",
            Some(&cookie),
        )
        .await,
    );
    assert!(page.contains("sort=newest&amp;n=1&amp;after="), "{page}");
    assert!(page.contains("&amp;at="), "{page}");
    // Sizes count the manifest, its config and its layers.
    let rows = reg
        .store
        .tag_page("p/app", "v1", zoll_store::TagOrder::Name, None, 10)
        .await
        .unwrap()
        .unwrap();
    let config = br#"{"architecture":"amd64","os":"linux"}"#.len() as u64;
    assert_eq!(rows[0].total_size, rows[0].size + config + 2, "{rows:?}");
    let shown = format!("{} bytes", rows[0].total_size);
    let page = text(&get(&reg, "/ui/repositories/p/app?q=v1", Some(&cookie)).await);
    assert!(page.contains(&shown), "{page}");
    // A page is never larger than the bound, whatever `n` asks.
    let page = text(&get(&reg, "/ui/repositories/p/app?n=1000000", Some(&cookie)).await);
    assert!(page.contains("name=\"n\" value=\"200\""), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_can_be_turned_off() {
    let reg = registry().await.with_ui(|ui| ui.enabled = false);
    for path in ["/ui/login", "/ui/static/htmx-2.0.11.min.js"] {
        assert_eq!(get(&reg, path, None).await.status, 404, "{path}");
    }
}
