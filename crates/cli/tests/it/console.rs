//! The web console in a real browser (issue 17): the real `zoll serve` with authentication
//! on, an image pushed by skopeo, then `console.py` drives Debian's Chromium through
//! chromium-driver and Selenium (installed by `scripts/install-peers.sh`): log in, see the
//! project, the repository and the artifact's tag, the artifact's page and why the pull gate
//! blocks it (a policy wants the `ci` stage), filter, log out, with JavaScript on and
//! off, no error or CSP violation in the browser's console, and no accessibility violation
//! axe-core finds (PyPI `axe-selenium-python`, which bundles it).
//!
//! With JavaScript on it also creates a robot on the project's robots page, and this test
//! pushes with the secret the page showed (skopeo); it verifies the audit chain on the
//! audit page and opens the approvals inbox with a signing request of a quorum key.
//!
//! Screenshots go to `ZOLL_CONSOLE_SCREENSHOTS` when it is set (the ones in `docs/console/`
//! were taken so), else to a temporary directory.

use zoll_testkit::{Backends, TarEntry, TestImage, run_peer};

use crate::server::{Zoll, command_with_auth};

const ADMIN_PASSWORD: &str = "console-admin-password";

const POLICY: &str = r#"version = 1
[identities.ci]
keys = ["ci.pub"]
[stages.ci]
identities = ["ci"]
[[policy]]
name = "production"
repositories = ["team/**"]
stages = ["ci"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_logs_in_browses_to_the_artifact_and_logs_out_without_console_errors() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    // A trust policy that wants the `ci` stage: the unsigned image is blocked, and its
    // explanation names the stage.
    let key = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .current_dir(work.path())
        .args(["key", "generate", "--type", "ecdsa-p256", "--out", "ci"])
        .output()
        .unwrap();
    assert!(key.status.success(), "{key:?}");
    let policy = work.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let backends = Backends::for_test();
    let approvals = zoll_testkit::quorum_keys_file(work.path(), "release", "team/**");
    let mut cmd = command_with_auth(data.path(), &[]);
    cmd.envs(backends.env())
        .env("ZOLL_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("ZOLL_POLICY_FILE", &policy)
        .env("ZOLL_APPROVALS_KEYS", &approvals);
    let zoll = Zoll::spawn(cmd, "http").await;
    let addr = zoll.base.trim_start_matches("http://").to_owned();

    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/projects", zoll.base))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&serde_json::json!({"name": "team"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let layout = work.path().join("layout");
    TestImage::new()
        .layer(&[TarEntry::file("etc/motd", "console test\n")])
        .write_layout(&layout, "v1.0")
        .await;
    skopeo_push(
        &layout,
        &format!("admin:{ADMIN_PASSWORD}"),
        &format!("{addr}/team/app:v1.0"),
    )
    .await;
    // A signing request for the approvals inbox.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/approvals", zoll.base))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .json(&serde_json::json!({"key": "release", "repository": "team/app", "reference": "v1.0"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let request: serde_json::Value = r.json().await.unwrap();
    let request_id = request["id"].as_str().unwrap().to_owned();

    let shots = match std::env::var_os("ZOLL_CONSOLE_SCREENSHOTS") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => work.path().to_path_buf(),
    };
    let mut browse = std::process::Command::new("python3");
    browse
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/console.py"))
        .args([
            &zoll.base,
            "admin",
            ADMIN_PASSWORD,
            "team",
            "team/app",
            "v1.0",
        ])
        .arg(&shots);
    let out = run_peer(browse).await;
    let seen: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    for mode in ["js", "no_js"] {
        let s = &seen[mode];
        assert_eq!(s["projects"], serde_json::json!(["team"]), "{mode}: {s}");
        assert_eq!(
            s["repositories"],
            serde_json::json!(["team/app"]),
            "{mode}: {s}"
        );
        assert_eq!(s["artifacts"], serde_json::json!(["v1.0"]), "{mode}: {s}");
        let digest = s["digests"][0].as_str().unwrap();
        assert!(digest.starts_with("sha256:") && digest.len() == 71, "{s}");
        assert_eq!(s["caption"], "Tagged artifacts of team/app", "{mode}");
        assert!(s["skip_link"].as_str().unwrap().ends_with("#main"), "{s}");
        assert!(s["filtered_url"].as_str().unwrap().contains("q=v"), "{s}");
        assert!(
            s["after_logout"].as_str().unwrap().ends_with("/ui/login"),
            "{s}"
        );
        assert!(
            s["artifact_title"]
                .as_str()
                .unwrap()
                .starts_with("Artifact sha256:"),
            "{s}"
        );
        for section in ["Referrers", "Signatures", "Scan"] {
            assert!(
                s["artifact_sections"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|h| h == section),
                "{mode}: {s}"
            );
        }
        let verdict = s["verdict"].as_str().unwrap();
        assert!(
            verdict.starts_with("DENIED") && verdict.contains("stage 'ci' has not signed"),
            "{mode}: {s}"
        );
        assert!(
            s["to_pass"][0]
                .as_str()
                .unwrap()
                .contains("zoll sign --stage ci"),
            "{mode}: {s}"
        );
        assert_eq!(
            s["console_problems"],
            serde_json::json!([]),
            "{mode}: the browser's console reported errors"
        );
    }
    assert_eq!(seen["js"]["htmx"], "2.0.11", "htmx loaded from our origin");
    assert_eq!(seen["no_js"]["htmx"], "not loaded", "JavaScript was off");
    // axe-core finds no accessibility violation on any page.
    for page in [
        "login",
        "projects",
        "repositories",
        "artifacts",
        "artifact",
        "explain",
    ] {
        assert_eq!(
            seen["js"]["axe"][page],
            serde_json::json!([]),
            "axe on the {page} page"
        );
    }
    for page in [
        "robots",
        "robot_created",
        "audit",
        "audit_verified",
        "approvals",
        "approval",
        "retention",
        "members",
        "settings",
        "webhooks",
    ] {
        assert_eq!(
            seen["js"]["axe"][page],
            serde_json::json!([]),
            "axe on the {page} page"
        );
    }
    // The robot made in the browser pushes with the secret the page showed, once.
    let robot = &seen["js"]["robot"];
    assert_eq!(robot["heading"], "Robot robot$team+ci created", "{robot}");
    assert_eq!(robot["shown_again"], false, "{robot}");
    let secret = robot["secret"].as_str().unwrap();
    skopeo_push(
        &layout,
        &format!("robot$team+ci:{secret}"),
        &format!("{addr}/team/app:from-robot"),
    )
    .await;
    let tags: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v2/team/app/tags/list", zoll.base))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        tags["tags"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("from-robot")),
        "{tags}"
    );
    // The audit page verified the chain and lists the robot's creation.
    let js = &seen["js"];
    assert!(
        js["audit_chain"].as_str().unwrap().starts_with("Intact"),
        "{js}"
    );
    assert!(
        js["audit_actions"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("robot.create")),
        "{js}"
    );
    // The inbox shows the request, k of n and its command.
    assert!(
        js["approvals"][0]
            .as_str()
            .unwrap()
            .ends_with(&format!("/ui/approvals/{request_id}")),
        "{js}"
    );
    assert!(
        js["approvals_row"]
            .to_string()
            .contains("0 of 2 needed (2 approvers)"),
        "{js}"
    );
    assert!(
        js["approve_command"]
            .as_str()
            .unwrap()
            .starts_with(&format!("zoll approve {request_id} --key")),
        "{js}"
    );
    if std::env::var_os("ZOLL_CONSOLE_SCREENSHOTS").is_none() {
        assert!(shots.join("artifacts.png").exists());
        assert!(shots.join("artifact.png").exists());
    }
}

/// Copies the OCI layout's `v1.0` to `dest` (`host/repository:tag`) with `creds`.
async fn skopeo_push(layout: &std::path::Path, creds: &str, dest: &str) {
    let mut push = std::process::Command::new("skopeo");
    push.args([
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        &format!("oci:{}:v1.0", layout.display()),
        &format!("docker://{dest}"),
    ]);
    run_peer(push).await;
}
