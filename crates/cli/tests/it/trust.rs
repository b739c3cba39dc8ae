//! `zoll key`, `zoll sign`, `zoll attest`, `zoll verify` as a user runs them, on an OCI layout
//! and on a zoll registry: exit status 0 only when trusted, one-line reasons otherwise.

use std::path::Path;
use std::process::{Command, Output};

use zoll_testkit::{TarEntry, TestImage, TestServer};

fn zoll(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zoll"))
        .current_dir(dir)
        // An operator's shell often has ZOLL_USER set for the management commands; it must
        // not turn a local `zoll sign` into an error ("--remote required", issue 16).
        .env("ZOLL_USER", "alice")
        .args(args)
        .output()
        .expect("run zoll")
}

pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

fn policy(dir: &Path) {
    let store = dir.join("store/x509/ca/team");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::copy(dir.join("ca.crt"), store.join("ca.crt")).unwrap();
    std::fs::write(
        dir.join("trustpolicy.json"),
        r#"{"version":"1.0","trustPolicies":[{"name":"all","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:team"],"trustedIdentities":["x509.subject: C=DE, ST=BE, O=team"]}]}"#,
    )
    .unwrap();
}

fn check_flow(dir: &Path, reference: &str) {
    let d = |args: &[&str]| zoll(dir, args);
    // Nothing signed yet.
    let err = fails(&d(&["verify", reference, "--key", "signer.pub"]));
    assert!(err.contains("no signature"), "{err}");
    for format in [
        ["--format", "notation", "--envelope", "jws"],
        ["--format", "notation", "--envelope", "cose"],
    ] {
        ok(&d(&[
            &[
                "sign",
                reference,
                "--key",
                "signer.key",
                "--cert",
                "signer.crt",
                "--claim",
                "stage=ci",
            ][..],
            &format[..],
        ]
        .concat()));
    }
    ok(&d(&[
        "sign",
        reference,
        "--key",
        "signer.key",
        "--format",
        "cosign",
    ]));
    ok(&d(&[
        "sign",
        reference,
        "--key",
        "signer.key",
        "--format",
        "cosign-legacy",
    ]));
    std::fs::write(dir.join("sbom.json"), r#"{"spdxVersion":"SPDX-2.3"}"#).unwrap();
    ok(&d(&[
        "attest",
        reference,
        "--key",
        "signer.key",
        "--predicate",
        "sbom.json",
        "--type",
        "https://spdx.dev/Document",
    ]));

    let text = ok(&d(&[
        "verify",
        reference,
        "--trust-store",
        "store",
        "--trust-policy",
        "trustpolicy.json",
    ]));
    // The JWS and the COSE signature are by the same signer: one is accepted, the other
    // reported as its duplicate (which comes first follows the referrers' digest order).
    assert!(
        (text.contains("OK NotationJws") || text.contains("OK NotationCose"))
            && text.contains("CN=ci")
            && text.contains("duplicate: the same signer already signed"),
        "{text}"
    );
    let json = ok(&d(&[
        "verify",
        reference,
        "--key",
        "signer.pub",
        "-o",
        "json",
    ]));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let accepted = report["accepted"].as_array().unwrap();
    assert!(
        accepted
            .iter()
            .any(|a| a["predicate_type"] == "https://spdx.dev/Document"),
        "{json}"
    );
    assert!(
        accepted
            .iter()
            .any(|a| a["format"] == "cosign-simple-signing"),
        "{json}"
    );
    // Another key: not trusted, and the reason is named.
    let err = fails(&d(&["verify", reference, "--key", "other.pub"]));
    assert!(
        err.contains("authenticity: no trusted key made this signature"),
        "{err}"
    );
    // Notation only, with a policy whose identity does not match.
    std::fs::write(
        dir.join("strict-other.json"),
        r#"{"version":"1.0","trustPolicies":[{"name":"all","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:team"],"trustedIdentities":["x509.subject: C=DE, ST=BE, O=someone else"]}]}"#,
    )
    .unwrap();
    let err = fails(&d(&[
        "verify",
        reference,
        "--trust-store",
        "store",
        "--trust-policy",
        "strict-other.json",
    ]));
    assert!(err.contains("untrusted identity"), "{err}");
}

fn keys(dir: &Path) {
    let d = |args: &[&str]| ok(&zoll(dir, args));
    d(&[
        "key",
        "generate",
        "--type",
        "ecdsa-p384",
        "--out",
        "ca",
        "--x509",
        "--ca",
        "--subject",
        "C=DE,ST=BE,O=team,CN=root",
    ]);
    d(&[
        "key",
        "generate",
        "--type",
        "ecdsa-p256",
        "--out",
        "signer",
        "--x509",
        "--issuer",
        "ca",
        "--subject",
        "C=DE,ST=BE,O=team,CN=ci",
    ]);
    d(&["key", "generate", "--type", "ecdsa-p256", "--out", "other"]);
    policy(dir);
}

#[tokio::test]
async fn sign_attest_verify_in_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    keys(dir.path());
    let layout = dir.path().join("layout");
    TestImage::new()
        .layer(&[TarEntry::file("a", b"1".to_vec())])
        .write_layout(&layout, "v1")
        .await;
    check_flow(dir.path(), &format!("oci:{}:v1", layout.display()));
}

#[tokio::test]
async fn sign_attest_verify_on_zoll() {
    let dir = tempfile::tempdir().unwrap();
    keys(dir.path());
    let server = TestServer::start().await;
    let (_, repo) = {
        let image: zoll_client::ImageRef = server.image_ref("team/app:v1").parse().unwrap();
        let repo = zoll_client::Repository::open(&image, &Default::default()).unwrap();
        (image, repo)
    };
    TestImage::new()
        .layer(&[TarEntry::file("b", b"2".to_vec())])
        .push(&repo, Some("v1"))
        .await;
    let reference = server.image_ref("team/app:v1");
    // The CLI runs as another process; block on a worker thread so that this runtime keeps
    // serving the registry meanwhile.
    let dir_path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || check_flow(&dir_path, &reference))
        .await
        .unwrap();
}

#[test]
fn bad_input_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(&zoll(
        dir.path(),
        &["sign", "oci:/nonexistent:v1", "--key", "missing.key"],
    ));
    assert!(err.starts_with("zoll: key file missing.key"), "{err}");
    let err = fails(&zoll(dir.path(), &["verify", "localhost:1/x:y"]));
    assert!(err.contains("give --key"), "{err}");
    let err = fails(&zoll(
        dir.path(),
        &["key", "generate", "--type", "dsa", "--out", "x"],
    ));
    assert!(err.contains("key type"), "{err}");
}
