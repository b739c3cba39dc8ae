//! Real clients against a real listener: skopeo (containers/image) and oras-py.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::TestRegistry;
use crate::layout;

use zoll_testkit::run_peer as run;

fn skopeo_copy(src: &str, dst: &str, all: bool) -> Command {
    let mut c = Command::new("skopeo");
    c.args([
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
    ]);
    if all {
        c.arg("--all");
    }
    c.args([src, dst]);
    c
}

async fn round_trip(addr: &str, src: &Path, repo: &str, tag: &str, all: bool) {
    let out = tempfile::tempdir().unwrap();
    let remote = format!("docker://{addr}/{repo}:{tag}");
    run(skopeo_copy(
        &format!("oci:{}:{tag}", src.display()),
        &remote,
        all,
    ))
    .await;
    run(skopeo_copy(
        &remote,
        &format!("oci:{}:{tag}", out.path().display()),
        all,
    ))
    .await;
    layout::assert_same_layout(src, out.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_a_multi_layer_image_in_and_out_byte_identical() {
    let reg = TestRegistry::new().await;
    let addr = reg.listen().await;
    let src = tempfile::tempdir().unwrap();
    layout::multi_layer_image(src.path(), "v1", &[3 << 20, 200_000, 10, 0]);
    round_trip(&addr, src.path(), "skopeo/single", "v1", false).await;
    // Pushing the same image to a second repository works too (blobs mount or re-upload).
    round_trip(&addr, src.path(), "skopeo/again", "v1", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_a_multi_arch_index_in_and_out_byte_identical() {
    let reg = TestRegistry::new().await;
    let addr = reg.listen().await;
    let src = tempfile::tempdir().unwrap();
    layout::multi_arch_index(src.path(), "multi");
    round_trip(&addr, src.path(), "skopeo/multi", "multi", true).await;
    let inspect = run({
        let mut c = Command::new("skopeo");
        c.args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{addr}/skopeo/multi:multi"),
        ]);
        c
    })
    .await;
    let index: Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oras_pushes_an_artifact_with_a_subject_found_by_the_referrers_api() {
    let reg = TestRegistry::new().await;
    let addr = reg.listen().await;
    let (subject, size) = reg.push_image("oras/app", "v1", b"app layer").await;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("sbom.json");
    let content = layout::pseudo_random(9, 20_000);
    std::fs::write(&file, &content).unwrap();
    let pulled_dir = work.path().join("pulled");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/oras_referrer.py");
    let mut cmd = Command::new("python3");
    cmd.args([
        script,
        &addr,
        "oras/app",
        subject.as_str(),
        &size.to_string(),
    ])
    .arg(&file)
    .arg(&pulled_dir);
    let pulled = run(cmd).await;
    assert_eq!(std::fs::read(pulled.trim()).unwrap(), content);

    let r = reg.get(&format!("/v2/oras/app/referrers/{subject}")).await;
    let manifests = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    assert_eq!(
        manifests[0]["artifactType"],
        "application/vnd.example.sbom.config"
    );
    let tagged = reg.get("/v2/oras/app/manifests/sbom").await;
    assert_eq!(
        manifests[0]["digest"],
        tagged.header("docker-content-digest")
    );
    let filtered = reg
        .get(&format!(
            "/v2/oras/app/referrers/{subject}?artifactType=application/vnd.other"
        ))
        .await;
    assert_eq!(filtered.json()["manifests"], serde_json::json!([]));
}
