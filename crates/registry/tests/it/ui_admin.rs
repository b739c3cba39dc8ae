//! The console's audit, approvals and administration pages over the real Router: every
//! route × every role answers as the management API call behind it (table-driven), nobody
//! grants in the console what they do not hold, forms without this server's origin or the
//! session's form token change nothing, a robot's secret is shown once and never cached,
//! names and URLs an attacker chose show as text, and the retention preview names the
//! reason for each artifact.

use serde_json::{Value, json};

use crate::gov::{ADMIN, add_user, admin_api, api, basic, project_with_member, push_as_admin};
use crate::harness::{Resp, TestRegistry};
use crate::ui::{ORIGIN, form_token, get, login, post, registry_on, text};

use std::sync::Arc;
use zoll_stdx::time::ManualClock;

/// The accounts of the table: (label, credentials); `None` is anonymous.
const PA: (&str, &str) = ("pa", "pa-password");
const MT: (&str, &str) = ("mt", "mt-password");
const DV: (&str, &str) = ("dv", "dv-password");
const GU: (&str, &str) = ("gu", "gu-password");
const OUT: (&str, &str) = ("out", "out-password");

/// Project `team` with one member of each role, an outsider, and `target` (a guest whose
/// role the table changes).
async fn team() -> TestRegistry {
    team_on(Arc::new(ManualClock::at(zoll_stdx::time::now_ms()))).await
}

/// [`team`] on a clock the test moves.
async fn team_on(clock: Arc<ManualClock>) -> TestRegistry {
    let reg = registry_on(clock).await;
    project_with_member(&reg, "team", PA.0, PA.1, "project-admin").await;
    for (who, role) in [(MT, "maintainer"), (DV, "developer"), (GU, "guest")] {
        add_user(&reg, who.0, who.1).await;
        admin_api(
            &reg,
            "PUT",
            &format!("/projects/team/members/{}", who.0),
            Some(json!({"role": role})),
        )
        .await;
    }
    add_user(&reg, OUT.0, OUT.1).await;
    add_user(&reg, "target", "target-password").await;
    // Webhooks to this machine (nothing listens on port 9; deliveries fail, harmlessly).
    reg.with_hooks(|h| h.destinations.allowed = vec!["127.0.0.0/8".parse().unwrap()])
}

/// The webhook the table deletes.
const VICTIM_HOOK: &str = "http://127.0.0.1:9/victim";

/// Puts back what the table's changes take away: `target` a guest, robot `victim`, the
/// webhook [`VICTIM_HOOK`]; returns that webhook's id.
async fn reset(reg: &TestRegistry) -> String {
    admin_api(
        reg,
        "PUT",
        "/projects/team/members/target",
        Some(json!({"role": "guest"})),
    )
    .await;
    let _ = api(
        reg,
        "POST",
        "/projects/team/robots",
        ADMIN,
        Some(
            json!({"name": "victim", "permissions": [{"repositories": "**", "actions": ["pull"]}]}),
        ),
    )
    .await;
    let hooks = admin_api(reg, "GET", "/projects/team/webhooks", None).await;
    if let Some(h) = hooks
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["url"] == VICTIM_HOOK)
    {
        return h["id"].as_str().unwrap().to_owned();
    }
    let h = admin_api(
        reg,
        "POST",
        "/projects/team/webhooks",
        Some(json!({"url": VICTIM_HOOK, "secret": "sixteen-bytes-or-more"})),
    )
    .await;
    h["id"].as_str().unwrap().to_owned()
}

/// One admin route: the console's request and the API call it stands for.
struct Route {
    ui_method: &'static str,
    ui_path: &'static str,
    form: &'static [(&'static str, &'static str)],
    api_method: &'static str,
    api_path: &'static str,
    api_body: Option<Value>,
}

fn routes() -> Vec<Route> {
    let r = |ui_method, ui_path, form, api_method, api_path, api_body| Route {
        ui_method,
        ui_path,
        form,
        api_method,
        api_path,
        api_body,
    };
    vec![
        r(
            "GET",
            "/ui/projects/team/members",
            &[],
            "GET",
            "/projects/team/members",
            None,
        ),
        r(
            "POST",
            "/ui/projects/team/members",
            &[("account", "target"), ("role", "developer")],
            "PUT",
            "/projects/team/members/target",
            Some(json!({"role": "developer"})),
        ),
        r(
            "POST",
            "/ui/projects/team/members/remove",
            &[("account", "target")],
            "DELETE",
            "/projects/team/members/target",
            None,
        ),
        r(
            "GET",
            "/ui/projects/team/robots",
            &[],
            "GET",
            "/projects/team/robots",
            None,
        ),
        r(
            "POST",
            "/ui/projects/team/robots",
            &[("name", "made"), ("repositories", "**"), ("action", "pull")],
            "POST",
            "/projects/team/robots",
            Some(
                json!({"name": "made", "permissions": [{"repositories": "**", "actions": ["pull"]}]}),
            ),
        ),
        r(
            "POST",
            "/ui/projects/team/robots/delete",
            &[("name", "victim")],
            "DELETE",
            "/projects/team/robots/victim",
            None,
        ),
        r(
            "GET",
            "/ui/projects/team/settings",
            &[],
            "GET",
            "/projects/team/quota",
            None,
        ),
        r(
            "GET",
            "/ui/projects/team/retention",
            &[],
            "POST",
            "/projects/team/retention/run?dry_run=true",
            None,
        ),
        r(
            "GET",
            "/ui/projects/team/webhooks",
            &[],
            "GET",
            "/projects/team/webhooks",
            None,
        ),
        r(
            "POST",
            "/ui/projects/team/quota",
            &[("max_mib", "100"), ("max_artifacts", "50")],
            "PUT",
            "/projects/team/quota",
            Some(json!({"max_bytes": 104_857_600, "max_artifacts": 50})),
        ),
        r(
            "POST",
            "/ui/projects/team/immutable",
            &[("repositories", "**"), ("tags", "v*")],
            "PUT",
            "/projects/team/immutable",
            Some(json!([{"repositories": "**", "tags": "v*"}])),
        ),
        r(
            "POST",
            "/ui/projects/team/immutable/remove",
            &[("repositories", "**"), ("tags", "v*")],
            "PUT",
            "/projects/team/immutable",
            Some(json!([])),
        ),
        r(
            "POST",
            "/ui/projects/team/retention",
            &[("keep_last", "3"), ("keep_tags", "release-*")],
            "PUT",
            "/projects/team/retention",
            Some(json!({"keep_last": 3, "keep_tags": ["release-*"]})),
        ),
        r(
            "POST",
            "/ui/projects/team/retention/remove",
            &[],
            "DELETE",
            "/projects/team/retention",
            None,
        ),
        r(
            "POST",
            "/ui/projects/team/webhooks",
            &[
                ("url", "http://127.0.0.1:9/made"),
                ("secret", "sixteen-bytes-or-more"),
                ("event", "io.zoll.artifact.pushed"),
            ],
            "POST",
            "/projects/team/webhooks",
            Some(
                json!({"url": "http://127.0.0.1:9/made", "secret": "sixteen-bytes-or-more", "events": ["io.zoll.artifact.pushed"]}),
            ),
        ),
        r(
            "POST",
            "/ui/projects/team/webhooks/delete",
            &[("id", "HOOK")],
            "DELETE",
            "/projects/team/webhooks/HOOK",
            None,
        ),
        r("GET", "/ui/audit", &[], "GET", "/audit", None),
        r(
            "GET",
            "/ui/audit/export.csv",
            &[],
            "GET",
            "/audit?format=csv",
            None,
        ),
        r(
            "POST",
            "/ui/audit/verify",
            &[],
            "GET",
            "/audit/verify",
            None,
        ),
        r("GET", "/ui/approvals", &[], "GET", "/approvals", None),
    ]
}

/// The console's request as `who` (logged in, with the session's form token).
async fn ui_call(
    reg: &TestRegistry,
    route: &Route,
    session: Option<&(String, String)>,
    hook: &str,
) -> Resp {
    let cookie = session.map(|(c, _)| c.as_str());
    if route.ui_method == "GET" {
        return get(reg, route.ui_path, cookie).await;
    }
    let mut fields: Vec<(&str, &str)> = route
        .form
        .iter()
        .map(|(k, v)| (*k, if *v == "HOOK" { hook } else { *v }))
        .collect();
    if let Some((_, token)) = session {
        fields.push(("csrf", token));
    }
    post(reg, route.ui_path, Some(ORIGIN), cookie, &fields).await
}

/// A session and its form token.
async fn session(reg: &TestRegistry, who: (&str, &str)) -> (String, String) {
    let cookie = login(reg, who).await;
    let page = get(reg, "/ui/projects", Some(&cookie)).await;
    (cookie.clone(), form_token(&text(&page)))
}

/// What the console answers for an API status: a success is the page (200) or, after a
/// change, a redirect to it (303); the API's 401 is the login page (303 there); a refusal
/// is the same refusal.
fn expected(api_status: u16, ui_method: &str, created_page: bool) -> u16 {
    match api_status {
        200..=299 if ui_method == "GET" || created_page => 200,
        200..=299 => 303,
        401 => 303,
        other => other,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_answers_every_role_as_the_api_does() {
    let reg = team().await;
    let who: [(&str, Option<(&str, &str)>); 7] = [
        ("system admin", Some(ADMIN)),
        ("project-admin", Some(PA)),
        ("maintainer", Some(MT)),
        ("developer", Some(DV)),
        ("guest", Some(GU)),
        ("non-member", Some(OUT)),
        ("anonymous", None),
    ];
    let mut sessions = Vec::new();
    for (_, cred) in &who {
        sessions.push(match cred {
            Some(c) => Some(session(&reg, *c).await),
            None => None,
        });
    }
    let mut checked = 0;
    let mut succeeded = std::collections::BTreeSet::new();
    for route in routes() {
        for ((label, cred), s) in who.iter().zip(&sessions) {
            let hook = reset(&reg).await;
            let _ = api(&reg, "DELETE", "/projects/team/robots/made", ADMIN, None).await;
            let api_path = route.api_path.replace("HOOK", &hook);
            let api_status = match cred {
                Some(c) => {
                    api(
                        &reg,
                        route.api_method,
                        &api_path,
                        *c,
                        route.api_body.clone(),
                    )
                    .await
                    .status
                }
                None => {
                    reg.call(
                        route.api_method,
                        &format!("/api/v1{api_path}"),
                        &[],
                        axum::body::Body::empty(),
                    )
                    .await
                    .status
                }
            };
            let hook = reset(&reg).await;
            let _ = api(&reg, "DELETE", "/projects/team/robots/made", ADMIN, None).await;
            let r = ui_call(&reg, &route, s.as_ref(), &hook).await;
            let created_page =
                route.ui_path == "/ui/projects/team/robots" && route.ui_method == "POST";
            assert_eq!(
                r.status,
                expected(api_status, route.ui_method, created_page),
                "{label}: {} {} (the API answered {api_status} to {} {}): {}",
                route.ui_method,
                route.ui_path,
                route.api_method,
                route.api_path,
                text(&r)
            );
            if r.status == 303 && cred.is_none() {
                assert_eq!(r.header("location"), "/ui/login");
            }
            if (200..300).contains(&api_status) {
                succeeded.insert(route.ui_path);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 20 * 7);
    // Each change was made by someone (no row compares two refusals only), but the
    // approvals inbox: this registry holds no quorum keys (404 for all, as the API).
    let all: std::collections::BTreeSet<&str> = routes().iter().map(|r| r.ui_path).collect();
    let missing: Vec<&&str> = all.difference(&succeeded).collect();
    assert_eq!(missing, [&"/ui/approvals"]);
}

/// The members `team` has, as the API lists them.
async fn roles(reg: &TestRegistry) -> Value {
    admin_api(reg, "GET", "/projects/team/members", None).await
}

fn role_of(members: &Value, who: &str) -> Option<String> {
    members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["account"] == who)
        .map(|m| m["role"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_developer_cannot_grant_maintainer_in_the_console() {
    let reg = team().await;
    reset(&reg).await;
    let (cookie, token) = session(&reg, DV).await;
    let r = post(
        &reg,
        "/ui/projects/team/members",
        Some(ORIGIN),
        Some(&cookie),
        &[
            ("account", "target"),
            ("role", "maintainer"),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    assert_eq!(
        role_of(&roles(&reg).await, "target").as_deref(),
        Some("guest")
    );
    // Nor themselves.
    let r = post(
        &reg,
        "/ui/projects/team/members",
        Some(ORIGIN),
        Some(&cookie),
        &[("account", "dv"), ("role", "maintainer"), ("csrf", &token)],
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        role_of(&roles(&reg).await, "dv").as_deref(),
        Some("developer")
    );
    // The refusal is in the trail as the API records it.
    let trail = admin_api(&reg, "GET", "/audit?limit=10000", None).await;
    assert!(
        trail
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["actor"] == "dv" && r["action"] == "member.set" && r["outcome"] == "denied"),
        "{trail}"
    );
    // A project administrator can, and the change is audited.
    let (cookie, token) = session(&reg, PA).await;
    let r = post(
        &reg,
        "/ui/projects/team/members",
        Some(ORIGIN),
        Some(&cookie),
        &[
            ("account", "target"),
            ("role", "maintainer"),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    assert_eq!(r.header("location"), "/ui/projects/team/members");
    assert_eq!(
        role_of(&roles(&reg).await, "target").as_deref(),
        Some("maintainer")
    );
    let trail = admin_api(&reg, "GET", "/audit?limit=10000", None).await;
    assert!(trail.as_array().unwrap().iter().any(|r| r["actor"] == "pa"
        && r["action"] == "member.set"
        && r["target"] == "team/target"
        && r["outcome"] == "ok"
        && r["detail"] == "maintainer"));
}

async fn robot_exists(reg: &TestRegistry, name: &str) -> bool {
    let list = admin_api(reg, "GET", "/projects/team/robots", None).await;
    list.as_array().unwrap().iter().any(|r| r["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_system_administrator_creates_a_pull_ungated_robot_in_the_console() {
    let reg = team().await;
    let fields = |token: &str| {
        vec![
            ("name", "bypass".to_owned()),
            ("repositories", "**".to_owned()),
            ("action", "pull".to_owned()),
            ("action", "pull-ungated".to_owned()),
            ("csrf", token.to_owned()),
        ]
    };
    let (cookie, token) = session(&reg, PA).await;
    let f = fields(&token);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post(
        &reg,
        "/ui/projects/team/robots",
        Some(ORIGIN),
        Some(&cookie),
        &f,
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    assert!(text(&r).contains("only a system administrator may grant pull-ungated"));
    assert!(!robot_exists(&reg, "robot$team+bypass").await);
    let (cookie, token) = session(&reg, ADMIN).await;
    let f = fields(&token);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post(
        &reg,
        "/ui/projects/team/robots",
        Some(ORIGIN),
        Some(&cookie),
        &f,
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(robot_exists(&reg, "robot$team+bypass").await);
    let trail = admin_api(&reg, "GET", "/audit?limit=10000", None).await;
    assert!(
        trail
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "grant.pull-ungated" && r["target"] == "robot$team+bypass")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_forms_from_elsewhere_or_without_the_form_token_change_nothing() {
    let reg = team().await;
    reset(&reg).await;
    let (cookie, token) = session(&reg, PA).await;
    let cases: [(Option<&str>, bool); 3] = [
        (Some("https://evil.test"), true),
        (None, true),
        (Some(ORIGIN), false),
    ];
    for (origin, with_token) in cases {
        let mut fields = vec![("account", "target"), ("role", "developer")];
        if with_token {
            fields.push(("csrf", &token));
        }
        let r = post(
            &reg,
            "/ui/projects/team/members",
            origin,
            Some(&cookie),
            &fields,
        )
        .await;
        assert_eq!(r.status, 403, "{origin:?} {with_token}: {}", text(&r));
        let mut fields = vec![
            ("name", "sneaky"),
            ("repositories", "**"),
            ("action", "push"),
        ];
        if with_token {
            fields.push(("csrf", &token));
        }
        let r = post(
            &reg,
            "/ui/projects/team/robots",
            origin,
            Some(&cookie),
            &fields,
        )
        .await;
        assert_eq!(r.status, 403);
        let r = post(
            &reg,
            "/ui/projects/team/robots/delete",
            origin,
            Some(&cookie),
            &[("name", "victim")],
        )
        .await;
        assert_eq!(r.status, 403);
    }
    assert_eq!(
        role_of(&roles(&reg).await, "target").as_deref(),
        Some("guest")
    );
    assert!(!robot_exists(&reg, "robot$team+sneaky").await);
    assert!(robot_exists(&reg, "robot$team+victim").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_robot_secret_is_shown_once_never_cached_and_works() {
    let reg = team().await;
    let (cookie, token) = session(&reg, PA).await;
    let r = post(
        &reg,
        "/ui/projects/team/robots",
        Some(ORIGIN),
        Some(&cookie),
        &[
            ("name", "ci"),
            ("repositories", "**"),
            ("action", "pull"),
            ("action", "push"),
            ("expires_in_days", "30"),
            ("csrf", &token),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.header("cache-control"), "no-store");
    let page = text(&r);
    let at = page.find("id=\"robot-secret\"").map(|_| ()).and_then(|()| {
        let v = page.find("readonly value=\"")? + 16;
        Some(page[v..].split('"').next()?.to_owned())
    });
    let secret = at.expect("the secret on the page");
    assert!(secret.len() >= 32, "{secret}");
    assert_eq!(page.matches(secret.as_str()).count(), 1);
    // The secret works on /v2/ (a pull of the project is within its permissions).
    let auth = basic("robot$team+ci", &secret);
    let v2 = reg
        .call(
            "GET",
            "/v2/",
            &[("authorization", auth.as_str())],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(v2.status, 200);
    // No other page shows it again.
    let list = get(&reg, "/ui/projects/team/robots", Some(&cookie)).await;
    assert_eq!(list.status, 200);
    assert!(text(&list).contains("robot$team+ci"));
    assert!(!text(&list).contains(secret.as_str()));
    // Nor does the trail.
    let trail = admin_api(&reg, "GET", "/audit?limit=10000", None).await;
    assert!(!trail.to_string().contains(secret.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_names_and_webhook_urls_an_attacker_chose_show_as_text() {
    let reg = team().await;
    let evil = "<script>alert(1)</script>";
    // Names the registry refuses, written straight to the store (as another way in might).
    reg.store
        .put_account(
            &zoll_store::Account::user(
                evil,
                zoll_registry::auth::password::hash("x-password"),
                false,
            ),
            false,
        )
        .await
        .unwrap();
    reg.store.set_member("team", evil, "guest").await.unwrap();
    reg.store
        .add_webhook(
            "team",
            &format!("https://hooks.test/{evil}"),
            "a-secret-of-16-bytes",
            &[],
        )
        .await
        .unwrap();
    let (cookie, _) = session(&reg, PA).await;
    for page in ["/ui/projects/team/members", "/ui/projects/team/webhooks"] {
        let r = get(&reg, page, Some(&cookie)).await;
        assert_eq!(r.status, 200, "{page}: {}", text(&r));
        let body = text(&r);
        assert!(!body.contains(evil), "{page}");
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_preview_names_the_reason_for_each_artifact() {
    let clock = Arc::new(ManualClock::at(zoll_stdx::time::now_ms()));
    let reg = team_on(clock.clone()).await;
    push_as_admin(&reg, "team/app", "v1", b"layer one").await;
    clock.advance(std::time::Duration::from_secs(60));
    let (new_digest, _) = push_as_admin(&reg, "team/app", "v2", b"layer two").await;
    admin_api(
        &reg,
        "PUT",
        "/projects/team/retention",
        Some(json!({"keep_last": 1})),
    )
    .await;
    let (cookie, _) = session(&reg, PA).await;
    let r = get(&reg, "/ui/projects/team/retention", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let body = text(&r);
    assert!(
        body.contains("1 artifacts would be deleted, 1 kept"),
        "{body}"
    );
    assert!(
        body.contains("not among the newest 1 of team/app (number 2)"),
        "{body}"
    );
    assert!(
        body.contains("among the newest 1 of team/app (number 1)"),
        "{body}"
    );
    assert!(body.contains("unsigned"));
    assert!(body.contains(&new_digest));
    // A dry run: both are still there.
    let tags = reg.get_as("/v2/team/app/tags/list", ADMIN).await;
    assert!(String::from_utf8_lossy(&tags.body).contains("v1"));
    // A guest may not preview (as the API's dry run refuses it).
    let (cookie, _) = session(&reg, GU).await;
    assert_eq!(
        get(&reg, "/ui/projects/team/retention", Some(&cookie))
            .await
            .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_page_filters_pages_verifies_and_exports() {
    let reg = team().await;
    reset(&reg).await;
    // A change by someone else than the administrator.
    let r = api(
        &reg,
        "PUT",
        "/projects/team/members/target",
        PA,
        Some(json!({"role": "developer"})),
    )
    .await;
    assert_eq!(r.status, 200);
    let (cookie, token) = session(&reg, ADMIN).await;
    // Filters: actor and action.
    let r = get(
        &reg,
        "/ui/audit?actor=admin&action=member&n=2",
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let body = text(&r);
    assert!(body.contains("member.set"));
    assert!(!body.contains("console.login"));
    assert!(!body.contains("<td>pa</td>"), "{body}");
    let only_pa = text(&get(&reg, "/ui/audit?actor=pa", Some(&cookie)).await);
    assert!(only_pa.contains("<td>pa</td>"), "{only_pa}");
    assert!(!only_pa.contains("<td>admin</td>"), "{only_pa}");
    assert!(
        body.contains("rel=\"next\""),
        "two rows a page, more to come"
    );
    let next = body.split("rel=\"next\"").next().unwrap();
    let href = next
        .rsplit("href=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let href = href.replace("&amp;", "&");
    assert!(href.contains("before="), "{href}");
    assert!(href.contains("actor=admin"), "{href}");
    let r = get(&reg, &href, Some(&cookie)).await;
    assert_eq!(r.status, 200);
    // A target substring in any case, and an outcome.
    let r = get(
        &reg,
        "/ui/audit?target=TEAM%2FTARGET&outcome=ok",
        Some(&cookie),
    )
    .await;
    let body = text(&r);
    assert!(body.contains("team/target"));
    assert!(!body.contains("console.login"));
    // A time range that holds nothing.
    let r = get(&reg, "/ui/audit?to=1971-01-01", Some(&cookie)).await;
    assert!(text(&r).contains("Nothing to show."));
    assert_eq!(
        get(&reg, "/ui/audit?from=yesterday", Some(&cookie))
            .await
            .status,
        400
    );
    // Verification: not run yet, then run by the button, recorded in the trail.
    assert!(text(&get(&reg, "/ui/audit", Some(&cookie)).await).contains("Not verified yet."));
    let r = post(
        &reg,
        "/ui/audit/verify",
        Some(ORIGIN),
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let body = text(&get(&reg, "/ui/audit", Some(&cookie)).await);
    assert!(body.contains("Intact when last verified"), "{body}");
    // A broken chain shows as broken.
    crate::ui::sql_exec(
        &reg,
        "UPDATE audit_log SET detail = 'rewritten' WHERE seq = 2",
    )
    .await;
    let r = post(
        &reg,
        "/ui/audit/verify",
        Some(ORIGIN),
        Some(&cookie),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status, 303);
    let body = text(&get(&reg, "/ui/audit", Some(&cookie)).await);
    assert!(body.contains("Broken when last verified"), "{body}");
    assert!(body.contains("was edited"), "{body}");
    // Exports of the filtered trail.
    let r = get(
        &reg,
        "/ui/audit/export.csv?action=member.set",
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").starts_with("text/csv"));
    let csv = text(&r);
    assert!(csv.starts_with(zoll_registry::export::CSV_HEADER));
    assert!(
        csv.lines().skip(1).all(|l| l.contains(",member.set,")),
        "{csv}"
    );
    let r = get(
        &reg,
        "/ui/audit/export.json?action=member.set",
        Some(&cookie),
    )
    .await;
    let records: Value = serde_json::from_slice(&r.body).unwrap();
    let records = records.as_array().unwrap();
    assert!(!records.is_empty());
    assert!(
        records
            .windows(2)
            .all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64())
    );
}

/// `team` with a 2-of-2 quorum key `prod-release` for `team/**` (timelock an hour, expiry
/// two: `quorum_keys_file`), timed by `clock`.
async fn team_with_approvals(clock: Arc<ManualClock>) -> TestRegistry {
    let reg = team_on(clock.clone()).await;
    let d = reg.dir.path().join("approvals");
    std::fs::create_dir_all(&d).unwrap();
    let config = zoll_testkit::quorum_keys_file(&d, "prod-release", "team/**");
    let keys = zoll_approval::QuorumKeys::load(&config).unwrap();
    let store = reg.store.clone();
    reg.with_app(|app| {
        app.approvals = Some(Arc::new(
            zoll_approval::Approvals::new(
                store,
                keys,
                Arc::new(zoll_approval::service::LogRecorder),
            )
            .with_clock(clock),
        ));
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approvals_inbox_shows_what_the_api_shows_with_time_left_by_the_registrys_clock() {
    let clock = Arc::new(ManualClock::at(zoll_stdx::time::now_ms()));
    let reg = team_with_approvals(clock.clone()).await;
    let (digest, _) = push_as_admin(&reg, "team/app", "v1", b"release layer").await;
    let made = api(
        &reg,
        "POST",
        "/approvals",
        DV,
        Some(json!({"key": "prod-release", "repository": "team/app", "reference": "v1"})),
    )
    .await;
    assert_eq!(made.status, 201, "{}", text(&made));
    let id = made.json()["id"].as_str().unwrap().to_owned();
    clock.advance(std::time::Duration::from_secs(30 * 60));

    // A guest of the project sees it, as the API lists it to them.
    assert_eq!(
        api(&reg, "GET", "/approvals", GU, None)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (cookie, _) = session(&reg, GU).await;
    let r = get(&reg, "/ui/approvals", Some(&cookie)).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let body = text(&r);
    assert!(body.contains(&format!("/ui/approvals/{id}")), "{body}");
    assert!(body.contains("team/app:v1"));
    assert!(body.contains(&digest));
    assert!(body.contains("0 of 2 needed (2 approvers)"), "{body}");
    assert!(body.contains("30 min left"), "timelock: {body}");
    assert!(body.contains("1 h 30 min left"), "expiry: {body}");
    let r = get(&reg, &format!("/ui/approvals/{id}"), Some(&cookie)).await;
    assert_eq!(r.status, 200);
    let body = text(&r);
    assert!(body.contains(&format!("zoll approve {id} --key")), "{body}");
    assert!(body.contains("prod-release"));
    assert!(body.contains(&digest));

    // An outsider sees none of it, as the API shows them none.
    assert!(
        api(&reg, "GET", "/approvals", OUT, None)
            .await
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (cookie, _) = session(&reg, OUT).await;
    let r = get(&reg, "/ui/approvals", Some(&cookie)).await;
    assert_eq!(r.status, 200);
    assert!(!text(&r).contains(&id));
    assert_eq!(
        api(&reg, "GET", &format!("/approvals/{id}"), OUT, None)
            .await
            .status,
        403
    );
    assert_eq!(
        get(&reg, &format!("/ui/approvals/{id}"), Some(&cookie))
            .await
            .status,
        403
    );

    // Withdrawn: in the history, with its outcome.
    let r = api(
        &reg,
        "POST",
        &format!("/approvals/{id}/reject"),
        DV,
        Some(json!({"reason": "wrong build"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let (cookie, _) = session(&reg, GU).await;
    let body = text(&get(&reg, "/ui/approvals", Some(&cookie)).await);
    let history = body.split("id=\"history\"").nth(1).unwrap();
    assert!(history.contains(&id[..12]), "{body}");
    assert!(history.contains("rejected"), "{body}");
    assert!(history.contains("wrong build"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_forms_change_what_the_api_reads() {
    let reg = team().await;
    let (cookie, token) = session(&reg, PA).await;
    let send = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let (reg, cookie, token) = (&reg, cookie.clone(), token.clone());
        async move {
            let mut f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            f.push(("csrf", &token));
            let r = post(reg, path, Some(ORIGIN), Some(&cookie), &f).await;
            assert_eq!(r.status, 303, "{path}: {}", text(&r));
            r.header("location").to_owned()
        }
    };
    let rule = vec![("repositories", "**".to_owned()), ("tags", "v*".to_owned())];
    assert_eq!(
        send("/ui/projects/team/immutable", rule.clone()).await,
        "/ui/projects/team/settings"
    );
    let rules = admin_api(&reg, "GET", "/projects/team/immutable", None).await;
    assert_eq!(rules, json!([{"repositories": "**", "tags": "v*"}]));
    send("/ui/projects/team/immutable/remove", rule).await;
    let rules = admin_api(&reg, "GET", "/projects/team/immutable", None).await;
    assert_eq!(rules, json!([]));

    let policy = vec![
        ("keep_last", "5".to_owned()),
        ("keep_tags", "release-*, stable".to_owned()),
        ("keep_days", String::new()),
    ];
    send("/ui/projects/team/retention", policy).await;
    let got = admin_api(&reg, "GET", "/projects/team/retention", None).await;
    assert_eq!(
        got,
        json!({"keep_last": 5, "keep_tags": ["release-*", "stable"]})
    );
    let body = text(&get(&reg, "/ui/projects/team/settings", Some(&cookie)).await);
    assert!(body.contains("the newest 5 of each repository"), "{body}");
    send("/ui/projects/team/retention/remove", vec![]).await;
    assert_eq!(
        admin_api(&reg, "GET", "/projects/team/retention", None).await,
        Value::Null
    );

    // A webhook added in the console, its URL holding markup, shows as text; then deleted.
    let url = "http://127.0.0.1:9/<script>alert(1)</script>";
    send(
        "/ui/projects/team/webhooks",
        vec![
            ("url", url.to_owned()),
            ("secret", "sixteen-bytes-or-more".to_owned()),
            ("event", "io.zoll.artifact.pushed".to_owned()),
        ],
    )
    .await;
    let hooks = admin_api(&reg, "GET", "/projects/team/webhooks", None).await;
    assert_eq!(hooks[0]["url"], url);
    assert_eq!(hooks[0]["events"], json!(["io.zoll.artifact.pushed"]));
    let body = text(&get(&reg, "/ui/projects/team/webhooks", Some(&cookie)).await);
    assert!(!body.contains("<script>alert(1)"));
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let id = hooks[0]["id"].as_str().unwrap().to_owned();
    send("/ui/projects/team/webhooks/delete", vec![("id", id)]).await;
    let hooks = admin_api(&reg, "GET", "/projects/team/webhooks", None).await;
    assert_eq!(hooks, json!([]));
    // Each change is in the trail as the API writes it.
    let trail = admin_api(&reg, "GET", "/audit?limit=10000", None).await;
    for action in [
        "immutable.set",
        "retention.set",
        "webhook.create",
        "webhook.delete",
    ] {
        assert!(
            trail
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["actor"] == "pa" && r["action"] == action && r["outcome"] == "ok"),
            "{action}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_off_the_admin_pages_show_everything_and_offer_no_form() {
    let reg = TestRegistry::new().await;
    reg.store
        .create_project(&zoll_store::Project::new("team", false))
        .await
        .unwrap();
    for page in [
        "/ui/projects/team/members",
        "/ui/projects/team/robots",
        "/ui/projects/team/settings",
        "/ui/projects/team/webhooks",
        "/ui/audit",
    ] {
        // Without authentication only loopback names are answered.
        let r = reg
            .call(
                "GET",
                page,
                &[("host", "localhost")],
                axum::body::Body::empty(),
            )
            .await;
        assert_eq!(r.status, 200, "{page}: {}", text(&r));
        let body = text(&r);
        assert!(!body.contains("<form method=\"post\""), "{page}: {body}");
        assert!(!body.contains("form class=\"admin\""), "{page}");
    }
}
