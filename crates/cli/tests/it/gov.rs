//! Governance as the binary does it: backup → fresh data → restore → every image pulls
//! byte-identical (skopeo) and the audit chain still verifies; `zoll user add`; the first
//! start's administrator; `--no-auth` refused off loopback; the metrics token file.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use zoll_testkit::{Backends, TarEntry, TestImage, run_peer};

use crate::server::{Zoll, client, command_with_auth};

fn zoll(args: &[&str], data: &Path, backends: &Backends) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"));
    c.args(args)
        .arg("--data")
        .arg(data)
        .envs(backends.env())
        .env_remove("ZOLL_LOG");
    c
}

async fn stop(mut z: Zoll) {
    let pid = z.pid().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(20), z.child.wait())
        .await
        .unwrap()
        .unwrap();
    // Let the drain task take the last lines.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let tail = z
        .log_tail
        .lock()
        .unwrap()
        .iter()
        .cloned()
        .collect::<Vec<_>>();
    assert!(
        status.success(),
        "zoll exited with {status} after SIGTERM; its last log lines:\n{}",
        tail.join("\n")
    );
}

fn skopeo_copy(src: &str, dst: &str) -> std::process::Command {
    let mut c = std::process::Command::new("skopeo");
    c.args([
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        src,
        dst,
    ]);
    c
}

/// Every file under `a` has an identical twin under `b` and vice versa.
fn assert_same_tree(a: &Path, b: &Path) {
    let list = |root: &Path| {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(root).unwrap().to_path_buf());
                }
            }
        }
        out.sort();
        out
    };
    let (la, lb) = (list(a), list(b));
    assert_eq!(la, lb);
    for f in la {
        assert_eq!(
            std::fs::read(a.join(&f)).unwrap(),
            std::fs::read(b.join(&f)).unwrap(),
            "{f:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_restore_into_fresh_data_pulls_every_image_byte_identical() {
    let a = tempfile::tempdir().unwrap();
    let backends = Backends::for_test();
    let work = tempfile::tempdir().unwrap();
    let mut layouts = Vec::new();
    for (i, repo) in ["team/app", "team/tools", "other/base"].iter().enumerate() {
        let dir = work.path().join(format!("src{i}"));
        let big = zoll_testkit::pseudo_random(i as u64, 300_000 + i * 1000);
        TestImage::new()
            .layer(&[
                TarEntry::file("bin/tool", big),
                TarEntry::file(&format!("etc/v{i}"), "x"),
            ])
            .layer(&[TarEntry::file("data/readme", format!("image {i}"))])
            .write_layout(&dir, "v1")
            .await;
        layouts.push((repo.to_string(), dir));
    }
    let mut add = zoll(&["user", "add", "auditor"], a.path(), &backends);
    add.env("ZOLL_PASSWORD", "auditor-password");
    assert!(run_peer(add).await.contains("user auditor created"));
    let server = Zoll::start(a.path(), &backends).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    for (repo, dir) in &layouts {
        run_peer(skopeo_copy(
            &format!("oci:{}:v1", dir.display()),
            &format!("docker://{addr}/{repo}:v1"),
        ))
        .await;
    }
    stop(server).await;

    let backup = work.path().join("backup");
    let out = run_peer(zoll(
        &["backup", backup.to_str().unwrap()],
        a.path(),
        &backends,
    ))
    .await;
    assert!(out.starts_with("backup: "), "{out}");
    // Restore into a fresh data directory and metadata database; S3 blobs stay in their
    // bucket, which the restored registry shares.
    let b = tempfile::tempdir().unwrap();
    let fresh = Backends {
        metadata_url: backends
            .metadata_url
            .as_ref()
            .map(|_| zoll_testkit::fresh_postgres_database()),
        s3: backends.s3.clone(),
    };
    let out = run_peer(zoll(
        &["restore", backup.to_str().unwrap()],
        b.path(),
        &fresh,
    ))
    .await;
    assert!(out.starts_with("restore: "), "{out}");
    // Restoring twice is refused: the target is no longer empty.
    let again = zoll(&["restore", backup.to_str().unwrap()], b.path(), &fresh)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let verify = run_peer(zoll(&["audit", "verify"], b.path(), &fresh)).await;
    assert!(verify.contains("chain intact"), "{verify}");
    let export = run_peer(zoll(
        &["audit", "export", "--format", "jsonl"],
        b.path(),
        &fresh,
    ))
    .await;
    assert!(
        export
            .lines()
            .any(|l| l.contains("\"action\":\"manifest.push\"") && l.contains("team/app:v1"))
    );

    let server = Zoll::start(b.path(), &fresh).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    for (repo, dir) in &layouts {
        let pulled = work
            .path()
            .join(format!("pulled-{}", repo.replace('/', "-")));
        run_peer(skopeo_copy(
            &format!("docker://{addr}/{repo}:v1"),
            &format!("oci:{}:v1", pulled.display()),
        ))
        .await;
        assert_same_tree(&dir.join("blobs"), &pulled.join("blobs"));
    }
    stop(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_prints_the_admin_password_once_and_no_auth_is_refused_off_loopback() {
    let data = tempfile::tempdir().unwrap();
    let backends = Backends::for_test();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(["serve", "--no-auth", "--listen", "0.0.0.0:0", "--data"])
        .env("ZOLL_SERVER_DANGER_ALLOW_PLAIN_HTTP", "true")
        .arg(data.path())
        .envs(backends.env())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve without authentication"),
        "{err}"
    );

    // Authentication on (no --no-auth): the generated password is on standard output.
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_zoll"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--data",
    ])
    .arg(data.path())
    .envs(backends.env())
    .env_remove("ZOLL_LOG")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut z = Zoll::spawn(cmd, "http").await;
    let mut stdout = z.child.stdout.take().unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 512];
    while !text.contains('\n') {
        let n = tokio::time::timeout(Duration::from_secs(10), stdout.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "no password printed");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let password = text
        .split("with password ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let http = client();
    let r = http.get(format!("{}/v2/", z.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/v2/", z.base))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{}/healthz", z.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{}/readyz", z.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{}/metrics", z.base))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    let metrics = r.text().await.unwrap();
    assert!(
        metrics.contains(
            "zoll_http_requests_total{endpoint=\"base\",method=\"GET\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    let _ = &mut z;
    stop(z).await;
    // A second start creates nothing and prints nothing.
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_zoll"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--data",
    ])
    .arg(data.path())
    .envs(backends.env())
    .env_remove("ZOLL_LOG")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true);
    let mut z = Zoll::spawn(cmd, "http").await;
    let mut stdout = z.child.stdout.take().unwrap();
    stop(z).await;
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "{rest}");
}

/// `[metrics] token_file`: a scraper with the token reads `/metrics` and nothing else; a
/// token too short to be a secret stops the start with one line that does not show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_file_lets_a_scraper_read_metrics() {
    let data = tempfile::tempdir().unwrap();
    let backends = Backends::for_test();
    let token_file = data.path().join("metrics.token");
    std::fs::write(&token_file, "too-short-a-secret\n").unwrap();
    let mut short = command_with_auth(data.path(), &[]);
    short
        .envs(backends.env())
        .env("ZOLL_METRICS_TOKEN_FILE", &token_file);
    // A server that starts anyway would serve until killed: give it a bound.
    let out = tokio::time::timeout(Duration::from_secs(60), short.output())
        .await
        .expect("zoll serve started with a short metrics token")
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("metrics.token_file") && err.contains("32 to 1024 characters"),
        "{err}"
    );
    assert!(!err.contains("too-short-a-secret"), "{err}");

    let token = "0123456789abcdef0123456789abcdef-scraper";
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let mut cmd = command_with_auth(data.path(), &[]);
    cmd.envs(backends.env())
        .env("ZOLL_AUTH_ADMIN_PASSWORD", "admin-password-for-metrics")
        .env("ZOLL_METRICS_TOKEN_FILE", &token_file);
    let z = Zoll::spawn(cmd, "http").await;
    let http = client();
    let get = |path: &str, bearer: Option<&str>| {
        let mut r = http.get(format!("{}{path}", z.base));
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        r.send()
    };
    let r = get("/metrics", Some(token)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("zoll_gc_runs_total"));
    assert_eq!(get("/metrics", None).await.unwrap().status(), 401);
    assert_eq!(get("/v2/", Some(token)).await.unwrap().status(), 401);
    assert_eq!(
        get("/api/v1/users", Some(token)).await.unwrap().status(),
        401
    );
    stop(z).await;
}
