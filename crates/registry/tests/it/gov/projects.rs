//! Pushes into a project that does not exist (issue 16): other accounts are refused with the
//! project named, a system administrator's push makes it (audited) unless `[projects]
//! create_on_push = "never"`, and nobody becomes a member of it by pushing.

use serde_json::json;
use zoll_registry::push_rules::CreateOnPush;

use super::{ADMIN, add_user, admin_api, api, basic, project_with_member, push_as_admin, registry};
use crate::harness::{Resp, TestRegistry};

/// Starts a monolithic blob upload into `repo` as `who`.
async fn upload_as(reg: &TestRegistry, who: (&str, &str), repo: &str) -> Resp {
    let d = zoll_oci::Digest::sha256(b"layer");
    reg.call(
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[("authorization", &basic(who.0, who.1))],
        b"layer".to_vec(),
    )
    .await
}

fn message(r: &Resp) -> String {
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.code(), "DENIED");
    r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asserts an audit record of `actor` doing `action` on a target starting with `target`.
async fn audited(reg: &TestRegistry, actor: &str, action: &str, target: &str, outcome: &str) {
    let records = reg.store.audit_records(0, 1000).await.unwrap();
    assert!(
        records.iter().any(|r| r.entry.actor == actor
            && r.entry.action == action
            && r.entry.target.starts_with(target)
            && r.entry.outcome == outcome),
        "no {actor} {action} {target} {outcome} in {records:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_into_a_missing_project_is_refused_unless_an_administrator_makes_it() {
    let reg = registry().await;
    // A developer elsewhere and an account with no memberships at all.
    project_with_member(&reg, "team", "dev", "dev-password", "developer").await;
    add_user(&reg, "alice", "alice-password").await;
    let refused = |who: &str| {
        format!(
            "{who} may not push newproject/app: pushing needs the push permission in an \
             existing project (a system administrator creates one with `zoll project create \
             newproject`)"
        )
    };
    for who in [("dev", "dev-password"), ("alice", "alice-password")] {
        let r = upload_as(&reg, who, "newproject/app").await;
        assert_eq!(message(&r), refused(who.0));
    }
    audited(&reg, "alice", "push", "newproject/app", "denied").await;
    // Nothing was made by the refused pushes.
    let r = api(&reg, "GET", "/projects/newproject", ADMIN, None).await;
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));

    // An administrator's push makes it: private, no members, audited.
    push_as_admin(&reg, "newproject/app", "v1", b"layer").await;
    let p = admin_api(&reg, "GET", "/projects/newproject", None).await;
    assert_eq!(p["public"], false, "{p}");
    audited(&reg, "admin", "project.create", "newproject", "ok").await;
    let members = admin_api(&reg, "GET", "/projects/newproject/members", None).await;
    assert_eq!(members, json!([]), "{members}");
    // Now it exists (private), an account without a role there is refused in the very same
    // words: a refusal does not tell which private projects exist (review finding).
    let r = upload_as(&reg, ("alice", "alice-password"), "newproject/app").await;
    assert_eq!(message(&r), refused("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_create_on_push_never_administrators_create_projects_explicitly() {
    let reg = registry()
        .await
        .with_app(|app| app.create_projects_on_push = CreateOnPush::Never);
    let r = upload_as(&reg, ADMIN, "newproject/app").await;
    assert_eq!(
        message(&r),
        "project newproject does not exist and pushes create no projects here \
         ([projects] create_on_push = \"never\"); create it with \
         `zoll project create newproject`"
    );
    audited(&reg, "admin", "push", "newproject/app", "denied").await;
    admin_api(
        &reg,
        "POST",
        "/projects",
        Some(json!({"name": "newproject"})),
    )
    .await;
    push_as_admin(&reg, "newproject/app", "v1", b"layer").await;
}
