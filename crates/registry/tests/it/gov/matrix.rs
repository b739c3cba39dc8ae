//! The authorization matrix, generated: every Distribution and management endpoint × every
//! role × own / other / public project, with Basic credentials and with tokens from the
//! token endpoint, plus anonymous callers and forged or misdirected tokens. The expected
//! outcome comes from the documented role table below, not from the registry's code.

use serde_json::json;
use zoll_registry::auth::jwt::{Access, Claims, SigningKey, unsigned_token};

use super::{ADMIN, add_user, admin_api, api, basic, push_as_admin, registry, token};
use crate::harness::TestRegistry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Pull,
    Push,
    Delete,
    Policies,
    Members,
    Admin,
}

/// The documented permissions (README, "Roles").
fn role_allows(role: &str, need: Need) -> bool {
    use Need::*;
    match role {
        "admin" => true,
        "project-admin" => need != Admin,
        "maintainer" => matches!(need, Pull | Push | Delete | Policies),
        "developer" => matches!(need, Pull | Push),
        "guest" => need == Pull,
        // The robot holds pull and push on every repository of its project.
        "robot" => matches!(need, Pull | Push),
        _ => false,
    }
}

struct Caller {
    role: &'static str,
    user: String,
    pass: String,
}

/// One endpoint: method, path and body, with what it needs.
struct Endpoint {
    name: &'static str,
    need: Need,
    method: &'static str,
    path: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    /// Statuses that count as success.
    ok: &'static [u16],
}

struct Fixture {
    layer: String,
    manifest: String,
    victim_blob: Vec<u8>,
}

async fn endpoints(reg: &TestRegistry, project: &str, f: &Fixture, n: usize) -> Vec<Endpoint> {
    let repo = format!("{project}/app");
    // Fresh objects for destructive calls, so that every cell starts from the same state.
    push_as_admin(reg, &repo, "del", b"layer").await;
    let admin = basic(ADMIN.0, ADMIN.1);
    let victim = zoll_oci::Digest::sha256(&f.victim_blob);
    let r = reg
        .call(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={victim}"),
            &[("authorization", admin.as_str())],
            f.victim_blob.clone(),
        )
        .await;
    assert_eq!(r.status, 201);
    let session = reg
        .call(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &[("authorization", admin.as_str())],
            vec![],
        )
        .await;
    let location = session.header("location").to_owned();
    let pushed = format!("{{\"n\":{n}}}");
    let pushed_digest = zoll_oci::Digest::sha256(pushed.as_bytes());
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let manifest = crate::harness::image_manifest(
        &zoll_oci::Digest::sha256(config),
        config.len(),
        &[(&f.layer.parse().unwrap(), 5)],
        None,
    );
    let m = |name, need, method, path: String, ok: &'static [u16]| Endpoint {
        name,
        need,
        method,
        path,
        body: Vec::new(),
        content_type: None,
        ok,
    };
    vec![
        m(
            "tags",
            Need::Pull,
            "GET",
            format!("/v2/{repo}/tags/list"),
            &[200],
        ),
        m(
            "manifest get",
            Need::Pull,
            "GET",
            format!("/v2/{repo}/manifests/v1"),
            &[200],
        ),
        m(
            "manifest head",
            Need::Pull,
            "HEAD",
            format!("/v2/{repo}/manifests/v1"),
            &[200],
        ),
        m(
            "blob get",
            Need::Pull,
            "GET",
            format!("/v2/{repo}/blobs/{}", f.layer),
            &[200],
        ),
        m(
            "blob head",
            Need::Pull,
            "HEAD",
            format!("/v2/{repo}/blobs/{}", f.layer),
            &[200],
        ),
        m(
            "referrers",
            Need::Pull,
            "GET",
            format!("/v2/{repo}/referrers/{}", f.manifest),
            &[200],
        ),
        m(
            "upload start",
            Need::Push,
            "POST",
            format!("/v2/{repo}/blobs/uploads/"),
            &[202],
        ),
        Endpoint {
            body: pushed.clone().into_bytes(),
            ..m(
                "monolithic upload",
                Need::Push,
                "POST",
                format!("/v2/{repo}/blobs/uploads/?digest={pushed_digest}"),
                &[201],
            )
        },
        m("upload status", Need::Push, "GET", location.clone(), &[204]),
        Endpoint {
            body: b"chunk".to_vec(),
            ..m(
                "upload patch",
                Need::Push,
                "PATCH",
                location.clone(),
                &[202],
            )
        },
        m("upload cancel", Need::Push, "DELETE", location, &[204]),
        Endpoint {
            body: serde_json::to_vec(&manifest).unwrap(),
            content_type: Some(crate::harness::OCI_MANIFEST),
            ..m(
                "manifest put",
                Need::Push,
                "PUT",
                format!("/v2/{repo}/manifests/t{n}"),
                &[201],
            )
        },
        m(
            "tag delete",
            Need::Delete,
            "DELETE",
            format!("/v2/{repo}/manifests/del"),
            &[202],
        ),
        m(
            "blob delete",
            Need::Delete,
            "DELETE",
            format!("/v2/{repo}/blobs/{victim}"),
            &[202],
        ),
        m(
            "project get",
            Need::Pull,
            "GET",
            format!("/api/v1/projects/{project}"),
            &[200],
        ),
        m(
            "quota get",
            Need::Pull,
            "GET",
            format!("/api/v1/projects/{project}/quota"),
            &[200],
        ),
        Endpoint {
            body: br#"[{"repositories":"*","tags":"never-*"}]"#.to_vec(),
            content_type: Some("application/json"),
            ..m(
                "immutable set",
                Need::Policies,
                "PUT",
                format!("/api/v1/projects/{project}/immutable"),
                &[200],
            )
        },
        m(
            "webhooks list",
            Need::Policies,
            "GET",
            format!("/api/v1/projects/{project}/webhooks"),
            &[200],
        ),
        m(
            "robots list",
            Need::Members,
            "GET",
            format!("/api/v1/projects/{project}/robots"),
            &[200],
        ),
        Endpoint {
            body: br#"{"role":"guest"}"#.to_vec(),
            content_type: Some("application/json"),
            ..m(
                "member set",
                Need::Members,
                "PUT",
                format!("/api/v1/projects/{project}/members/outsider"),
                &[200],
            )
        },
        Endpoint {
            body: br#"{"max_bytes":1000000000}"#.to_vec(),
            content_type: Some("application/json"),
            ..m(
                "quota set",
                Need::Admin,
                "PUT",
                format!("/api/v1/projects/{project}/quota"),
                &[200],
            )
        },
        m(
            "audit read",
            Need::Admin,
            "GET",
            "/api/v1/audit?limit=1".into(),
            &[200],
        ),
    ]
}

async fn setup() -> (TestRegistry, Vec<Caller>, Fixture) {
    let reg = registry().await;
    for (p, public) in [("own", false), ("other", false), ("pub", true)] {
        admin_api(
            &reg,
            "POST",
            "/projects",
            Some(json!({"name": p, "public": public})),
        )
        .await;
    }
    add_user(&reg, "outsider", "outsider-pass").await;
    let mut callers = vec![Caller {
        role: "admin",
        user: ADMIN.0.into(),
        pass: ADMIN.1.into(),
    }];
    for role in ["project-admin", "maintainer", "developer", "guest"] {
        let user = format!("u-{role}");
        let pass = format!("{role}-password");
        add_user(&reg, &user, &pass).await;
        admin_api(
            &reg,
            "PUT",
            &format!("/projects/own/members/{user}"),
            Some(json!({"role": role})),
        )
        .await;
        callers.push(Caller { role, user, pass });
    }
    let robot = admin_api(
        &reg,
        "POST",
        "/projects/own/robots",
        Some(json!({"name": "ci", "permissions": [{"repositories": "*", "actions": ["pull", "push"]}]})),
    )
    .await;
    callers.push(Caller {
        role: "robot",
        user: robot["name"].as_str().unwrap().into(),
        pass: robot["secret"].as_str().unwrap().into(),
    });
    let mut fixture = None;
    for p in ["own", "other", "pub"] {
        let (manifest, layer) = push_as_admin(&reg, &format!("{p}/app"), "v1", b"layer").await;
        fixture = Some(Fixture {
            layer,
            manifest,
            victim_blob: b"victim".to_vec(),
        });
    }
    (reg, callers, fixture.unwrap())
}

/// The role a caller has in `project`: its own role in `own`, nothing elsewhere (the
/// administrator is an administrator everywhere); public projects add pull for everyone.
fn expected(role: &str, project: &str, need: Need) -> bool {
    let in_project = match project {
        "own" => role_allows(role, need),
        _ => role == "admin",
    };
    in_project || (project == "pub" && need == Need::Pull && role != "robot")
}

async fn send(reg: &TestRegistry, e: &Endpoint, auth: Option<&str>) -> u16 {
    let mut h: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = auth {
        h.push(("authorization", a));
    }
    if let Some(ct) = e.content_type {
        h.push(("content-type", ct));
    }
    reg.call(e.method, &e.path, &h, e.body.clone()).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_for_every_role_in_own_other_and_public_projects() {
    let (reg, callers, f) = setup().await;
    let mut failures = Vec::new();
    let mut cells = 0;
    let mut n = 0;
    for project in ["own", "other", "pub"] {
        for caller in &callers {
            for use_token in [false, true] {
                n += 1;
                for e in endpoints(&reg, project, &f, n).await {
                    let auth = if use_token && e.path.starts_with("/v2/") {
                        let scope = format!("repository:{project}/app:pull,push,delete");
                        format!(
                            "Bearer {}",
                            token(&reg, Some((&caller.user, &caller.pass)), &scope).await
                        )
                    } else {
                        basic(&caller.user, &caller.pass)
                    };
                    let status = send(&reg, &e, Some(&auth)).await;
                    let allow = expected(caller.role, project, e.need);
                    let good = if allow {
                        e.ok.contains(&status)
                    } else {
                        status == 403
                    };
                    cells += 1;
                    if !good {
                        failures.push(format!(
                            "{} {} as {} ({}) {}: got {status}, expected {}",
                            e.method,
                            e.name,
                            caller.role,
                            if use_token { "token" } else { "basic" },
                            project,
                            if allow {
                                format!("{:?}", e.ok)
                            } else {
                                "403".into()
                            }
                        ));
                    }
                }
            }
        }
        // Anonymous: public pulls succeed, everything else asks for credentials.
        n += 1;
        for e in endpoints(&reg, project, &f, n).await {
            let status = send(&reg, &e, None).await;
            let allow = project == "pub" && e.need == Need::Pull && e.path.starts_with("/v2/");
            cells += 1;
            let good = if allow {
                e.ok.contains(&status)
            } else {
                status == 401
            };
            if !good {
                failures.push(format!(
                    "{} {} anonymous {project}: got {status}",
                    e.method, e.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cells > 700, "{cells}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_repository_mount_checks_both_sides() {
    let (reg, callers, f) = setup().await;
    let developer = callers.iter().find(|c| c.role == "developer").unwrap();
    let auth = basic(&developer.user, &developer.pass);
    let mount = |from: &str| {
        format!(
            "/v2/own/mounted/blobs/uploads/?mount={}&from={from}",
            f.layer
        )
    };
    // Readable source (own) and writable target: mounted.
    let r = reg
        .call(
            "POST",
            &mount("own/app"),
            &[("authorization", &auth)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 201);
    // Unreadable source (other): no link is made, an ordinary upload session starts instead,
    // and the attempt is audited as denied.
    let r = reg
        .call(
            "POST",
            &mount("other/app"),
            &[("authorization", &auth)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let r = reg
        .call(
            "HEAD",
            &format!("/v2/own/other-copy/blobs/{}", f.layer),
            &[("authorization", &auth)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 404);
    // Without `from`, a non-administrator cannot probe other projects for a digest.
    let r = reg
        .call(
            "POST",
            &format!("/v2/own/probe/blobs/uploads/?mount={}", f.layer),
            &[("authorization", &auth)],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
    // Writable source, unwritable target (guest of own pushing into own): refused.
    let guest = callers.iter().find(|c| c.role == "guest").unwrap();
    let r = reg
        .call(
            "POST",
            &mount("own/app"),
            &[("authorization", &basic(&guest.user, &guest.pass))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 403);
    let records = reg.store.audit_records(0, 100_000).await.unwrap();
    assert!(records.iter().any(|r| r.entry.actor == developer.user
        && r.entry.outcome == "denied"
        && r.entry.target == format!("other/app@{}", f.layer)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_misdirected_and_unsigned_tokens_are_refused() {
    let (reg, callers, _) = setup().await;
    let dev = callers.iter().find(|c| c.role == "developer").unwrap();
    let path = "/v2/own/app/manifests/v1";
    let good = token(
        &reg,
        Some((&dev.user, &dev.pass)),
        "repository:own/app:pull",
    )
    .await;
    let ok = reg
        .call(
            "GET",
            path,
            &[("authorization", &format!("Bearer {good}"))],
            vec![],
        )
        .await;
    assert_eq!(ok.status, 200);

    let now = zoll_stdx::time::now_secs().cast_signed();
    let claims = |aud: &str, exp: i64, repo: &str| Claims {
        iss: "zoll".into(),
        sub: dev.user.clone(),
        aud: aud.into(),
        exp,
        nbf: now - 10,
        iat: now - 10,
        jti: "x".into(),
        access: vec![Access {
            kind: "repository".into(),
            name: repo.into(),
            actions: vec!["pull".into()],
        }],
    };
    let stranger = SigningKey::generate();
    // Our own key, read from the store as a replica would, for the cases that need a valid
    // signature on bad claims.
    let (_, der) = reg.store.token_keys().await.unwrap().remove(0);
    let ours = SigningKey::from_pkcs8_hex(&der).unwrap();
    let other_repo = token(
        &reg,
        Some((&dev.user, &dev.pass)),
        "repository:own/else:pull",
    )
    .await;
    let cases = [
        (
            "signed by another key",
            stranger.sign(&claims("zoll-registry", now + 300, "own/app")),
        ),
        (
            "alg none",
            unsigned_token("none", &claims("zoll-registry", now + 300, "own/app")),
        ),
        (
            "HS256",
            unsigned_token("HS256", &claims("zoll-registry", now + 300, "own/app")),
        ),
        (
            "wrong audience",
            ours.sign(&claims("another-registry", now + 300, "own/app")),
        ),
        (
            "expired",
            ours.sign(&claims("zoll-registry", now - 120, "own/app")),
        ),
        ("token for another repository", other_repo),
        ("garbage", "not.a.token".into()),
    ];
    for (what, t) in cases {
        let r = reg
            .call(
                "GET",
                path,
                &[("authorization", &format!("Bearer {t}"))],
                vec![],
            )
            .await;
        assert_eq!(
            r.status,
            401,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let challenge = r.header("www-authenticate");
        assert!(
            challenge.starts_with("Bearer realm=")
                && challenge.contains("scope=\"repository:own/app:pull\""),
            "{what}: {challenge}"
        );
    }
    // A token stops working when its account is disabled or deleted.
    let mut account = reg.store.account(&dev.user).await.unwrap().unwrap();
    account.disabled = true;
    reg.store.put_account(&account, true).await.unwrap();
    let r = reg
        .call(
            "GET",
            path,
            &[("authorization", &format!("Bearer {good}"))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 401);
}

/// Robots a caller asks to create, with what each holds: `(pattern, actions)`.
const GRANTS: [(&str, &[&str]); 8] = [
    ("**", &["pull"]),
    ("**", &["pull", "push"]),
    ("**", &["delete"]),
    ("**", &["pull-ungated"]),
    ("**", &["manage-policies"]),
    ("**", &["manage-members"]),
    ("app/**", &["push"]),
    ("app/**", &["delete"]),
];

/// Nobody grants what they do not hold (written out per caller, not computed): `true`
/// where the caller may create a robot holding GRANTS[i]. `pull-ungated` only from a
/// system administrator.
fn may_grant(caller: &str, grant: usize) -> bool {
    let table: &[bool; 8] = match caller {
        "admin" => &[true, true, true, true, true, true, true, true],
        "project-admin" => &[true, true, true, false, true, true, true, true],
        // Holds pull, push and manage-members on every repository of its project.
        "robot-members" => &[true, true, false, false, false, true, true, false],
        // Holds manage-members on app/** only, and managing robots is project-wide.
        "robot-app" => &[false; 8],
        // maintainer, developer, guest: no manage-members at all.
        _ => &[false; 8],
    };
    table[grant]
}

/// The roles a caller may hand out (or take away): guest, developer, maintainer,
/// project-admin.
fn may_assign(caller: &str, role: &str) -> bool {
    match caller {
        "admin" | "project-admin" => true,
        "robot-members" => matches!(role, "guest" | "developer"),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_of_roles_and_robot_permissions_need_what_they_grant() {
    let (reg, mut callers, _) = setup().await;
    for (name, perms) in [
        (
            "members",
            json!([{"repositories": "**", "actions": ["pull", "push", "manage-members"]}]),
        ),
        (
            "app",
            json!([{"repositories": "app/**", "actions": ["pull", "push", "delete", "manage-members"]}]),
        ),
    ] {
        let r = admin_api(
            &reg,
            "POST",
            "/projects/own/robots",
            Some(json!({"name": name, "permissions": perms})),
        )
        .await;
        callers.push(Caller {
            role: if name == "members" {
                "robot-members"
            } else {
                "robot-app"
            },
            user: r["name"].as_str().unwrap().into(),
            pass: r["secret"].as_str().unwrap().into(),
        });
    }
    callers.retain(|c| c.role != "robot");
    add_user(&reg, "target", "target-password").await;
    let mut failures = Vec::new();
    let mut n = 0;
    for caller in &callers {
        let who = (caller.user.as_str(), caller.pass.as_str());
        for (i, (pattern, actions)) in GRANTS.iter().enumerate() {
            n += 1;
            let body = json!({
                "name": format!("made{n}"),
                "permissions": [{"repositories": pattern, "actions": actions}],
            });
            let r = api(&reg, "POST", "/projects/own/robots", who, Some(body)).await;
            let allow = may_grant(caller.role, i);
            let good = if allow {
                r.status == 201
            } else {
                r.status == 403
            };
            if !good {
                failures.push(format!(
                    "{} creating a robot with {actions:?} on {pattern}: {} {}",
                    caller.role,
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            }
            if r.status == 201 {
                // What was granted works; what was refused never existed.
                let created = r.json();
                if actions.contains(&"pull") {
                    let got = reg
                        .get_as(
                            "/v2/own/app/manifests/v1",
                            (
                                created["name"].as_str().unwrap(),
                                created["secret"].as_str().unwrap(),
                            ),
                        )
                        .await;
                    assert_eq!(got.status, 200, "{}", caller.role);
                }
            } else {
                let full = format!("robot$own+made{n}");
                assert!(reg.store.account(&full).await.unwrap().is_none());
            }
        }
        for role in ["guest", "developer", "maintainer", "project-admin"] {
            let r = api(
                &reg,
                "PUT",
                "/projects/own/members/target",
                who,
                Some(json!({"role": role})),
            )
            .await;
            let allow = may_assign(caller.role, role);
            let good = if allow {
                r.status == 200
            } else {
                r.status == 403
            };
            if !good {
                failures.push(format!(
                    "{} assigning {role}: {} {}",
                    caller.role,
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            }
            // Reset to the weakest role so that the next attempt changes only the role.
            api(&reg, "DELETE", "/projects/own/members/target", ADMIN, None).await;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Nobody demotes or removes a member who holds more than they do.
    let robot = callers.iter().find(|c| c.role == "robot-members").unwrap();
    let who = (robot.user.as_str(), robot.pass.as_str());
    let r = api(
        &reg,
        "PUT",
        "/projects/own/members/u-project-admin",
        who,
        Some(json!({"role": "guest"})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let r = api(
        &reg,
        "DELETE",
        "/projects/own/members/u-maintainer",
        who,
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    let r = api(
        &reg,
        "DELETE",
        "/projects/own/members/u-developer",
        who,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    // Nor deletes a robot holding more (the app robot holds delete).
    let app = callers.iter().find(|c| c.role == "robot-app").unwrap();
    let short = app.user.trim_start_matches("robot$own+");
    let r = api(
        &reg,
        "DELETE",
        &format!("/projects/own/robots/{short}"),
        who,
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    // A robot cannot outlive the robot that creates it.
    let mut short_lived = reg.store.account(&robot.user).await.unwrap().unwrap();
    let soon = zoll_stdx::time::now_ms() + 3_600_000;
    short_lived.expires_ms = Some(soon);
    reg.store.put_account(&short_lived, true).await.unwrap();
    let r = api(
        &reg,
        "POST",
        "/projects/own/robots",
        who,
        Some(json!({"name": "heir", "permissions": [{"repositories": "*", "actions": ["pull"]}], "expires_in_days": 30})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let r = api(
        &reg,
        "POST",
        "/projects/own/robots",
        who,
        Some(json!({"name": "heir", "permissions": [{"repositories": "*", "actions": ["pull"]}]})),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["expires_ms"], soon);
    // Robot lifetimes and expiries are bounded.
    for body in [
        json!({"name": "x1", "permissions": [{"repositories": "*", "actions": ["pull"]}], "expires_in_days": 4294967295u64}),
        json!({"name": "x2", "permissions": [{"repositories": "*", "actions": ["pull"]}], "expires_ms": 1}),
        json!({"name": "x3", "permissions": [{"repositories": "*", "actions": ["pull"]}], "expires_ms": i64::MAX}),
    ] {
        let r = api(&reg, "POST", "/projects/own/robots", ADMIN, Some(body)).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    }
    // Every refusal to grant is audited, and a granted bypass has a record of its own.
    let records = reg.store.audit_records(0, 100_000).await.unwrap();
    assert!(records.iter().any(|r| {
        r.entry.action == "robot.create"
            && r.entry.outcome == "denied"
            && r.entry
                .detail
                .contains("only a system administrator may grant pull-ungated")
    }));
    let bypasses: Vec<_> = records
        .iter()
        .filter(|r| r.entry.action == "grant.pull-ungated")
        .collect();
    assert_eq!(bypasses.len(), 1, "only the administrator's grant");
    assert_eq!(bypasses[0].entry.actor, ADMIN.0);
}
