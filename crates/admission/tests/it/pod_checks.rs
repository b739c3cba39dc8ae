//! Each pod check on every workload kind, and the per-namespace exemptions of the policy's
//! `[admission]` section. The images are signed, so only the pod checks can refuse.

use serde_json::{Value, json};

use crate::kinds::KINDS;
use crate::support::{World, fixture};

type Edit = fn(&mut Value);

/// Removes every run-as setting of the pod and its containers.
fn clear_run_as(spec: &mut Value) {
    spec.as_object_mut().unwrap().remove("securityContext");
    for list in ["initContainers", "containers"] {
        for c in spec[list].as_array_mut().unwrap() {
            let sc = c["securityContext"].as_object_mut().unwrap();
            sc.remove("runAsUser");
            sc.remove("runAsNonRoot");
        }
    }
}

/// (what is changed in the pod spec, the findings expected in spec order)
fn cases() -> Vec<(&'static str, Edit, Vec<&'static str>)> {
    vec![
        (
            "privileged",
            |s| s["containers"][0]["securityContext"]["privileged"] = json!(true),
            vec!["container 'app': privileged is true"],
        ),
        (
            "container runAsUser 0",
            |s| s["containers"][0]["securityContext"]["runAsUser"] = json!(0),
            vec!["container 'app': runs as root (runAsUser 0)"],
        ),
        (
            "pod runAsUser 0",
            |s| {
                clear_run_as(s);
                s["securityContext"] = json!({"runAsNonRoot": true, "runAsUser": 0});
            },
            vec![
                "init container 'setup': runs as root (runAsUser 0)",
                "container 'app': runs as root (runAsUser 0)",
            ],
        ),
        (
            "runAsNonRoot unset",
            |s| {
                clear_run_as(s);
                // A container-level setting covers that container only.
                s["initContainers"][0]["securityContext"]["runAsNonRoot"] = json!(true);
            },
            vec!["container 'app': runAsNonRoot is not true (set it on the pod or the container)"],
        ),
        (
            "container overrides pod",
            |s| {
                clear_run_as(s);
                s["securityContext"] = json!({"runAsNonRoot": true});
                s["initContainers"][0]["securityContext"]["runAsNonRoot"] = json!(false);
            },
            vec![
                "init container 'setup': runAsNonRoot is not true (set it on the pod or the container)",
            ],
        ),
        (
            "hostPath",
            |s| {
                s["volumes"][0] =
                    json!({"name": "cache", "hostPath": {"path": "/var/run/docker.sock"}})
            },
            vec![
                "container 'app': hostPath volume 'cache' mounts /var/run/docker.sock from the node",
            ],
        ),
        (
            "host namespaces",
            |s| {
                s["hostNetwork"] = json!(true);
                s["hostPID"] = json!(true);
                s["hostIPC"] = json!(true);
            },
            vec![
                "pod: hostNetwork is true (shares the host's network)",
                "pod: hostPID is true (shares the host's process namespace)",
                "pod: hostIPC is true (shares the host's IPC namespace)",
            ],
        ),
        (
            "capabilities",
            |s| {
                s["containers"][0]["securityContext"]["capabilities"]["add"] =
                    json!(["NET_ADMIN", "NET_BIND_SERVICE", "cap_sys_admin"]);
            },
            vec!["container 'app': adds capabilities NET_ADMIN, SYS_ADMIN"],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_pod_check_on_every_kind() {
    let w = World::new().await;
    w.push_signed("prod/app", "v1").await;
    let img = w.image("prod/app:v1");
    for (name, kind, spec_path) in KINDS {
        for (case, edit, findings) in cases() {
            let mut review = fixture(name, "pc", [&img, &img, ""]);
            let object = &mut review["request"]["object"];
            edit(object.pointer_mut(spec_path).unwrap());
            let r = w.validate(&review).await;
            assert!(!r.allowed, "{name} / {case}: {r:?}");
            assert_eq!(r.code, Some(403));
            assert_eq!(
                r.message,
                format!("zoll denied this {kind}: {}", findings.join("; ")),
                "{name} / {case}"
            );
            // Mutate pins; the pod checks are validate's.
            let m = w.mutate(&review).await;
            assert!(m.allowed && m.patch.is_some(), "{name} / {case}: {m:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_exemptions() {
    let w = World::new().await;
    w.push_signed("prod/app", "v1").await;
    w.push("prod/unsigned", "v1").await;
    let (signed, unsigned) = (w.image("prod/app:v1"), w.image("prod/unsigned:v1"));
    let review = |ns: &str, image: &str, edit: Edit| {
        let mut r = fixture("deployment", "ns", [image, &signed, ""]);
        r["request"]["namespace"] = json!(ns);
        edit(
            r["request"]["object"]
                .pointer_mut("/spec/template/spec")
                .unwrap(),
        );
        r
    };
    let privileged: Edit = |s| s["containers"][0]["securityContext"]["privileged"] = json!(true);
    let host_path: Edit =
        |s| s["volumes"][0] = json!({"name": "cache", "hostPath": {"path": "/var/log"}});

    // kube-system skips everything.
    let r = w
        .validate(&review("kube-system", &unsigned, privileged))
        .await;
    assert!(r.allowed, "{r:?}");
    // legacy-* skips the image policy (and so is not pinned), not the pod checks.
    let r = w
        .validate(&review("legacy-billing", &unsigned, |_| {}))
        .await;
    assert!(r.allowed, "{r:?}");
    let r = w.mutate(&review("legacy-billing", &unsigned, |_| {})).await;
    assert!(r.allowed && r.patch.is_none(), "{r:?}");
    let r = w
        .validate(&review("legacy-billing", &unsigned, privileged))
        .await;
    assert_eq!(
        r.message,
        "zoll denied this Deployment: container 'app': privileged is true"
    );
    // monitoring may mount host paths, but not run unsigned images.
    let r = w.validate(&review("monitoring", &signed, host_path)).await;
    assert!(r.allowed, "{r:?}");
    let r = w
        .validate(&review("monitoring", &unsigned, host_path))
        .await;
    assert!(
        !r.allowed && r.message.contains("stage 'ci' has not signed"),
        "{r:?}"
    );
    // Elsewhere both apply, and every reason is named.
    let r = w.validate(&review("shop", &unsigned, host_path)).await;
    assert!(
        r.message.contains("container 'app' (") && r.message.contains("hostPath volume 'cache'"),
        "{}",
        r.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_mode_admits_with_the_findings_as_warnings() {
    let w = World::new().await;
    w.push_signed("prod/app", "v1").await;
    let img = w.image("prod/app:v1");
    let warn = crate::support::POLICY.replace(
        "[admission]\n",
        "[admission]\npod_checks = \"warn\"\nprivileged = false\n",
    );
    std::fs::write(w.path("policy.toml"), warn).unwrap();
    let set = zoll_policy::PolicySet::load(&w.path("policy.toml")).unwrap();
    w.webhook.engine().replace(set);
    let mut review = fixture("statefulset", "warn", [&img, &img, ""]);
    let spec = review["request"]["object"]
        .pointer_mut("/spec/template/spec")
        .unwrap();
    spec["hostPID"] = json!(true);
    // Turned off: not even a warning.
    spec["containers"][0]["securityContext"]["privileged"] = json!(true);
    let r = w.validate(&review).await;
    assert!(r.allowed, "{r:?}");
    assert_eq!(
        r.warnings,
        ["pod: hostPID is true (shares the host's process namespace)"]
    );
}
