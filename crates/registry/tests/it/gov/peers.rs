//! Real clients logging in: skopeo (`--creds` and `skopeo login` with an auth file), oras-py
//! (`login`) and podman (`login`, push, pull), through the token flow against a real listener.

use std::process::Command;

use serde_json::json;
use zoll_testkit::run_peer as run;

use super::{ADMIN, add_user, admin_api, project_with_member, registry};
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
    project_with_member(&reg, "art", "ci", "ci-password", "developer").await;
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

/// podman with its own storage (vfs under a temp dir, no engine, no daemon): `podman login`,
/// push of an image loaded from an OCI layout, pull back after removing it, and the same pull
/// refused once logged out (anonymous access is off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_logs_in_pushes_and_pulls() {
    let reg = registry().await;
    let addr = reg.listen().await;
    project_with_member(&reg, "pod", "builder", "builder-password", "developer").await;
    // Real tar layers: podman unpacks them into its storage.
    let src = tempfile::tempdir().unwrap();
    zoll_testkit::TestImage::new()
        .layer(&[zoll_testkit::TarEntry::file(
            "bin/tool",
            layout::pseudo_random(7, 200_000),
        )])
        .layer(&[zoll_testkit::TarEntry::file("etc/motd", "podman")])
        .write_layout(src.path(), "v1")
        .await;
    let work = tempfile::tempdir().unwrap();
    let conf = work.path().join("storage.conf");
    std::fs::write(
        &conf,
        format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = \"{0}/run\"\ngraphroot = \"{0}/graph\"\n",
            work.path().display()
        ),
    )
    .unwrap();
    let authfile = work.path().join("auth.json");
    // podman insists that an auth file named in REGISTRY_AUTH_FILE exists.
    std::fs::write(&authfile, r#"{"auths":{}}"#).unwrap();
    let podman = |args: &[&str]| {
        let mut c = Command::new("podman");
        c.args(args)
            .env("CONTAINERS_STORAGE_CONF", &conf)
            .env("REGISTRY_AUTH_FILE", &authfile);
        c
    };
    let remote = format!("{addr}/pod/app:v1");
    let local = format!("oci:{}:v1", src.path().display());
    // Into podman's storage under a name of our choosing (podman would name an `oci:`
    // pull after its path).
    let mut load = skopeo(&["copy", &local, "containers-storage:localhost/app:v1"]);
    load.env("CONTAINERS_STORAGE_CONF", &conf);
    run(load).await;
    run(podman(&[
        "login",
        "--tls-verify=false",
        "-u",
        "builder",
        "-p",
        "builder-password",
        &addr,
    ]))
    .await;
    run(podman(&[
        "push",
        "-q",
        "--tls-verify=false",
        "localhost/app:v1",
        &remote,
    ]))
    .await;
    let r = reg.get_as("/v2/pod/app/tags/list", ADMIN).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("v1"));

    run(podman(&["rmi", "-a", "-f"])).await;
    run(podman(&["pull", "-q", "--tls-verify=false", &remote])).await;
    let listed = run(podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"])).await;
    assert!(listed.contains(&remote), "podman images: {listed}");

    run(podman(&["logout", &addr])).await;
    run(podman(&["rmi", "-a", "-f"])).await;
    let anon = podman(&["pull", "-q", "--tls-verify=false", &remote])
        .output()
        .unwrap();
    assert!(!anon.status.success(), "an anonymous podman pull succeeded");
}
