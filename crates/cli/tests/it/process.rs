//! Process behaviour: graceful shutdown, TLS, refusing plain HTTP off loopback, config file
//! and environment.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use crate::server::{Zoll, client, command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_then_exits() {
    let data = tempfile::tempdir().unwrap();
    let backends = zoll_testkit::Backends::for_test();
    let mut zoll = Zoll::start(data.path(), &backends).await;
    let http = client();
    let base = zoll.base.clone();
    let r = http
        .post(format!("{base}/v2/slow/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_owned();

    // A chunk that takes ~1.5 s to arrive; SIGTERM lands in the middle of it.
    let body = futures_util::stream::iter(0..15).then(|_| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 1000]))
    });
    let in_flight = tokio::spawn({
        let http = http.clone();
        let url = format!("{base}{loc}");
        async move {
            http.patch(url)
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let pid = zoll.pid().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());

    let r = in_flight
        .await
        .unwrap()
        .expect("in-flight request completed");
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-14999");
    let status = tokio::time::timeout(Duration::from_secs(20), zoll.child.wait())
        .await
        .expect("exited after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    // New connections are refused once it stopped.
    assert!(http.get(format!("{base}/v2/")).send().await.is_err());
}

pub fn run_openssl(args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A P-256 private key `dir/NAME.pem` and its public key `dir/NAME.pub`, by openssl.
pub fn ec_key_pair(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let (k, p) = (key.to_str().unwrap(), public.to_str().unwrap());
    run_openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        k,
    ]);
    run_openssl(&["pkey", "-in", k, "-pubout", "-out", p]);
    (key, public)
}

/// A self-signed P-256 certificate for 127.0.0.1 in `dir`: (cert.pem, key.pem).
pub fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    run_openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=zoll-test",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    (cert, key)
}

/// `GET /v2/` with curl (OpenSSL), the independent TLS client, trusting only `ca`.
async fn curl_v2(base: &str, ca: &std::path::Path) -> Result<String, String> {
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "-i",
            "--cacert",
            ca.to_str().unwrap(),
            &format!("{base}/v2/"),
        ])
        .output()
        .await
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_tls_with_rustls_and_reloads_a_renewed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let first = dir.path().join("first.pem");
    std::fs::copy(&cert, &first).unwrap();
    let mut cmd = command(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    cmd.env("ZOLL_SERVER_TLS_RELOAD_SECS", "1");
    let zoll = Zoll::spawn(cmd, "https").await;
    let text = curl_v2(&zoll.base, &first).await.unwrap();
    assert!(text.starts_with("HTTP/"), "{text}");
    assert!(text.contains(" 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("docker-distribution-api-version: registry/2.0")
    );

    // A certificate file that does not load leaves the served one in place.
    std::fs::write(&cert, "not a certificate").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !zoll
        .log_tail
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("do not load; still serving the previous certificate"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the broken file was never noticed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    curl_v2(&zoll.base, &first).await.unwrap();

    // A renewed pair is served without a restart; the old certificate no longer verifies.
    let renewed_dir = dir.path().join("renewed");
    std::fs::create_dir(&renewed_dir).unwrap();
    let (new_cert, new_key) = self_signed(&renewed_dir);
    std::fs::copy(&new_key, &key).unwrap();
    std::fs::copy(&new_cert, &cert).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while let Err(e) = curl_v2(&zoll.base, &new_cert).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewed certificate was never served: {e}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(curl_v2(&zoll.base, &first).await.is_err());
}

#[tokio::test]
async fn refuses_plain_http_off_loopback_and_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "[server]\nlisen = \"127.0.0.1:1\"\n").unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            &["--listen", "0.0.0.0:0"],
            &[],
            "refusing plain HTTP on non-loopback",
        ),
        (&["--listen", "nonsense"], &[], "is not an address:port"),
        (
            &["--config", bad_config.to_str().unwrap()],
            &[],
            "unknown field `lisen`",
        ),
        (&["--tls-cert", "/nonexistent"], &[], "TLS needs both"),
        (&[], &[("ZOLL_LOG_FORMAT", "xml")], "unknown log format"),
        // A token lifetime that overflowed `exp` into the past, and other unbounded knobs.
        (
            &[],
            &[("ZOLL_AUTH_TOKEN_TTL_SECS", "9223372036854775807")],
            "auth.token_ttl_secs must be 1 to 86400",
        ),
        (
            &[],
            &[("ZOLL_SERVER_HEADER_TIMEOUT_SECS", "0")],
            "server.header_timeout_secs must be 1 to 3600",
        ),
        (
            &[],
            &[("ZOLL_LIMITS_MAX_JSON_DEPTH", "100000")],
            "limits.max_json_depth must be 1 to 128",
        ),
        (
            &[],
            &[("ZOLL_AUTH_PASSWORD_CHECKS", "100000")],
            "auth.password_checks must be",
        ),
    ];
    for (args, env, expect) in cases {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"));
        cmd.arg("serve")
            .arg("--data")
            .arg(dir.path().join("d"))
            .args(*args);
        for (k, v) in *env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "one-line error expected: {stderr}"
        );
    }
}

/// Bad input to the administration commands is one line and a non-zero exit, never a
/// panic (exit 101): `--expires-in-days 4294967295` overflowed, reserved names were taken.
#[test]
fn administration_commands_refuse_out_of_range_input_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "robot",
                "create",
                "team",
                "ci",
                "--action",
                "pull",
                "--expires-in-days",
                "4294967295",
                "--registry",
                "http://127.0.0.1:9",
                "--user",
                "admin",
            ],
            "4294967295 is not in 1..=36500",
        ),
        (&["user", "add", "anonymous"], "reserved"),
        (&["user", "add", "bad name"], "invalid account name"),
    ];
    for (args, expect) in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
            .args(*args)
            .arg("--data")
            .arg(dir.path())
            .env("ZOLL_PASSWORD", "long-enough-password")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        assert!(
            matches!(code, Some(1) | Some(2)),
            "{args:?}: exit {code:?}: {stderr}"
        );
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_and_environment_apply() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zoll.toml");
    std::fs::write(
        &config,
        "[limits]\nmax_manifest_bytes = 100\nmax_name_len = 10\n",
    )
    .unwrap();
    let mut cmd = command(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    cmd.env("ZOLL_LIMITS_MAX_NAME_LEN", "5");
    let zoll = Zoll::spawn(cmd, "http").await;
    let http = client();
    // Name limit from the environment (5) overrides the file (10).
    let r = http
        .get(format!("{}/v2/abcdef/tags/list", zoll.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .get(format!("{}/v2/abcde/tags/list", zoll.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Manifest limit from the file.
    let r = http
        .put(format!("{}/v2/abc/manifests/t", zoll.base))
        .body(vec![b' '; 101])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // A second server on the same data directory is refused.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another zoll process"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_and_scrub_commands() {
    let data = tempfile::tempdir().unwrap();
    let backends = zoll_testkit::Backends::for_test();
    let zoll = Zoll::start(data.path(), &backends).await;
    // Scanning is on by default and this data directory has no vulnerability database:
    // the server says so once at start, with how to get one (issue 16).
    zoll.wait_for_log("there is no vulnerability database")
        .await;
    let http = client();
    let orphan = b"an orphan layer".to_vec();
    let d = zoll_oci::Digest::sha256(&orphan);
    let r = http
        .post(format!("{}/v2/cmd/blobs/uploads/?digest={d}", zoll.base))
        .body(orphan)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    zoll.kill9().await;

    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"));
        cmd.args(args).arg("--data").arg(data.path());
        cmd.envs(backends.env());
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, out) = run(&["gc", "--dry-run", "--grace-secs", "0"]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("would remove {d} 15 bytes")), "{out}");
    let (ok, out) = run(&["gc"]);
    assert!(
        ok && out.contains("removed 0 untagged manifests, 0 blobs"),
        "default grace keeps it: {out}"
    );
    let (ok, out) = run(&["gc", "--grace-secs", "0"]);
    assert!(ok && out.contains(&format!("removed {d}")), "{out}");
    let (ok, out) = run(&["scrub"]);
    assert!(ok && out.contains("checked 0 blobs"), "{out}");
}

#[tokio::test]
async fn migrate_applies_pending_schema_versions_once() {
    let data = tempfile::tempdir().unwrap();
    let backends = zoll_testkit::Backends::for_test();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"));
        cmd.args(args).arg("--data").arg(data.path());
        cmd.envs(backends.env());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    // With start-up migration off, a fresh database is refused, naming the command.
    let off = [("ZOLL_METADATA_MIGRATE_ON_START", "false")];
    let (ok, out) = run(&["serve", "--listen", "127.0.0.1:0"], &off);
    assert!(!ok && out.contains("run `zoll migrate` first"), "{out}");
    let (ok, out) = run(&["migrate"], &[]);
    assert!(
        ok && out.contains("applied schema versions [1, 2, 3, 4, 5, 6, 7, 8, 9]"),
        "{out}"
    );
    let (ok, out) = run(&["migrate"], &[]);
    assert!(
        ok && out.contains("the metadata schema is current"),
        "{out}"
    );
    let (ok, out) = run(&["gc", "--dry-run"], &off);
    assert!(
        ok,
        "a migrated store opens without start-up migration: {out}"
    );
}

/// A mistyped `--data` is an error, not an empty store made on the spot: the offline
/// commands that read data refuse a directory without zoll data and leave nothing behind;
/// `restore` refuses a directory that is not a backup before it creates the target store.
#[test]
fn offline_commands_refuse_a_data_directory_that_is_not_there() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("typo");
    let backup = work.path().join("backup");
    for args in [
        &["gc"][..],
        &["scrub"],
        &["audit", "verify", "--offline"],
        &["audit", "export", "--offline"],
        &["backup", backup.to_str().unwrap(), "--offline"],
        &["user", "list", "--offline"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
            .args(args)
            .arg("--data")
            .arg(&missing)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains("no zoll data in"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
        assert!(!backup.exists(), "{args:?} created {}", backup.display());
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(["restore", missing.to_str().unwrap(), "--data"])
        .arg(work.path().join("target"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is not a zoll backup"), "{err}");
    assert!(!work.path().join("target").exists());
}

/// Issue 16: a first start that cannot serve (its port is taken) creates no administrator,
/// so the password is never made and lost; the next start that does serve prints it.
#[tokio::test]
async fn a_first_start_that_cannot_bind_creates_no_account() {
    use tokio::io::AsyncBufReadExt;
    let data = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data"])
        .arg(data.path())
        .env_remove("ZOLL_AUTH_ADMIN_PASSWORD")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("created the administrator"), "{stdout}");
    drop(taken);

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env_remove("ZOLL_AUTH_ADMIN_PASSWORD")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("a line within 30 s")
        .unwrap()
        .unwrap_or_default();
    assert!(
        line.contains("created the administrator account \"admin\" with password"),
        "{line}"
    );
    child.kill().await.unwrap();
}
