//! The audit trail: what is recorded, and tamper detection. Each tamper test changes the
//! database behind the registry's back with plain SQL, as an attacker with database access
//! would, and expects `audit_verify` (what `zoll audit verify` prints) to name the position.

use serde_json::json;
use sqlx::AnyPool;
use zoll_store::{AuditEntry, AuditFinding, record_hash};

use super::{ADMIN, admin_api, api, basic, push_as_admin, registry};
use crate::harness::TestRegistry;

/// A registry whose trail holds exactly six records.
async fn six_records() -> TestRegistry {
    let reg = registry().await;
    for i in 0..6 {
        let e = AuditEntry {
            actor: format!("user{i}"),
            source: "127.0.0.1".into(),
            action: "manifest.push".into(),
            target: format!("team/app:v{i}"),
            outcome: "ok".into(),
            detail: String::new(),
        };
        reg.store.audit(&e).await.unwrap();
    }
    assert!(reg.store.audit_verify().await.unwrap().intact());
    reg
}

async fn db(reg: &TestRegistry) -> AnyPool {
    sqlx::any::install_default_drivers();
    let url = match &reg.config.metadata_url {
        Some(u) => u.clone(),
        None => format!("sqlite://{}", reg.dir.path().join("metadata.db").display()),
    };
    AnyPool::connect(&url).await.unwrap()
}

async fn sql(reg: &TestRegistry, statements: &[&str]) {
    let pool = db(reg).await;
    for s in statements {
        sqlx::query(s).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

/// The hash of record `seq` as stored.
async fn hash_of(reg: &TestRegistry, seq: i64) -> String {
    let r = reg.store.audit_records(seq - 1, 1).await.unwrap();
    r[0].hash.clone()
}

/// Inserts a forged record with a correct hash over `prev`.
async fn forge(reg: &TestRegistry, seq: i64, prev: &str) {
    let e = AuditEntry {
        actor: "mallory".into(),
        source: "10.0.0.66".into(),
        action: "manifest.delete".into(),
        target: "team/app:v0".into(),
        outcome: "ok".into(),
        detail: String::new(),
    };
    let hash = record_hash(prev, 1, &e);
    let stmt = format!(
        "INSERT INTO audit_log (seq, at_ms, actor, source, action, target, outcome, detail, \
         prev_hash, hash) VALUES ({seq}, 1, 'mallory', '10.0.0.66', 'manifest.delete', \
         'team/app:v0', 'ok', '', '{prev}', '{hash}')"
    );
    sql(reg, &[&stmt]).await;
}

async fn findings(reg: &TestRegistry) -> Vec<AuditFinding> {
    reg.store.audit_verify().await.unwrap().findings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_field_is_reported_at_its_position() {
    let reg = six_records().await;
    sql(
        &reg,
        &["UPDATE audit_log SET target = 'team/app:forged' WHERE seq = 3"],
    )
    .await;
    assert_eq!(
        findings(&reg).await,
        vec![AuditFinding::Edited {
            position: 3,
            seq: 3
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_record_is_reported_at_the_gap() {
    let reg = six_records().await;
    sql(&reg, &["DELETE FROM audit_log WHERE seq = 3"]).await;
    assert_eq!(
        findings(&reg).await,
        vec![AuditFinding::Missing {
            position: 3,
            seq: 4
        }]
    );
    // Renumbering the rest to hide the gap changes nothing.
    sql(&reg, &["UPDATE audit_log SET seq = seq - 1 WHERE seq > 3"]).await;
    assert_eq!(
        findings(&reg).await,
        vec![AuditFinding::Missing {
            position: 3,
            seq: 3
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inserted_record_is_reported_even_with_a_correct_hash() {
    let reg = six_records().await;
    let prev = hash_of(&reg, 2).await;
    sql(
        &reg,
        &[
            "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 3",
            "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1003",
        ],
    )
    .await;
    forge(&reg, 3, &prev).await;
    assert_eq!(
        findings(&reg).await,
        vec![AuditFinding::Inserted {
            position: 3,
            seq: 3
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_swapped_records_are_reported_with_both_positions() {
    let reg = six_records().await;
    sql(
        &reg,
        &[
            "UPDATE audit_log SET seq = 1000 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = 4",
            "UPDATE audit_log SET seq = 4 WHERE seq = 1000",
        ],
    )
    .await;
    assert_eq!(
        findings(&reg).await,
        vec![AuditFinding::Swapped {
            position: 3,
            seq: 3,
            with_position: 4,
            with_seq: 4
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_or_extended_tail_is_reported_against_the_head() {
    let reg = six_records().await;
    sql(&reg, &["DELETE FROM audit_log WHERE seq = 6"]).await;
    assert_eq!(
        findings(&reg).await,
        vec![AuditFinding::TailMissing {
            after_position: 5,
            head_seq: 6
        }]
    );
    let reg = six_records().await;
    let prev = hash_of(&reg, 6).await;
    forge(&reg, 7, &prev).await;
    assert_eq!(
        findings(&reg).await,
        vec![AuditFinding::Unanchored {
            position: 7,
            seq: 7
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_pulls_denials_and_management_changes_are_recorded_and_exported() {
    let reg = registry().await;
    admin_api(&reg, "POST", "/projects", Some(json!({"name": "team"}))).await;
    let (digest, _) = push_as_admin(&reg, "team/app", "v1", b"layer").await;
    let r = reg
        .call(
            "GET",
            "/v2/team/app/manifests/v1",
            &[("authorization", &basic(ADMIN.0, ADMIN.1))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200);
    super::add_user(&reg, "eve", "eve-password").await;
    let r = reg
        .call(
            "DELETE",
            "/v2/team/app/manifests/v1",
            &[("authorization", &basic("eve", "eve-password"))],
            vec![],
        )
        .await;
    assert_eq!(r.status, 403);
    let records = reg.store.audit_records(0, 1000).await.unwrap();
    let has = |actor: &str, action: &str, target: &str, outcome: &str| {
        records.iter().any(|r| {
            r.entry.actor == actor
                && r.entry.action == action
                && r.entry.target == target
                && r.entry.outcome == outcome
        })
    };
    assert!(has("admin", "project.create", "team", "ok"));
    assert!(has("admin", "manifest.push", "team/app:v1", "ok"));
    assert!(has(
        "admin",
        "blob.upload",
        &format!("team/app@{}", zoll_oci::Digest::sha256(b"layer")),
        "ok"
    ));
    assert!(has("admin", "pull", "team/app:v1", "ok"));
    assert!(has("eve", "delete", "team/app:v1", "denied"));
    let push = records
        .iter()
        .find(|r| r.entry.action == "manifest.push")
        .unwrap();
    assert_eq!(push.entry.detail, digest);

    let jsonl = api(&reg, "GET", "/audit?format=jsonl", ADMIN, None).await;
    assert_eq!(jsonl.header("content-type"), "application/x-ndjson");
    let lines: Vec<serde_json::Value> = std::str::from_utf8(&jsonl.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), records.len());
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["hash"], records[0].hash);
    let csv = api(&reg, "GET", "/audit?format=csv", ADMIN, None).await;
    let text = String::from_utf8(csv.body.to_vec()).unwrap();
    assert!(
        text.starts_with("seq,time,actor,source,action,target,outcome,detail,prev_hash,hash\r\n")
    );
    assert_eq!(text.lines().count(), records.len() + 1);
    let verify = api(&reg, "GET", "/audit/verify", ADMIN, None).await.json();
    assert_eq!(verify["intact"], true, "{verify}");
    // Only administrators read the trail.
    assert_eq!(
        api(&reg, "GET", "/audit", ("eve", "eve-password"), None)
            .await
            .status,
        403
    );
}
