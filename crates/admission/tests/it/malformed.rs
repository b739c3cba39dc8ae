//! Reviews that cannot be answered get a clean error: an HTTP error with a `metav1.Status`
//! when there is no uid to echo, a refusal inside an AdmissionReview (code 400) when there
//! is. Never a panic, never an allow.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Reviewed, World, fixture, post};

fn check_status((status, body): (StatusCode, Value), want: StatusCode, message: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["code"], want.as_u16(), "{body}");
    let got = body["message"].as_str().unwrap();
    assert!(got.contains(message), "{got:?} should contain {message:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_reviews_get_clean_errors() {
    let w = World::new().await;
    let app = w.push_signed("prod/app", "v1").await;
    let img = format!("{}@{}", w.image("prod/app"), app.digest);
    let good = fixture("pod", "m1", [&img, &img, ""]);
    let bad = StatusCode::BAD_REQUEST;
    for path in ["/admission/validate", "/admission/mutate"] {
        let send = |body: Vec<u8>| post(&w.router, path, body);
        check_status(
            send(b"not json {".to_vec()).await,
            bad,
            "not an AdmissionReview",
        );
        check_status(send(Vec::new()).await, bad, "not an AdmissionReview");
        check_status(
            send(b"[1,2,3]".to_vec()).await,
            bad,
            "not an AdmissionReview",
        );
        let mut v1beta1 = good.clone();
        v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
        check_status(send(v1beta1.to_string().into_bytes()).await, bad, "v1beta1");
        let mut wrong_kind = good.clone();
        wrong_kind["kind"] = json!("ConfigMap");
        check_status(
            send(wrong_kind.to_string().into_bytes()).await,
            bad,
            "ConfigMap",
        );
        let no_request = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"});
        check_status(
            send(no_request.to_string().into_bytes()).await,
            bad,
            "no request",
        );
        let mut no_uid = good.clone();
        no_uid["request"].as_object_mut().unwrap().remove("uid");
        check_status(send(no_uid.to_string().into_bytes()).await, bad, "uid");

        // A body over the limit (4 MiB of padding inside a valid review).
        let mut huge = good.clone();
        huge["request"]["object"]["metadata"]["annotations"] = json!({"pad": "x".repeat(4 << 20)});
        check_status(
            send(huge.to_string().into_bytes()).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        );
        // Deep nesting, far below the size limit.
        let mut deep = good.clone();
        let mut nested = json!(1);
        for _ in 0..200 {
            nested = json!([nested]);
        }
        deep["request"]["object"]["metadata"]["annotations"] = json!({"x": nested});
        check_status(
            send(deep.to_string().into_bytes()).await,
            bad,
            "nests deeper",
        );

        // With a uid: answered inside a review, refused with 400.
        let refused = |body: Value, message: &'static str| {
            let send = send(body.to_string().into_bytes());
            async move {
                let r = Reviewed::of(send.await);
                assert!(!r.allowed, "{r:?}");
                assert_eq!(r.uid, "m1");
                assert_eq!(r.code, Some(400), "{r:?}");
                assert!(r.message.contains(message), "{:?} / {message:?}", r.message);
            }
        };
        let mut typed_wrong = good.clone();
        typed_wrong["request"]["kind"] = json!("Pod");
        refused(typed_wrong, "the request is invalid").await;
        let mut object_kind = good.clone();
        object_kind["request"]["object"]["kind"] = json!("ConfigMap");
        refused(
            object_kind,
            "the object is a ConfigMap, but the request says Pod",
        )
        .await;
        let mut service = good.clone();
        service["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Service"});
        service["request"]["object"]["kind"] = json!("Service");
        refused(service, "kind Service (core) is not a workload").await;
        let mut no_spec = good.clone();
        no_spec["request"]["object"]
            .as_object_mut()
            .unwrap()
            .remove("spec");
        refused(no_spec, "no pod spec at /spec").await;
        let mut containers_string = good.clone();
        containers_string["request"]["object"]["spec"]["containers"] = json!("app");
        refused(containers_string, "the pod spec at /spec is invalid").await;
        // serde would fill a struct from an array: `securityContext: []` is refused, not
        // taken for "nothing set".
        let mut array_context = good.clone();
        array_context["request"]["object"]["spec"]["containers"][0]["securityContext"] =
            json!([true]);
        refused(array_context, "expected an object, found an array").await;
        let mut no_containers = good.clone();
        no_containers["request"]["object"]["spec"]["containers"] = json!([]);
        refused(no_containers, "the pod spec at /spec has no containers").await;
        let mut not_object = good.clone();
        not_object["request"]["object"] = json!("a pod");
        refused(not_object, "not a JSON object").await;
        let mut no_object = good.clone();
        no_object["request"]["object"] = json!(null);
        refused(no_object, "no object").await;
        let mut too_many = good.clone();
        let many: Vec<Value> = (0..300)
            .map(|i| json!({"name": format!("c{i}"), "image": img}))
            .collect();
        too_many["request"]["object"]["spec"]["containers"] = json!(many);
        refused(too_many, "at most 256 are admitted").await;
    }
    // Nulls where Kubernetes means "default" are fine.
    let mut nulls = good.clone();
    nulls["request"]["object"]["spec"]["volumes"] = json!(null);
    nulls["request"]["object"]["spec"]["ephemeralContainers"] = json!(null);
    assert!(w.validate(&nulls).await.allowed);
    // Only POST.
    let resp = tower::ServiceExt::oneshot(
        w.router.clone(),
        axum::http::Request::get("/admission/validate")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// Every JSON pointer in `v`, depth first.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

/// Each field of each fixture replaced by a value of every other JSON type: the webhook
/// answers every one (a review echoing the uid, or a clean error), never panics, and never
/// admits a review whose object it could not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_of_every_fixture_with_wrong_types() {
    use zoll_admission::Mode;
    let w = World::new().await;
    let names = [
        "pod",
        "pod-ephemeral",
        "deployment",
        "replicaset",
        "statefulset",
        "daemonset",
        "job",
        "cronjob",
    ];
    let replacements = [
        json!(null),
        json!(-1),
        json!("x"),
        json!([]),
        json!({}),
        json!(true),
    ];
    let mut answered = 0;
    for name in names {
        // Images from a registry zoll does not serve: decided without network.
        let review = fixture(name, "f", ["nginx:1", "busybox", "alpine"]);
        let mut paths = Vec::new();
        pointers(&review, String::new(), &mut paths);
        for path in &paths {
            for r in &replacements {
                let mut broken = review.clone();
                *broken.pointer_mut(path).unwrap() = r.clone();
                let body = broken.to_string().into_bytes();
                for mode in [Mode::Validate, Mode::Mutate] {
                    match w.webhook.review(mode, &body).await {
                        Ok(resp) => {
                            let uid = &broken["request"]["uid"];
                            assert_eq!(resp.uid, uid.as_str().unwrap(), "{name} {path}={r}");
                            let op = broken["request"]["operation"].as_str();
                            if resp.allowed {
                                // Only a review with nothing to admit may pass: another
                                // operation than CREATE/UPDATE.
                                assert!(
                                    !matches!(op, Some("CREATE" | "UPDATE")),
                                    "{name} {path}={r}: {resp:?}"
                                );
                            }
                            answered += 1;
                        }
                        Err(e) => assert!(!e.to_string().is_empty()),
                    }
                }
            }
        }
    }
    assert!(answered > 1000, "{answered}");
}
