//! The pull gate as `zoll serve` runs it from `[policy] file` (`ZOLL_POLICY_FILE`), with
//! authentication on: a manifest pull of an unsigned image is refused naming the missing
//! stage; a stage signature by an unlisted key changes nothing; the listed key's signature
//! plus a finished scan (the policy's lint condition, answered by the registry's own scan)
//! let it through; a robot with `pull-ungated` passes throughout; an edited policy file is
//! picked up without a restart, and one that does not load leaves the old policy in force.
//! The admission webhook mounted in the same `serve` without a policy of its own shares the
//! gate's policy and decides the same way.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use zoll_testkit::{Backends, TarEntry, TestImage};

use crate::server::{Zoll, client, command_with_auth};
use crate::trust::ok;

const ADMIN_PASSWORD: &str = "gate-admin-password";

fn policy(stages: &str) -> String {
    format!(
        r#"version = 1
[identities.ci]
keys = ["ci.pub"]
[identities.release]
keys = ["release.pub"]
[stages.ci]
identities = ["ci"]
[stages.release]
identities = ["release"]
[[policy]]
name = "production"
repositories = ["prod/**"]
stages = [{stages}]
scan = {{ lint_below = "FATAL" }}
"#
    )
}

fn zoll(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zoll"));
    c.current_dir(dir)
        .args(args)
        .env("ZOLL_PASSWORD", ADMIN_PASSWORD)
        .env("REGISTRY_AUTH_FILE", dir.join("auth.json"))
        .env_remove("ZOLL_LOG");
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("run zoll")
}

/// `GET` of the manifest as `who`: (status, body).
async fn pull(base: &str, who: (&str, &str), reference: &str) -> (u16, String) {
    let r = client()
        .get(format!("{base}/v2/prod/app/manifests/{reference}"))
        .basic_auth(who.0, Some(who.1))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `POST /admission/validate` for a pod running `image` (named under the host the
/// webhook is configured with): (allowed, message).
async fn admit(base: &str, image: &str) -> (bool, String) {
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0d9f2c1e-5b7a-4c1e-9a55-3f0c2b7d8e61",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": "CREATE",
            "object": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 1000},
                    "containers": [{"name": "app", "image": image}]
                }
            }
        }
    });
    let r = client()
        .post(format!("{base}/admission/validate"))
        .json(&review)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let response = &v["response"];
    assert_eq!(
        response["uid"], "0d9f2c1e-5b7a-4c1e-9a55-3f0c2b7d8e61",
        "{v}"
    );
    (
        response["allowed"].as_bool().unwrap(),
        response["status"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

/// Polls until the pull answers `want`; returns the last body.
async fn pull_until(base: &str, who: (&str, &str), want: u16, why: &str) -> String {
    let start = Instant::now();
    loop {
        let (status, body) = pull(base, who, "v1").await;
        if status == want {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{why}: still {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_gates_pulls_by_the_policy_file_and_reloads_it() {
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    for name in ["ci", "release", "intruder"] {
        ok(&run(zoll(
            d,
            &["key", "generate", "--type", "ecdsa-p256", "--out", name],
        )));
    }
    let policy_file = d.join("policy.toml");
    std::fs::write(&policy_file, policy(r#""ci""#)).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = command_with_auth(data.path(), &[]);
    cmd.envs(Backends::for_test().env())
        .env("ZOLL_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("ZOLL_POLICY_FILE", &policy_file)
        .env("ZOLL_POLICY_RELOAD_SECS", "1")
        // Decisions are kept for an hour: only the referrers a finished scan attaches (part
        // of the decision's key) can let the scanned image through within this test.
        .env("ZOLL_POLICY_CACHE_TTL_SECS", "3600")
        // No scan on push: the test asks for it once the image is signed.
        .env("ZOLL_SCAN_ON_PUSH", "false")
        .env("ZOLL_ADMISSION_ENABLED", "true")
        .env("ZOLL_ADMISSION_REGISTRIES", "zoll.test");
    let z = Zoll::spawn(cmd, "http").await;
    let base = z.base.clone();
    let addr = base.trim_start_matches("http://").to_owned();
    let admin = ("admin", ADMIN_PASSWORD);

    let remote = ["--registry", &base];
    ok(&run(zoll(
        d,
        &[&["project", "create", "prod"][..], &remote].concat(),
    )));
    let robot = ok(&run(zoll(
        d,
        &[
            &[
                "robot",
                "create",
                "prod",
                "ci",
                "--action",
                "pull",
                "--action",
                "push",
                "--action",
                "pull-ungated",
                "-o",
                "json",
            ][..],
            &remote,
        ]
        .concat(),
    )));
    let robot: serde_json::Value = serde_json::from_str(&robot).unwrap();
    let robot_name = robot["name"].as_str().unwrap().to_owned();
    let robot_secret = robot["secret"].as_str().unwrap().to_owned();
    let robot = (robot_name.as_str(), robot_secret.as_str());
    use base64::Engine;
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", robot.0, robot.1));
    std::fs::write(
        d.join("auth.json"),
        serde_json::json!({"auths": {addr.clone(): {"auth": token}}}).to_string(),
    )
    .unwrap();

    let image_ref: zoll_client::ImageRef = format!("{addr}/prod/app:v1").parse().unwrap();
    let config = zoll_client::ClientConfig {
        credentials: Some(zoll_client::Credentials {
            username: robot.0.to_owned(),
            password: robot.1.to_owned(),
        }),
        ..Default::default()
    };
    let repo = zoll_client::Repository::open(&image_ref, &config).unwrap();
    TestImage::new()
        .layer(&[TarEntry::file("etc/release", b"prod 1".to_vec())])
        .push(&repo, Some("v1"))
        .await;
    let image = format!("{addr}/prod/app:v1");

    // Unsigned: refused by tag and by digest, naming the stage; the robot passes.
    let (status, body) = pull(&base, admin, "v1").await;
    // The access log has the request with who made it (issue 16).
    z.wait_for_line(&[
        r#""path":"/v2/prod/app/manifests/v1","status":403"#,
        r#""user":"admin""#,
        r#""message":"request""#,
    ])
    .await;
    assert_eq!(status, 403, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errors"][0]["code"], "DENIED", "{body}");
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("stage 'ci' has not signed sha256:"),
        "{message}"
    );
    // A client command reading the image as someone without pull-ungated: the registry's
    // reason, and how a pipeline gets past the gate (issue 16), in one line.
    let mut scan = zoll(
        d,
        &[
            "scan",
            &image,
            "--skip-db",
            "--creds",
            &format!("admin:{ADMIN_PASSWORD}"),
        ],
    );
    scan.env_remove("REGISTRY_AUTH_FILE");
    let out = run(scan);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("the registry's trust policy refuses")
            && err.contains("stage 'ci' has not signed")
            && err.contains("--action pull-ungated"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let (status, manifest) = pull(&base, robot, "v1").await;
    assert_eq!(status, 200, "{manifest}");
    let digest = zoll_oci::Digest::sha256(manifest.as_bytes()).to_string();
    let (status, _) = pull(&base, admin, &digest).await;
    assert_eq!(status, 403);
    let (allowed, why) = admit(&base, "zoll.test/prod/app:v1").await;
    assert!(!allowed, "admitted unsigned");
    assert!(
        why.contains("container 'app'") && why.contains("stage 'ci' has not signed"),
        "{why}"
    );

    // The stage claim from a key the stage does not list counts for nothing.
    ok(&run(zoll(
        d,
        &[
            "sign",
            &image,
            "--key",
            "intruder.key",
            "--format",
            "cosign-legacy",
            "--stage",
            "ci",
        ],
    )));
    let (status, body) = pull(&base, admin, "v1").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("stage 'ci' has not signed"), "{body}");

    // The listed key signs; with no scan yet, the lint condition is unmet (and that
    // decision is cached). Once the scan the test asks for has finished, the pull passes.
    ok(&run(zoll(
        d,
        &[
            "sign",
            &image,
            "--key",
            "ci.key",
            "--format",
            "cosign-legacy",
            "--stage",
            "ci",
        ],
    )));
    let (status, body) = pull(&base, admin, "v1").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("no finished scan"), "{body}");
    let r = client()
        .post(format!("{base}/api/v1/scans"))
        .basic_auth(admin.0, Some(admin.1))
        .json(&serde_json::json!({"repository": "prod/app", "digest": digest}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let body = pull_until(&base, admin, 200, "signed by ci and scanned").await;
    assert!(body.contains("\"layers\""), "{body}");
    let (allowed, why) = admit(&base, "zoll.test/prod/app:v1").await;
    assert!(allowed, "{why}");

    // A stricter policy is picked up without a restart.
    std::fs::write(&policy_file, policy(r#""ci", "release""#)).unwrap();
    let body = pull_until(&base, admin, 403, "the reloaded policy").await;
    assert!(body.contains("stage 'release' has not signed"), "{body}");
    // A policy file that does not load leaves the one in force.
    std::fs::write(&policy_file, "version = 1\n[[policy]]\nname = 3\n").unwrap();
    z.wait_for_log("the policy file no longer loads").await;
    let (status, body) = pull(&base, admin, "v1").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("stage 'release' has not signed"), "{body}");
    ok(&run(zoll(
        d,
        &[
            "sign",
            &image,
            "--key",
            "release.key",
            "--format",
            "cosign",
            "--stage",
            "release",
        ],
    )));
    pull_until(&base, admin, 200, "signed by ci and release").await;
    drop(z);
}
