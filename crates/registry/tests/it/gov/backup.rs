//! Backups hold every metadata table: a table added by a later migration and forgotten in
//! the backup list fails here.

use super::{admin_api, registry};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_schema_table_is_backed_up_or_deliberately_left_out() {
    let reg = registry().await;
    sqlx::any::install_default_drivers();
    let (url, sql) = match &reg.config.metadata_url {
        Some(u) => (
            u.clone(),
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = 'public'",
        ),
        None => (
            format!("sqlite://{}", reg.dir.path().join("metadata.db").display()),
            "SELECT name FROM sqlite_master WHERE type = 'table'",
        ),
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let mut tables: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    tables.sort();
    let mut covered: Vec<String> = zoll_store::backed_up_tables()
        .into_iter()
        .chain(zoll_store::NOT_BACKED_UP.iter().copied())
        .map(str::to_owned)
        .collect();
    covered.sort();
    assert_eq!(tables, covered);
}

/// A backup written before schema version 8 holds patterns of the registry's old dialect
/// (`*` crossing `/`): restoring it rewrites them as the migration rewrites live ones, so
/// that a restored robot or rule matches what it matched when it was backed up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_from_before_the_one_glob_dialect_is_restored_in_it() {
    use serde_json::{Value, json};
    let reg = registry().await;
    admin_api(&reg, "POST", "/projects", Some(json!({"name": "own"}))).await;
    let robot =
        json!({"name": "ci", "permissions": [{"repositories": "app/**", "actions": ["pull"]}]});
    admin_api(&reg, "POST", "/projects/own/robots", Some(robot)).await;
    let rules = json!([{"repositories": "**", "tags": "v*"}]);
    admin_api(&reg, "PUT", "/projects/own/immutable", Some(rules)).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backup");
    reg.store.backup(&dir).await.unwrap();

    // Turn it into a backup as a version-7 server wrote it: old format, old patterns.
    let edit = |file: &str, f: &dyn Fn(&mut Value)| {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                f(&mut v);
                v.to_string()
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    };
    let manifest = std::fs::read_to_string(dir.join("backup.json")).unwrap();
    assert!(manifest.contains("\"zoll-backup-2\""), "{manifest}");
    std::fs::write(
        dir.join("backup.json"),
        manifest.replace("zoll-backup-2", "zoll-backup-1"),
    )
    .unwrap();
    edit("metadata/accounts.jsonl", &|row| {
        if row["kind"] == "robot" {
            row["permissions"] = json!(r#"[{"repositories":"app/*","actions":["pull"]}]"#);
        }
    });
    edit("metadata/projects.jsonl", &|row| {
        if row["name"] == "own" {
            row["immutable_rules"] = json!(r#"[{"tags":"v**"}]"#);
        }
    });

    let fresh = crate::harness::TestRegistry::with_auth().await;
    fresh.store.restore(&dir).await.unwrap();
    let robot = fresh.store.account("robot$own+ci").await.unwrap().unwrap();
    let perms: Value = serde_json::from_str(robot.permissions.as_deref().unwrap()).unwrap();
    assert_eq!(
        perms,
        json!([{"repositories": "app/**", "actions": ["pull"]}])
    );
    let project = fresh.store.project("own").await.unwrap().unwrap();
    let rules: Value = serde_json::from_str(&project.immutable_rules).unwrap();
    assert_eq!(rules, json!([{"repositories": "**", "tags": "v*"}]));

    // A format this build does not know is refused.
    let manifest = std::fs::read_to_string(dir.join("backup.json")).unwrap();
    std::fs::write(
        dir.join("backup.json"),
        manifest.replace("zoll-backup-1", "zoll-backup-9"),
    )
    .unwrap();
    let other = crate::harness::TestRegistry::with_auth().await;
    let err = other.store.restore(&dir).await.unwrap_err().to_string();
    assert!(err.contains("zoll-backup-2"), "{err}");
}

/// Reading a backup holds every metadata row in memory until its stream is sent, so a
/// replica serves one at a time: a second reader while the first stream is open gets 429;
/// once the first is done, the next may read, and its stream ends with the end line. A
/// user who is not a system administrator reads nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_backup_snapshot_is_read_at_a_time_and_only_by_administrators() {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let reg = registry().await;
    super::add_user(&reg, "bob", "bob-password-1").await;
    let get = |who: (&str, &str)| {
        axum::http::Request::builder()
            .uri("/api/v1/backup")
            .header("authorization", super::basic(who.0, who.1))
            .body(Body::empty())
            .unwrap()
    };
    let refused = reg
        .router
        .clone()
        .oneshot(get(("bob", "bob-password-1")))
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let first = reg.router.clone().oneshot(get(super::ADMIN)).await.unwrap();
    assert_eq!(first.status(), 200);
    let second = reg.router.clone().oneshot(get(super::ADMIN)).await.unwrap();
    assert_eq!(second.status(), 429);
    drop(first);
    let third = reg.router.clone().oneshot(get(super::ADMIN)).await.unwrap();
    assert_eq!(third.status(), 200);
    let body = third.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(
        last["end"]["rows"].as_u64().is_some_and(|n| n > 0),
        "{text}"
    );
    let first_line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first_line["format"], zoll_store::BACKUP_FORMAT);
}
