//! Real clients logging in: skopeo (`--creds` and `skopeo login` with an auth file) and
//! oras-py (`login`), through the token flow against a real listener.

use std::process::Command;

use serde_json::json;
use zoll_testkit::run_peer as run;

use super::{add_user, admin_api, registry, ADMIN};
use crate::layout;

fn skopeo(args: &[&str]) -> Command {
    let mut c = Command::new("skopeo");
    c.arg("--insecure-policy").args(args);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushes_with_creds_and_pulls_after_login_and_a_guest_cannot_push() {
    let reg = registry().await;
    let addr = reg.listen().await;
    admin_api(&reg, "POST", "/projects", Some(json!({"name": "team"}))).await;
    add_user(&reg, "dev", "dev-password").await;
    add_user(&reg, "viewer", "viewer-password").await;
    admin_api(
        &reg,
        "PUT",
        "/projects/team/members/dev",
        Some(json!({"role": "developer"})),
    )
    .await;
    admin_api(
        &reg,
        "PUT",
        "/projects/team/members/viewer",
        Some(json!({"role": "guest"})),
    )
    .await;
    let src = tempfile::tempdir().unwrap();
    layout::multi_layer_image(src.path(), "v1", &[300_000, 20]);
    let oci = format!("oci:{}:v1", src.path().display());
    let remote = format!("docker://{addr}/team/app:v1");
    run(skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "dev:dev-password",
        &oci,
        &remote,
    ]))
    .await;

    let work = tempfile::tempdir().unwrap();
    let authfile = work.path().join("auth.json");
    let mut login = skopeo(&[
        "login",
        "--tls-verify=false",
        "-u",
        "viewer",
        "-p",
        "viewer-password",
        &addr,
    ]);
    login.env("REGISTRY_AUTH_FILE", &authfile);
    run(login).await;
    let out = work.path().join("out");
    let mut pull = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &remote,
        &format!("oci:{}:v1", out.display()),
    ]);
    pull.env("REGISTRY_AUTH_FILE", &authfile);
    run(pull).await;
    layout::assert_same_layout(src.path(), &out);

    // The guest's push is refused (skopeo fails), and a wrong password fails the login.
    let mut push = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &oci,
        &format!("docker://{addr}/team/other:v1"),
    ]);
    push.env("REGISTRY_AUTH_FILE", &authfile);
    let status = push.output().unwrap();
    assert!(!status.status.success());
    let mut bad = skopeo(&[
        "login",
        "--tls-verify=false",
        "-u",
        "viewer",
        "-p",
        "wrong",
        &addr,
    ]);
    bad.env("REGISTRY_AUTH_FILE", work.path().join("other.json"));
    assert!(!bad.output().unwrap().status.success());
    let r = reg.get_as("/v2/team/other/tags/list", ADMIN).await;
    assert_eq!(r.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oras_logs_in_pushes_and_pulls_an_artifact() {
    let reg = registry().await;
    let addr = reg.listen().await;
    admin_api(&reg, "POST", "/projects", Some(json!({"name": "art"}))).await;
    add_user(&reg, "ci", "ci-password").await;
    admin_api(
        &reg,
        "PUT",
        "/projects/art/members/ci",
        Some(json!({"role": "developer"})),
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("report.txt");
    let content = layout::pseudo_random(3, 5_000);
    std::fs::write(&file, &content).unwrap();
    let outdir = work.path().join("pulled");
    std::fs::create_dir_all(&outdir).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/gov/oras_login.py");
    let mut cmd = Command::new("python3");
    cmd.args([script, &addr, "ci", "ci-password", "art/report"])
        .arg(&file)
        .arg(&outdir);
    let pulled = run(cmd).await;
    assert_eq!(std::fs::read(pulled.trim()).unwrap(), content);
    let mut bad = Command::new("python3");
    bad.args([script, &addr, "ci", "wrong", "art/report"])
        .arg(&file)
        .arg(&outdir);
    assert!(!bad.output().unwrap().status.success());
}
