//! The admission webhook as a process: standalone `zoll admission` over TLS (curl verifies
//! the certificate) against a `zoll serve`, and the `[admission]` section of `zoll serve`
//! set through `ZOLL_ADMISSION_*`.

use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::process::Command;
use zoll_client::{ClientConfig, ImageRef, Repository};
use zoll_testkit::{Backends, TarEntry, TestImage};
use zoll_trust::keys::{KeyKind, KeySource, generate_key};

use crate::process::self_signed;
use crate::server::{Zoll, command};

/// prod/** needs stage `ci`, scanned/** a finished scan without FATAL lint findings;
/// everything else is admitted.
fn write_policy(dir: &Path) -> std::path::PathBuf {
    let key = generate_key(KeyKind::EcP256).unwrap().key;
    std::fs::write(dir.join("ci.pub"), key.public_key().to_pem()).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(
        &path,
        "version = 1\n[identities.ci]\nkeys = [\"ci.pub\"]\n[stages.ci]\nidentities = [\"ci\"]\n\
         [[policy]]\nname = \"prod\"\nrepositories = [\"prod/**\"]\nstages = [\"ci\"]\n\
         [[policy]]\nname = \"scanned\"\nrepositories = [\"scanned/**\"]\n\
         scan = { lint_below = \"FATAL\" }\n",
    )
    .unwrap();
    path
}

async fn push(addr: &str, repo: &str) -> zoll_oci::Descriptor {
    let image: ImageRef = format!("{addr}/{repo}").parse().unwrap();
    let r = Repository::open(&image, &ClientConfig::default()).unwrap();
    TestImage::new()
        .layer(&[TarEntry::file("etc/id", repo.as_bytes().to_vec())])
        .push(&r, Some("v1"))
        .await
}

fn review(uid: &str, image: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "shop", "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                "spec": {"securityContext": {"runAsNonRoot": true},
                         "containers": [{"name": "app", "image": image}]}}
        }
    })
}

/// Posts a review with curl (`--cacert` for HTTPS); returns the response.
async fn curl(url: &str, body: &Value, cacert: Option<&Path>) -> Value {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--fail-with-body",
        "-H",
        "Content-Type: application/json",
    ]);
    if let Some(ca) = cacert {
        cmd.arg("--cacert").arg(ca);
    }
    let out = cmd
        .args(["--data-binary", &body.to_string(), url])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()["response"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_over_tls_and_inside_serve() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_policy(dir.path());
    let (cert, key) = self_signed(dir.path());
    // The registry, with the webhook inside it too (configured through the environment).
    let mut cmd = command(&dir.path().join("data"), &[]);
    cmd.envs(Backends::for_test().env())
        .env("ZOLL_SCAN_ON_PUSH", "false")
        .env("ZOLL_ADMISSION_ENABLED", "true")
        .env("ZOLL_ADMISSION_POLICY", &policy)
        .env(
            "ZOLL_ADMISSION_REGISTRIES",
            "zoll.example.com, registry.local:5000",
        );
    let registry = Zoll::spawn(cmd, "http").await;
    let addr = registry.base.trim_start_matches("http://").to_owned();
    let dev = push(&addr, "dev/tool").await;
    let prod = push(&addr, "prod/app").await;

    let r = curl(
        &format!("{}/admission/mutate", registry.base),
        &review("a", "registry.local:5000/dev/tool:v1"),
        None,
    )
    .await;
    assert_eq!(r["uid"], "a");
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["patchType"], "JSONPatch");
    let r = curl(
        &format!("{}/admission/validate", registry.base),
        &review("b", "zoll.example.com/prod/app:v1"),
        None,
    )
    .await;
    assert_eq!(
        r["status"]["message"],
        format!(
            "zoll denied this Pod: container 'app' (zoll.example.com/prod/app:v1): stage 'ci' has not signed {}",
            prod.digest
        )
    );

    // A policy file of its own (not the pull gate's) still has its scan conditions answered
    // by the registry's scans: refused until the scan the test asks for has finished.
    let scanned = push(&addr, "scanned/app").await;
    let validate = format!("{}/admission/validate", registry.base);
    let r = curl(
        &validate,
        &review("s1", "zoll.example.com/scanned/app:v1"),
        None,
    )
    .await;
    assert_eq!(r["allowed"], false, "{r}");
    let why = r["status"]["message"].as_str().unwrap();
    assert!(why.contains("no finished scan"), "{why}");
    let r = crate::server::client()
        .post(format!("{}/api/v1/scans", registry.base))
        .json(&json!({"repository": "scanned/app", "digest": scanned.digest}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = curl(
            &validate,
            &review("s2", "zoll.example.com/scanned/app:v1"),
            None,
        )
        .await;
        if r["allowed"] == true {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never admitted: {r}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Standalone, over TLS, reading the registry over HTTP.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zoll"));
    cmd.args([
        "admission",
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
    ])
    .args([
        "--registry",
        &registry.base,
        "--registry-host",
        "zoll.example.com",
    ])
    .arg("--policy")
    .arg(&policy)
    .arg("--tls-cert")
    .arg(&cert)
    .arg("--tls-key")
    .arg(&key)
    .env_remove("ZOLL_LOG")
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
    let webhook = Zoll::spawn(cmd, "https").await;
    let r = curl(
        &format!("{}/admission/mutate", webhook.base),
        &review("c", "zoll.example.com/dev/tool:v1"),
        Some(&cert),
    )
    .await;
    assert_eq!(r["uid"], "c");
    assert_eq!(r["allowed"], true, "{r}");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(r["patch"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&patch).unwrap(),
        json!([{"op": "replace", "path": "/spec/containers/0/image",
                "value": format!("zoll.example.com/dev/tool:v1@{}", dev.digest)}])
    );
    let r = curl(
        &format!("{}/admission/validate", webhook.base),
        &review("d", "zoll.example.com/prod/app:v1"),
        Some(&cert),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("stage 'ci' has not signed"),
        "{r}"
    );
    // Images from elsewhere are denied by default.
    let r = curl(
        &format!("{}/admission/validate", webhook.base),
        &review("e", "nginx"),
        Some(&cert),
    )
    .await;
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("registry docker.io is not served by zoll"),
        "{r}"
    );

    // Without TLS off loopback, the webhook refuses to start.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args([
            "admission",
            "--listen",
            "0.0.0.0:0",
            "--registry",
            &registry.base,
        ])
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only calls webhooks over HTTPS"));
}
