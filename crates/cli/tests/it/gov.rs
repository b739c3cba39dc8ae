//! Governance as the binary does it: backup → fresh data → restore (with their progress bars
//! on a terminal) → every image pulls byte-identical (skopeo) and the audit chain still
//! verifies; administration online over TLS; `zoll user add`; the first start's
//! administrator; `--no-auth` refused off loopback; the metrics token file.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use zoll_testkit::{Backends, TarEntry, TestImage, run_peer};

use crate::progress::{has_bar, screen};
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

/// New metadata (a fresh PostgreSQL database, or none: SQLite in the data directory) on the
/// same blobs: S3 blobs stay in their bucket, which a restored registry shares.
fn fresh_metadata(backends: &Backends) -> Backends {
    Backends {
        metadata_url: backends
            .metadata_url
            .as_ref()
            .map(|_| zoll_testkit::fresh_postgres_database()),
        s3: backends.s3.clone(),
    }
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
    let mut add = zoll(
        &["user", "add", "auditor", "--offline"],
        a.path(),
        &backends,
    );
    add.env("ZOLL_NEW_PASSWORD", "auditor-password");
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

    // Backup and restore run on a terminal, where they draw a progress bar.
    let backup = work.path().join("backup");
    let shown = screen(&zoll(
        &["backup", backup.to_str().unwrap(), "--offline"],
        a.path(),
        &backends,
    ));
    assert!(
        shown.contains("backup: ") && has_bar(&shown, "backup"),
        "{shown}"
    );
    // Restore into a fresh data directory and metadata database; S3 blobs stay in their
    // bucket, which the restored registry shares.
    let b = tempfile::tempdir().unwrap();
    let fresh = fresh_metadata(&backends);
    let shown = screen(&zoll(
        &["restore", backup.to_str().unwrap()],
        b.path(),
        &fresh,
    ));
    assert!(
        shown.contains("restore: ") && has_bar(&shown, "restore"),
        "{shown}"
    );
    // Restoring twice is refused: the target is no longer empty.
    let again = zoll(&["restore", backup.to_str().unwrap()], b.path(), &fresh)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let verify = run_peer(zoll(&["audit", "verify", "--offline"], b.path(), &fresh)).await;
    assert!(verify.contains("chain intact"), "{verify}");
    let export = run_peer(zoll(
        &["audit", "export", "--format", "jsonl", "--offline"],
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

/// `zoll ARGS` as a client of the registry at `base` over TLS (trusting `ca`), as `user`
/// with `password`, any new password `new`; stdin closed.
fn client_cmd(
    args: &[&str],
    base: &str,
    ca: &Path,
    (user, password): (&str, &str),
    new: &str,
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(args)
        .args(["--registry", base, "--registry-ca", ca.to_str().unwrap()])
        .env("ZOLL_USER", user)
        .env("ZOLL_PASSWORD", password)
        .env("ZOLL_NEW_PASSWORD", new)
        .env_remove("ZOLL_REGISTRY")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout_of(out: &std::process::Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: {err}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The same document read back from YAML by PyYAML (a peer, not our own emitter).
pub(crate) fn yaml_as_json(yaml: &str) -> serde_json::Value {
    use std::io::Write;
    let mut py = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with PyYAML");
    py.stdin.take().unwrap().write_all(yaml.as_bytes()).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(out.status.success(), "PyYAML refused:\n{yaml}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Issue 16: accounts, the audit trail and backups through a running registry's management
/// API over TLS with a test CA — the embedded store is locked by the server, so none of it
/// could be done offline — and every listing as a table with ISO-8601 times, as JSON, and
/// as YAML that PyYAML reads as the same document. The online backup restores into fresh
/// data that serves the image byte-identical; `user passwd --offline` is the way back in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administration_works_online_over_tls_and_lists_print_as_tables_json_and_yaml() {
    const ADMIN: &str = "admin-password-2718";
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = crate::connect::ca_and_server(dir.path());
    let backends = Backends::for_test();
    let data = dir.path().join("data");
    let serve = |data: &Path| {
        let mut cmd = crate::server::command_with_auth(
            data,
            &[
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
        );
        cmd.envs(backends.env())
            .env("ZOLL_AUTH_ADMIN_PASSWORD", ADMIN);
        cmd
    };
    let server = Zoll::spawn(serve(&data), "https").await;
    let base = server.base.clone();
    let admin = |args: &[&str]| client_cmd(args, &base, &ca, ("admin", ADMIN), "bob-password-1");

    let out = admin(&["user", "add", "bob"]);
    assert_eq!(stdout_of(&out, "user add"), "user bob created\n");
    stdout_of(&admin(&["user", "add", "carol"]), "user add carol");
    let out = admin(&["user", "delete", "carol"]);
    assert_eq!(stdout_of(&out, "user delete"), "account carol deleted\n");
    stdout_of(&admin(&["project", "create", "team"]), "project create");
    // No registry there: one line that says so and points at --offline.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(["user", "list", "--registry", "http://127.0.0.1:9"])
        .env("ZOLL_PASSWORD", ADMIN)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach http://127.0.0.1:9: Connection refused")
            && err.contains("--offline"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // Without the CA the TLS failure is one line in words.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(["user", "list", "--registry", &base])
        .env("ZOLL_PASSWORD", ADMIN)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("not issued by a CA this machine trusts"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    // Without --user and ZOLL_PASSWORD, the credentials skopeo keeps for the registry log in.
    let auth = dir.path().join("auth.json");
    let token = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("admin:{ADMIN}"),
    );
    let host = base.trim_start_matches("https://");
    std::fs::write(
        &auth,
        serde_json::json!({"auths": {host: {"auth": token}}}).to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args([
            "project",
            "list",
            "-v",
            "-o",
            "json",
            "--registry",
            &base,
            "--registry-ca",
        ])
        .arg(&ca)
        .env("REGISTRY_AUTH_FILE", &auth)
        .env_remove("ZOLL_USER")
        .env_remove("ZOLL_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(stdout_of(&out, "auth file").contains("\"team\""));
    let said = String::from_utf8_lossy(&out.stderr);
    let from = format!(
        "credentials for {host}: from the auth file {}",
        auth.display()
    );
    assert!(said.contains(&from), "{said}");

    // Every listing command: JSON is a list, YAML is the same document, a table has a
    // header (or says there is nothing) and shows times in ISO 8601.
    let listings: &[(&[&str], &str)] = &[
        (&["user", "list"], "NAME"),
        (&["project", "list"], "NAME"),
        (&["robot", "list", "team"], "no robot accounts"),
        (&["webhook", "list", "team"], "no webhooks"),
        (&["scans", "list", "team/app"], "no scans"),
    ];
    for (args, table_has) in listings {
        let json = stdout_of(&admin(&[args, &["-o", "json"][..]].concat()), "json");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v.is_array(), "{args:?}: {json}");
        let yaml = stdout_of(&admin(&[args, &["-o", "yaml"][..]].concat()), "yaml");
        assert_eq!(yaml_as_json(&yaml), v, "{args:?}:\n{yaml}");
        let table = stdout_of(&admin(args), "table");
        assert!(table.starts_with(table_has), "{args:?}:\n{table}");
    }
    let users = stdout_of(&admin(&["user", "list"]), "user list");
    let bob = users.lines().find(|l| l.starts_with("bob ")).unwrap();
    let year = bob.split_whitespace().last().unwrap();
    assert!(
        year.len() == 24 && year.as_bytes()[10] == b'T' && year.ends_with('Z'),
        "{users}"
    );
    assert!(!users.contains("carol"), "{users}");

    // A user sets their own password; only an administrator lists accounts.
    let bob =
        |args: &[&str], password| client_cmd(args, &base, &ca, ("bob", password), "bob-password-2");
    let out = bob(&["user", "passwd", "bob"], "bob-password-1");
    assert_eq!(stdout_of(&out, "passwd"), "password of bob set\n");
    let out = bob(&["user", "list"], "bob-password-1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401"), "the old password is gone: {err}");
    let out = bob(&["user", "list"], "bob-password-2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("only a system administrator may list accounts; bob is not one"),
        "{err}"
    );

    // Only an administrator reads a backup; the refusal leaves no directory behind.
    let refused = dir.path().join("refused");
    let out = bob(&["backup", refused.to_str().unwrap()], "bob-password-2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("only a system administrator may read a backup of the registry"),
        "{err}"
    );
    assert!(!refused.exists());

    // An image to back up, pushed over TLS.
    let layout = dir.path().join("src");
    TestImage::new()
        .layer(&[TarEntry::file(
            "bin/tool",
            zoll_testkit::pseudo_random(7, 700_000),
        )])
        .write_layout(&layout, "v1")
        .await;
    let mut push = skopeo_copy(
        &format!("oci:{}:v1", layout.display()),
        &format!(
            "docker://{}/team/app:v1",
            base.trim_start_matches("https://")
        ),
    );
    push.args(["--dest-creds", &format!("admin:{ADMIN}")]);
    run_peer(push).await;

    let audit = stdout_of(&admin(&["audit", "verify"]), "audit verify");
    assert!(audit.contains("audit: chain intact"), "{audit}");
    let csv = stdout_of(&admin(&["audit", "export", "--format", "csv"]), "export");
    assert!(csv.starts_with(zoll_registry::export::CSV_HEADER), "{csv}");
    assert!(
        csv.lines().any(|l| l.contains(",account.password,bob,ok,")),
        "{csv}"
    );

    let backup = dir.path().join("backup");
    let out = admin(&["backup", backup.to_str().unwrap()]);
    let said = stdout_of(&out, "backup");
    assert!(said.starts_with("backup: "), "{said}");
    assert!(backup.join("backup.json").is_file());
    let out = admin(&["backup", backup.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "a second backup into the same directory"
    );
    // Password hashes and signing keys are in it: only this user may read it.
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&backup), 0o700);
    assert_eq!(mode(&backup.join("metadata")), 0o700);
    assert_eq!(mode(&backup.join("backup.json")), 0o600);
    assert_eq!(mode(&backup.join("metadata/accounts.jsonl")), 0o600);
    // Another user's empty directory (as one in /tmp could be) is not written into.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    let chowned = std::process::Command::new("chown")
        .arg("65534")
        .arg(&foreign)
        .status()
        .is_ok_and(|s| s.success());
    if chowned {
        let out = admin(&["backup", foreign.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is not a directory of this user"), "{err}");
    }
    stop(server).await;

    // The administrator password is lost: reset offline, then the registry takes the new one.
    let mut passwd = zoll(&["user", "passwd", "admin", "--offline"], &data, &backends);
    passwd.env("ZOLL_NEW_PASSWORD", "recovered-password-1");
    assert_eq!(run_peer(passwd).await, "password of admin set\n");
    let server = Zoll::spawn(serve(&data), "https").await;
    let out = client_cmd(
        &["user", "list", "-o", "json"],
        &server.base,
        &ca,
        ("admin", "recovered-password-1"),
        "",
    );
    assert!(stdout_of(&out, "after reset").contains("\"bob\""));
    stop(server).await;

    // The online backup restores into fresh data that serves the image byte-identical.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = fresh_metadata(&backends);
    let out = run_peer(zoll(
        &["restore", backup.to_str().unwrap()],
        fresh_dir.path(),
        &fresh,
    ))
    .await;
    assert!(out.starts_with("restore: "), "{out}");
    let verify = run_peer(zoll(
        &["audit", "verify", "--offline"],
        fresh_dir.path(),
        &fresh,
    ))
    .await;
    assert!(verify.contains("chain intact"), "{verify}");
    let server = Zoll::start(fresh_dir.path(), &fresh).await;
    let pulled = dir.path().join("pulled");
    run_peer(skopeo_copy(
        &format!(
            "docker://{}/team/app:v1",
            server.base.trim_start_matches("http://")
        ),
        &format!("oci:{}:v1", pulled.display()),
    ))
    .await;
    assert_same_tree(&layout.join("blobs"), &pulled.join("blobs"));
    stop(server).await;
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
