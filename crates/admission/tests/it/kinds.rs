//! Every workload kind, from AdmissionReview fixtures: allowed, denied naming the container
//! and the missing stage, and mutated with the exact JSONPatch paths of that kind.

use serde_json::json;

use crate::support::{World, fixture};

/// Fixture, kind as the API server names it, JSON pointer of the pod spec.
pub const KINDS: [(&str, &str, &str); 7] = [
    ("pod", "Pod", "/spec"),
    ("deployment", "Deployment", "/spec/template/spec"),
    ("replicaset", "ReplicaSet", "/spec/template/spec"),
    ("statefulset", "StatefulSet", "/spec/template/spec"),
    ("daemonset", "DaemonSet", "/spec/template/spec"),
    ("job", "Job", "/spec/template/spec"),
    ("cronjob", "CronJob", "/spec/jobTemplate/spec/template/spec"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_is_allowed_denied_and_pinned() {
    let w = World::new().await;
    let app = w.push_signed("prod/app", "v1").await;
    let init = w.push_signed("prod/init", "v1").await;
    let unsigned = w.push("prod/unsigned", "v1").await;
    let (app_img, init_img, unsigned_img) = (
        w.image("prod/app:v1"),
        w.image("prod/init:v1"),
        w.image("prod/unsigned:v1"),
    );
    for (name, kind, spec) in KINDS {
        let uid = format!("0b6c6a42-{name}");
        let ok = fixture(name, &uid, [&app_img, &init_img, ""]);
        let r = w.validate(&ok).await;
        assert!(r.allowed && r.patch.is_none(), "{name}: {r:?}");
        assert_eq!(r.uid, uid);
        assert!(r.warnings.is_empty(), "{name}: {r:?}");

        let r = w.mutate(&ok).await;
        assert!(r.allowed, "{name}: {r:?}");
        assert_eq!(r.uid, uid);
        assert_eq!(
            r.patch,
            Some(json!([
                {"op": "replace", "path": format!("{spec}/initContainers/0/image"),
                 "value": format!("{init_img}@{}", init.digest)},
                {"op": "replace", "path": format!("{spec}/containers/0/image"),
                 "value": format!("{app_img}@{}", app.digest)},
            ])),
            "{name}"
        );

        let bad = fixture(name, &uid, [&unsigned_img, &init_img, ""]);
        let expected = format!(
            "zoll denied this {kind}: container 'app' ({unsigned_img}): stage 'ci' has not signed {}",
            unsigned.digest
        );
        for r in [w.validate(&bad).await, w.mutate(&bad).await] {
            assert!(!r.allowed, "{name}: {r:?}");
            assert_eq!(r.uid, uid);
            assert_eq!(r.code, Some(403));
            assert_eq!(r.message, expected);
            assert!(r.patch.is_none());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_containers_are_gated_and_pinned() {
    let w = World::new().await;
    let app = w.push_signed("prod/app", "v1").await;
    let debug = w.push_signed("prod/debug", "v1").await;
    let unsigned = w.push("prod/debug", "unsigned").await;
    // The pod's own containers are already pinned, as mutate left them at creation.
    let app_img = format!("{}@{}", w.image("prod/app:v1"), app.digest);
    let debug_img = w.image("prod/debug:v1");
    let ok = fixture("pod-ephemeral", "eph-1", [&app_img, &app_img, &debug_img]);
    let r = w.mutate(&ok).await;
    assert!(r.allowed, "{r:?}");
    assert_eq!(
        r.patch,
        Some(
            json!([{"op": "replace", "path": "/spec/ephemeralContainers/0/image",
                     "value": format!("{debug_img}@{}", debug.digest)}])
        )
    );
    let bad_img = w.image("prod/debug:unsigned");
    let bad = fixture("pod-ephemeral", "eph-2", [&app_img, &app_img, &bad_img]);
    let r = w.validate(&bad).await;
    assert!(!r.allowed);
    assert_eq!(
        r.message,
        format!(
            "zoll denied this Pod: ephemeral container 'debugger' ({bad_img}): stage 'ci' has not signed {}",
            unsigned.digest
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_scopes_and_registries() {
    let w = World::new().await;
    let app = w.push_signed("prod/app", "v1").await;
    let dev = w.push("dev/tool", "v1").await;
    let by_digest = format!("{}@{}", w.image("prod/app"), app.digest);
    let tag_and_digest = format!("{}@{}", w.image("prod/app:v1"), app.digest);

    // Pinned references are verified and left alone.
    let r = w
        .mutate(&fixture("pod", "u1", [&by_digest, &tag_and_digest, ""]))
        .await;
    assert!(r.allowed && r.patch.is_none(), "{r:?}");

    // A repository no policy covers is admitted by the policy's default, and still pinned.
    let dev_img = w.image("dev/tool:v1");
    let r = w
        .mutate(&fixture("pod", "u2", [&dev_img, &by_digest, ""]))
        .await;
    assert!(r.allowed, "{r:?}");
    assert_eq!(
        r.patch,
        Some(json!([{"op": "replace", "path": "/spec/containers/0/image",
                     "value": format!("{dev_img}@{}", dev.digest)}]))
    );

    // A tag that does not exist, and a digest the registry does not hold.
    let missing = w.image("prod/app:v9");
    let r = w
        .validate(&fixture("pod", "u3", [&missing, &by_digest, ""]))
        .await;
    assert!(!r.allowed);
    assert!(
        r.message.starts_with(&format!(
            "zoll denied this Pod: container 'app' ({missing}): cannot resolve the image:"
        )),
        "{}",
        r.message
    );

    // Other registries: denied by default.
    let r = w
        .validate(&fixture("pod", "u4", ["nginx:1.27", &by_digest, ""]))
        .await;
    assert_eq!(
        r.message,
        "zoll denied this Pod: container 'app' (nginx:1.27): registry docker.io is not served by zoll, and unknown registries are denied"
    );
    let r = w
        .mutate(&fixture("pod", "u5", ["ghcr.io/x/y:1", &by_digest, ""]))
        .await;
    assert!(!r.allowed && r.message.contains("registry ghcr.io is not served by zoll"));

    // An invalid reference is denied, not an error.
    let r = w
        .validate(&fixture("pod", "u6", ["Not A Reference", &by_digest, ""]))
        .await;
    assert!(
        !r.allowed && r.message.contains("invalid image reference"),
        "{r:?}"
    );

    // DELETE carries no object to check.
    let mut delete = fixture("pod", "u7", ["nginx", "nginx", ""]);
    delete["request"]["operation"] = json!("DELETE");
    delete["request"]["object"] = json!(null);
    assert!(w.validate(&delete).await.allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_registries_may_be_allowed_with_a_warning() {
    let w = World::with(zoll_admission::UnknownRegistries::Allow).await;
    let app = w.push_signed("prod/app", "v1").await;
    let app_img = w.image("prod/app:v1");
    let review = fixture(
        "deployment",
        "u1",
        [&app_img, "docker.io/library/busybox:1.36", ""],
    );
    for r in [w.validate(&review).await, w.mutate(&review).await] {
        assert!(r.allowed, "{r:?}");
        assert_eq!(
            r.warnings,
            [
                "init container 'setup' (docker.io/library/busybox:1.36): not verified: registry docker.io is not served by zoll"
            ]
        );
    }
    // Only the image zoll verified is pinned.
    assert_eq!(
        w.mutate(&review).await.patch,
        Some(
            json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image",
                     "value": format!("{app_img}@{}", app.digest)}])
        )
    );
}
