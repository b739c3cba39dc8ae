//! Scanning inside the registry: a push queues a scan (in the push transaction, so it
//! survives a restart), a worker attaches the SBOM, vulnerability and lint reports as
//! referrers and indexes the findings per advisory, a database change re-matches stored
//! SBOMs without reading layers and announces images newly affected, and encrypted images
//! are reported as such instead of scanned.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use zoll_oci::Digest;
use zoll_registry::scanner::{self, ScanSettings};
use zoll_testkit::{TarEntry, TestImage};

use crate::harness::{OCI_MANIFEST, TestRegistry, image_manifest, metric};

pub(crate) const STATUS: &str = "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n\
Source: zlib\nVersion: 1:1.2.13.dfsg-1\n\nPackage: base-files\nStatus: install ok installed\n\
Architecture: amd64\nVersion: 12.4+deb12u5\n";

pub(crate) fn debian_image() -> TestImage {
    TestImage::new()
        .layer(&[
            TarEntry::dir("etc"),
            TarEntry::file(
                "etc/os-release",
                "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
            ),
            TarEntry::dir("var/lib/dpkg"),
            TarEntry::file("var/lib/dpkg/status", STATUS),
        ])
        .config(|c| c["config"]["User"] = json!("1000"))
}

/// An OSV advisory against a Debian 12 source package, fixed in `fixed`.
pub(crate) fn advisory(id: &str, cve: &str, source: &str, fixed: &str) -> Value {
    json!({
        "schema_version": "1.6.0", "id": id, "modified": "2026-01-01T00:00:00Z",
        "aliases": [cve],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{"package": {"ecosystem": "Debian:12", "name": source},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
    })
}

/// Writes the vulnerability database `zoll db import` would from these advisories.
pub(crate) fn write_db(dir: &Path, advisories: &[Value]) -> PathBuf {
    let src = dir.join(format!("osv-{}", advisories.len()));
    std::fs::create_dir_all(&src).unwrap();
    let mut files = Vec::new();
    for a in advisories {
        let f = src.join(format!("{}.json", a["id"].as_str().unwrap()));
        std::fs::write(&f, serde_json::to_vec(a).unwrap()).unwrap();
        files.push(f);
    }
    let db = dir.join("osv.jsonl");
    zoll_scan::vuln::import(&db, &files).unwrap();
    db
}

pub(crate) async fn scanning_registry(db: &Path) -> TestRegistry {
    TestRegistry::with_scanner(ScanSettings {
        db: Some(db.to_owned()),
        ..Default::default()
    })
    .await
}

/// A scanning registry (with the allowlists and VEX documents under `suppressions`, if
/// given) whose pull gate runs `policy` with the registry's scan results (no decision
/// cache), its vulnerability database loaded.
pub(crate) async fn gated_scanning_registry(
    db: &Path,
    suppressions: Option<&Path>,
    policy: zoll_policy::PolicySet,
) -> TestRegistry {
    let reg = TestRegistry::with_scanner(ScanSettings {
        db: Some(db.to_owned()),
        suppressions: suppressions.map(Path::to_owned),
        ..Default::default()
    })
    .await;
    let engine = Arc::new(zoll_policy::Engine::with(
        policy,
        Arc::new(zoll_registry::scan_gate::StoreScanGate::new(
            reg.store.clone(),
        )),
        std::time::Duration::ZERO,
    ));
    let reg = reg.with_pull_gate(engine);
    scanner::refresh_db(&reg.app).await.unwrap();
    reg
}

/// Runs queued scans until none is left.
pub(crate) async fn drain(reg: &TestRegistry) -> usize {
    let mut n = 0;
    while scanner::scan_next(&reg.app).await.unwrap() {
        n += 1;
    }
    n
}

/// Pushes `img` through the Router in process (no listener holds the store, so the test
/// registry can restart).
async fn push(reg: &TestRegistry, repo: &str, tag: &str, img: &TestImage) -> Digest {
    reg.push_blob(repo, &serde_json::to_vec(&img.config).unwrap())
        .await;
    for l in &img.layers {
        reg.push_blob(repo, &l.bytes).await;
    }
    let (manifest, _) = img.manifest();
    let m: Value = serde_json::from_slice(&manifest).unwrap();
    let r = reg.put_manifest(repo, tag, OCI_MANIFEST, &m).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    Digest::sha256(&manifest)
}

async fn scan_json(reg: &TestRegistry, repo: &str, d: &Digest) -> Value {
    let r = reg
        .get(&format!("/api/v1/scans?repository={repo}&digest={d}"))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.json()
}

fn referrer_types(reg_json: &Value) -> Vec<String> {
    let mut t: Vec<String> = reg_json["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["artifactType"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_scanned_and_the_reports_are_referrers() {
    let tmp = tempfile::tempdir().unwrap();
    let db = write_db(
        tmp.path(),
        &[advisory(
            "DEBIAN-CVE-2099-1111",
            "CVE-2099-1111",
            "zlib",
            "1:1.2.13.dfsg-2",
        )],
    );
    let reg = scanning_registry(&db).await;
    scanner::refresh_db(&reg.app).await.unwrap();
    let d = push(&reg, "team/app", "v1", &debian_image()).await;
    assert_eq!(scan_json(&reg, "team/app", &d).await["state"], "queued");
    assert_eq!(
        drain(&reg).await,
        1,
        "one image, one scan (the reports are not scanned)"
    );

    let scan = scan_json(&reg, "team/app", &d).await;
    assert_eq!(scan["state"], "done", "{scan}");
    assert_eq!(scan["summary"]["packages"], 2);
    let ids: Vec<&str> = scan["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["CVE-2099-1111"], "{scan}");
    // Scanned by digest: the lint does not call a pushed image "latest" (issue 16).
    let latest = scan["lint"]["results"]
        .as_array()
        .and_then(|r| r.iter().find(|c| c["code"] == "DKL-DI-0006"))
        .unwrap_or_else(|| panic!("no DKL-DI-0006 in {scan}"));
    assert_eq!(latest["level"], "PASS", "{latest}");

    let refs = reg.get(&format!("/v2/team/app/referrers/{d}")).await.json();
    assert_eq!(
        referrer_types(&refs),
        vec![
            "application/vnd.cyclonedx+json",
            "application/vnd.zoll.lint-report.v1+json",
            "application/vnd.zoll.vulnerability-report.v1+json",
        ]
    );
    // The SBOM names the package by purl.
    let sbom = scan["sbom"].as_str().unwrap();
    let doc = reg.get(&format!("/v2/team/app/blobs/{sbom}")).await.json();
    let purls: Vec<&str> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purl"].as_str())
        .collect();
    assert!(
        purls
            .iter()
            .any(|p| p.starts_with("pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1")),
        "{purls:?}"
    );

    // Which images contain CVE-2099-1111? By the id, and by the Debian advisory's own id.
    for ident in ["CVE-2099-1111", "DEBIAN-CVE-2099-1111"] {
        let hits = reg
            .get(&format!("/api/v1/vulnerabilities/{ident}"))
            .await
            .json();
        assert_eq!(
            hits["images"].as_array().unwrap().len(),
            1,
            "{ident}: {hits}"
        );
        assert_eq!(hits["images"][0]["digest"], d.as_str());
    }
    let none = reg
        .get("/api/v1/vulnerabilities/CVE-1999-0001")
        .await
        .json();
    assert_eq!(none["images"], json!([]));

    // Deleting the image takes its scan and index entries with it.
    let r = reg
        .call(
            "DELETE",
            &format!("/v2/team/app/manifests/{d}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 202);
    let hits = reg
        .get("/api/v1/vulnerabilities/CVE-2099-1111")
        .await
        .json();
    assert_eq!(hits["images"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_change_rematches_stored_sboms_and_announces_newly_affected_images() {
    let tmp = tempfile::tempdir().unwrap();
    let first = advisory(
        "DEBIAN-CVE-2099-1111",
        "CVE-2099-1111",
        "zlib",
        "1:1.2.13.dfsg-2",
    );
    let db = write_db(tmp.path(), std::slice::from_ref(&first));
    let reg = scanning_registry(&db).await;
    scanner::refresh_db(&reg.app).await.unwrap();
    reg.store
        .create_project(&zoll_store::Project::new("team", false))
        .await
        .unwrap();
    let hook = reg
        .store
        .add_webhook(
            "team",
            "http://127.0.0.1:9/never",
            "secret",
            &[
                "io.zoll.vulnerability.found".into(),
                "io.zoll.scan.completed".into(),
            ],
        )
        .await
        .unwrap();
    let d = push(&reg, "team/app", "v1", &debian_image()).await;
    drain(&reg).await;
    let before = scan_json(&reg, "team/app", &d).await;
    let old_report = before["report"].as_str().unwrap().to_owned();

    // A new advisory against base-files: matched from the stored SBOM alone. The layer
    // blobs are deleted first to show no layer is read.
    for layer in debian_image().manifest().1.iter().skip(1) {
        reg.call(
            "DELETE",
            &format!("/v2/team/app/blobs/{}", layer.digest),
            &[],
            vec![],
        )
        .await;
    }
    let second = advisory(
        "DEBIAN-CVE-2099-2222",
        "CVE-2099-2222",
        "base-files",
        "12.4+deb12u6",
    );
    // A different file content (and size): the watcher sees the change.
    std::fs::remove_file(&db).unwrap();
    let db = write_db(tmp.path(), &[first, second]);
    assert_eq!(
        scanner::refresh_db(&reg.app).await.unwrap(),
        1,
        "one stored SBOM re-matched"
    );
    assert_eq!(
        scanner::refresh_db(&reg.app).await.unwrap(),
        0,
        "nothing new the second time"
    );

    let after = scan_json(&reg, "team/app", &d).await;
    let mut ids: Vec<&str> = after["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["CVE-2099-1111", "CVE-2099-2222"]);
    assert_ne!(after["database"], before["database"]);
    // The vulnerability report referrer was replaced, not added.
    let refs = reg.get(&format!("/v2/team/app/referrers/{d}")).await.json();
    let reports: Vec<&Value> = refs["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["artifactType"] == "application/vnd.zoll.vulnerability-report.v1+json")
        .collect();
    assert_eq!(reports.len(), 1);
    assert_ne!(reports[0]["digest"], old_report.as_str());

    let events: Vec<Value> = reg
        .store
        .deliveries(&hook.id, 100)
        .await
        .unwrap()
        .iter()
        .map(|d| serde_json::from_str(&d.payload).unwrap())
        .collect();
    let newly: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["type"] == "io.zoll.vulnerability.found" && e["data"]["newly_affected"] == true
        })
        .collect();
    assert_eq!(newly.len(), 1, "{events:?}");
    assert_eq!(
        newly[0]["data"]["vulnerabilities"][0]["id"],
        "CVE-2099-2222"
    );
    assert!(events.iter().any(|e| e["type"] == "io.zoll.scan.completed"));
    drop(db);
}

#[tokio::test]
async fn queued_scans_survive_a_restart_and_artifacts_are_not_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let db = write_db(tmp.path(), &[]);
    let reg = scanning_registry(&db).await;
    let d = push(&reg, "team/app", "v1", &debian_image()).await;
    // A signature-like artifact with the image as subject: no scan for it.
    let empty = reg.push_blob("team/app", b"{}").await;
    let payload = reg.push_blob("team/app", b"signature bytes").await;
    let mut sig = image_manifest(
        &empty,
        2,
        &[(&payload, 15)],
        Some(json!({"mediaType": OCI_MANIFEST, "digest": d, "size": 1})),
    );
    sig["config"]["mediaType"] = json!("application/vnd.oci.empty.v1+json");
    let r = reg
        .put_manifest("team/app", "sig", OCI_MANIFEST, &sig)
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let sig_digest = Digest::sha256(&serde_json::to_vec(&sig).unwrap());
    assert_eq!(
        reg.get(&format!(
            "/api/v1/scans?repository=team/app&digest={sig_digest}"
        ))
        .await
        .status,
        404
    );
    // A legacy cosign signature: an OCI image config, but its layer is simple-signing JSON,
    // nothing a runtime unpacks: no scan either (it used to fail three times per signature).
    let cosign_config = reg
        .push_blob("team/app", br#"{"architecture":"","os":""}"#)
        .await;
    let mut legacy = image_manifest(&cosign_config, 27, &[(&payload, 15)], None);
    legacy["config"]["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    legacy["layers"][0]["mediaType"] = json!("application/vnd.dev.cosign.simplesigning.v1+json");
    let tag = format!("sha256-{}.sig", d.hex());
    let r = reg
        .put_manifest("team/app", &tag, OCI_MANIFEST, &legacy)
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let legacy_digest = Digest::sha256(&serde_json::to_vec(&legacy).unwrap());
    assert_eq!(
        reg.get(&format!(
            "/api/v1/scans?repository=team/app&digest={legacy_digest}"
        ))
        .await
        .status,
        404
    );

    let reg = reg.restart().await;
    // The restarted registry gets its scanner back, as `zoll serve` configures it.
    let reg = reg.with_app(|app| {
        app.scanner = scanner::Scanner::new(ScanSettings {
            db: Some(db.clone()),
            ..Default::default()
        })
    });
    assert_eq!(drain(&reg).await, 1);
    assert_eq!(scan_json(&reg, "team/app", &d).await["state"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_images_are_reported_not_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let db = write_db(tmp.path(), &[]);
    let reg = scanning_registry(&db).await;
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let c = reg.push_blob("team/secret", config).await;
    let l = reg.push_blob("team/secret", b"ciphertext of a layer").await;
    let mut m = image_manifest(&c, config.len(), &[(&l, 21)], None);
    m["config"]["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
    m["layers"][0]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip+encrypted");
    let r = reg
        .put_manifest("team/secret", "v1", OCI_MANIFEST, &m)
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let d = Digest::sha256(&serde_json::to_vec(&m).unwrap());
    assert_eq!(drain(&reg).await, 1);
    let scan = scan_json(&reg, "team/secret", &d).await;
    assert_eq!(scan["state"], "encrypted", "{scan}");
    assert!(scan["error"].as_str().unwrap().contains("encrypted"));
    let page = reg.metrics(None).await;
    assert_eq!(metric(&page, r#"zoll_scans_total{outcome="encrypted"}"#), 1);
    assert!(
        !page.contains(r#"zoll_scans_total{outcome="done"}"#),
        "{page}"
    );
    let refs = reg
        .get(&format!("/v2/team/secret/referrers/{d}"))
        .await
        .json();
    assert_eq!(
        refs["manifests"],
        json!([]),
        "nothing attached to an encrypted image"
    );
}

/// Finding 8: stored findings or lint reports that do not parse were read as empty lists,
/// which pass "no vulnerability at or above X". They are an error now: the gate stays
/// closed and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_scan_results_keep_the_gate_closed() {
    let tmp = tempfile::tempdir().unwrap();
    // An advisory for a package the image does not have: a clean scan.
    let db = write_db(
        tmp.path(),
        &[advisory(
            "DEBIAN-CVE-2099-2222",
            "CVE-2099-2222",
            "openssl",
            "3.0.0",
        )],
    );
    let policy = zoll_policy::PolicySet::parse(
        "version = 1\n[[policy]]\nname = \"scanned\"\nrepositories = [\"team/**\"]\n\
         scan = { no_vulnerability_at_or_above = \"CRITICAL\", lint_below = \"FATAL\" }\n",
        tmp.path(),
    )
    .unwrap();
    let reg = gated_scanning_registry(&db, None, policy).await;
    let d = push(&reg, "team/app", "v1", &debian_image()).await;
    // Not scanned yet: closed for now.
    assert_eq!(reg.get("/v2/team/app/manifests/v1").await.status, 403);
    drain(&reg).await;
    assert_eq!(reg.get("/v2/team/app/manifests/v1").await.status, 200);

    for (column, value) in [
        ("findings", "{\"not\": \"a list\"}"),
        ("findings", "[{\"id\": 7}]"),
        ("lint", "garbage"),
    ] {
        let restore = stored_column(&reg, column, &d).await;
        set_column(&reg, column, Some(value), &d).await;
        let r = reg.get("/v2/team/app/manifests/v1").await;
        assert_eq!(r.status, 403, "{column} = {value}");
        let body = String::from_utf8_lossy(&r.body);
        assert!(body.contains("cannot be read"), "{column}: {body}");
        set_column(&reg, column, None, &d).await;
        assert_eq!(
            reg.get("/v2/team/app/manifests/v1").await.status,
            403,
            "{column} missing"
        );
        set_column(&reg, column, Some(&restore), &d).await;
        assert_eq!(reg.get("/v2/team/app/manifests/v1").await.status, 200);
    }
    // Counted by verdict and the class of the reason, never the repository.
    let page = reg.metrics(None).await;
    assert_eq!(metric(&page, r#"zoll_scans_total{outcome="done"}"#), 1);
    // Before the scan, and with each unreadable or missing result: a scan condition that is
    // not available makes a provisional refusal.
    let gate = |verdict: &str, reason: &str| {
        metric(
            &page,
            &format!(r#"zoll_pull_gate_decisions_total{{decision="{verdict}",reason="{reason}"}}"#),
        )
    };
    assert_eq!(gate("provisional", "scan"), 7);
    assert_eq!(gate("allow", "policy"), 4);
    assert!(!page.contains("team/app"), "{page}");
}

async fn stored_column(reg: &TestRegistry, column: &str, d: &Digest) -> String {
    let pool = crate::stored::metadata_db(reg).await;
    let v: String = sqlx::query_scalar(&format!("SELECT {column} FROM scans WHERE digest = $1"))
        .bind(d.as_str())
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    v
}

pub(crate) async fn set_column(reg: &TestRegistry, column: &str, value: Option<&str>, d: &Digest) {
    let pool = crate::stored::metadata_db(reg).await;
    sqlx::query(&format!("UPDATE scans SET {column} = $1 WHERE digest = $2"))
        .bind(value)
        .bind(d.as_str())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}
