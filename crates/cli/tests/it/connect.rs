//! How client commands reach a registry (issue 16): TLS on loopback with a test CA, TLS
//! failures in words, credentials from auth files, credential helpers and flags, and the
//! password prompt on a terminal.

use base64::Engine;

use crate::process::{run_openssl, self_signed};
use crate::server::{Zoll, command};

/// Passwords (issue 16): on a terminal a prompt that does not echo what is typed; from a
/// pipe the first line, without a prompt. Driven on a pseudo-terminal by util-linux `script`.
#[test]
fn a_password_is_prompted_for_without_echo_on_a_terminal_only() {
    use std::io::Write;
    let typed = "typed-secret-2718";
    let mut zoll = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"));
    zoll.args(["project", "list", "--registry", "http://127.0.0.1:9"]);
    let mut child = on_terminal(&zoll)
        .env_remove("ZOLL_PASSWORD")
        .env_remove("ZOLL_USER")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    // Type only once the prompt is up: the terminal echoes whatever arrives before the
    // program turns echo off, as it would for a person typing ahead.
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("password for admin: ") {
        let chunk = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no prompt: {}", String::from_utf8_lossy(&seen)));
        seen.extend(chunk);
    }
    // The prompt is written just before echo goes off: a person reads it first, so the test
    // waits as long as one would (typing into the gap would be echoed by the terminal).
    std::thread::sleep(std::time::Duration::from_millis(500));
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(format!("{typed}\n").as_bytes())
        .unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter().flatten());
    let screen = String::from_utf8_lossy(&seen);
    assert!(screen.contains("password for admin: "), "{screen}");
    assert!(!screen.contains(typed), "the password was echoed: {screen}");
    // It was read and used: the command went on to the (absent) registry.
    assert!(screen.contains("cannot reach"), "{screen}");

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args(["project", "list", "--registry", "http://127.0.0.1:9"])
        .env_remove("ZOLL_PASSWORD")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(format!("{typed}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("password for"),
        "a pipe gets no prompt: {err}"
    );
    assert!(err.contains("cannot reach"), "{err}");
}

/// `cmd` (program, arguments and the environment set on it) run on a pseudo-terminal by
/// util-linux `script`: standard input and output of the returned command are the terminal's
/// keyboard and screen (the program's standard output and error both reach the screen).
pub fn on_terminal(cmd: &std::process::Command) -> std::process::Command {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect();
    let mut script = std::process::Command::new("script");
    script.args(["-q", "-e", "-c", &line.join(" "), "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    script
}

/// A test CA and a server certificate it issued for 127.0.0.1 (a leaf, not a CA: rustls
/// refuses a CA certificate as a server's): (ca.pem, cert.pem, key.pem) in `dir`.
pub(crate) fn ca_and_server(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
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
        "/CN=zoll test CA",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    run_openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("key.pem"),
        "-out",
        &p("server.csr"),
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run_openssl(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &p("server.ext"),
        "-out",
        &p("cert.pem"),
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

/// Issue 16: client commands reach a TLS zoll on 127.0.0.1 with --registry-ca or
/// --insecure-skip-tls-verify (loopback was always spoken to in plain HTTP: "invalid HTTP
/// version parsed"); without either, loopback stays plain HTTP and fails with one line.
#[tokio::test]
async fn client_commands_reach_a_tls_registry_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = ca_and_server(dir.path());
    let cmd = command(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let zoll = Zoll::spawn(cmd, "https").await;
    let image = format!("{}/team/app:v1", zoll.base.trim_start_matches("https://"));
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
            .args(["scan", &image, "--skip-db"])
            .args(extra)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        err
    };
    // Reached over TLS: the registry answers that the image is not there.
    let err = run(&["--registry-ca", ca.to_str().unwrap()]);
    assert!(err.contains("not found"), "{err}");
    let err = run(&["--insecure-skip-tls-verify"]);
    assert!(err.contains("not found"), "{err}");
    // The default for loopback stays plain HTTP, which a TLS listener does not speak: the
    // line says so in words, not hyper's.
    let err = run(&[]);
    assert!(err.contains("the registry speaks HTTPS"), "{err}");
    // A CA certificate served as the server's: rustls's CaUsedAsEndEntity, in words.
    let other = tempfile::tempdir().unwrap();
    let (self_signed_cert, self_signed_key) = self_signed(other.path());
    let cmd = command(
        &other.path().join("data"),
        &[
            "--tls-cert",
            self_signed_cert.to_str().unwrap(),
            "--tls-key",
            self_signed_key.to_str().unwrap(),
        ],
    );
    let second = Zoll::spawn(cmd, "https").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
        .args([
            "scan",
            &format!("{}/team/app:v1", second.base.trim_start_matches("https://")),
            "--skip-db",
            "--registry-ca",
            self_signed_cert.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a CA certificate used as a server certificate"),
        "{err}"
    );
}

/// Issue 16: credentials come from where skopeo and docker keep them, docker credential
/// helpers included (`credsStore`, `credHelpers`): the helper, a test script here, is asked
/// with the host on standard input, and what it answers logs in. `--verbose` says which
/// auth file, helper or flag gave the credentials, or which files were looked at.
#[tokio::test]
async fn credentials_come_from_a_docker_credential_helper() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let password = "helper-held-password";
    let mut cmd = crate::server::command_with_auth(&dir.path().join("data"), &[]);
    cmd.env("ZOLL_AUTH_ADMIN_PASSWORD", password);
    let zoll = Zoll::spawn(cmd, "http").await;
    let host = zoll.base.trim_start_matches("http://").to_owned();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let asked = dir.path().join("asked");
    let helper = bin.join("docker-credential-zolltest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\ncat > {}\n\
             echo '{{\"ServerURL\":\"x\",\"Username\":\"admin\",\"Secret\":\"{password}\"}}'\n",
            asked.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // `zoll scan` of the image with `config` as the docker config and `extra` flags.
    let scan_with = |config: &str, extra: &[&str]| {
        let docker = tempfile::tempdir().unwrap();
        std::fs::write(docker.path().join("config.json"), config).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoll"))
            .args(["scan", &format!("{host}/team/app:v1"), "--skip-db"])
            .args(extra)
            .env("PATH", &path)
            .env("DOCKER_CONFIG", docker.path())
            .env("HOME", docker.path())
            .env("XDG_RUNTIME_DIR", docker.path())
            .env_remove("REGISTRY_AUTH_FILE")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let scan = |config: &str| scan_with(config, &[]);
    // Logged in through the store helper: the registry says what is missing, not who;
    // --verbose names the helper and the file that named it.
    let err = scan_with(r#"{"credsStore":"zolltest"}"#, &["--verbose"]);
    assert!(err.contains("not found"), "{err}");
    assert!(
        err.contains(&format!(
            "credentials for {host}: from the credential helper docker-credential-zolltest \
             (named in "
        )) && err.contains("/config.json)"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&asked).unwrap(), host);
    // A helper for this host only, beside an `auths` entry the helper holds the secret of.
    std::fs::remove_file(&asked).unwrap();
    let err = scan(&format!(
        r#"{{"auths":{{"{host}":{{}}}},"credHelpers":{{"{host}":"zolltest"}}}}"#
    ));
    assert!(err.contains("not found"), "{err}");
    assert!(asked.exists());
    assert!(
        !err.contains("credentials for"),
        "only with --verbose: {err}"
    );
    // No credentials anywhere: refused; -v lists the files looked at and why each gave none.
    let err = scan_with("{}", &["-v"]);
    assert!(err.contains("none were found"), "{err}");
    assert!(
        err.contains(&format!("no credentials for {host} in:")),
        "{err}"
    );
    assert!(err.contains("/containers/auth.json: no such file"), "{err}");
    assert!(err.contains("/config.json: no entry for the host"), "{err}");
    // A helper name that is a path is never run.
    let err = scan(r#"{"credsStore":"../bin/docker-credential-zolltest"}"#);
    assert!(err.contains("none were found"), "{err}");
    // Wrong credentials are refused, and said to be.
    let wrong = base64::engine::general_purpose::STANDARD.encode("admin:wrong-password");
    let err = scan(&format!(r#"{{"auths":{{"{host}":{{"auth":"{wrong}"}}}}}}"#));
    assert!(
        err.contains("the credentials of admin were refused"),
        "{err}"
    );
    // --creds and --authfile, as skopeo takes them.
    let flags = |extra: &[&str]| scan_with("{}", extra);
    let err = flags(&["--creds", &format!("admin:{password}"), "-v"]);
    assert!(err.contains("not found"), "{err}");
    assert!(
        err.contains(&format!("credentials for {host}: from --creds")),
        "{err}"
    );
    let authfile = dir.path().join("auth.json");
    let right = base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"));
    std::fs::write(
        &authfile,
        format!(r#"{{"auths":{{"{host}":{{"auth":"{right}"}}}}}}"#),
    )
    .unwrap();
    let err = flags(&["--authfile", authfile.to_str().unwrap(), "--verbose"]);
    assert!(err.contains("not found"), "{err}");
    assert!(
        err.contains(&format!(
            "credentials for {host}: from the auth file {}",
            authfile.display()
        )),
        "{err}"
    );
    let err = flags(&["--creds", "admin:wrong-password"]);
    assert!(
        err.contains("the credentials of admin were refused"),
        "{err}"
    );
}
