//! Regression tests of the attacks an outside review ran against the release (issue 13),
//! over the real Router: each fails on the code before its fix.

use axum::body::Body;

use super::{ADMIN, add_user, api, basic, metric, metrics, registry};
use crate::harness::TestRegistry;

/// Finding 1: failed logins are throttled per account and per source (429 with
/// Retry-After and no password hash computed), a client whose login was verified before
/// keeps working from the verified-login cache, and Basic on every request costs one hash,
/// not one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_and_verified_logins_cached() {
    let reg = registry().await;
    add_user(&reg, "alice", "alice-password").await;
    let before = metric(&metrics(&reg).await, "zoll_password_hashes_total");
    for _ in 0..20 {
        let r = reg.get_as("/v2/", ("alice", "alice-password")).await;
        assert_eq!(r.status, 200);
    }
    let after = metric(&metrics(&reg).await, "zoll_password_hashes_total");
    assert_eq!(
        after - before,
        1,
        "twenty Basic requests, one password hash"
    );

    // Ten wrong passwords use up the account's failures (the default per-account limit).
    for i in 0..10 {
        let r = reg.get_as("/v2/", ("alice", &format!("guess-{i}"))).await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let hashes = metric(&metrics(&reg).await, "zoll_password_hashes_total");
    let r = reg.get_as("/v2/", ("alice", "guess-10")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.code(), "TOOMANYREQUESTS");
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    // The token endpoint and the management API refuse alike.
    let r = reg
        .call(
            "GET",
            "/token?service=zoll-registry",
            &[("authorization", &basic("alice", "guess-11"))],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 429);
    let r = api(&reg, "GET", "/whoami", ("alice", "guess-12"), None).await;
    assert_eq!(r.status, 429);
    // No hash was computed for the refused attempts, and alice's verified login still
    // works from the cache during the attack.
    let m = metrics(&reg).await;
    assert_eq!(metric(&m, "zoll_password_hashes_total"), hashes);
    assert!(metric(&m, "zoll_logins_throttled_total") >= 3);
    let r = reg.get_as("/v2/", ("alice", "alice-password")).await;
    assert_eq!(r.status, 200);
    // The source (every in-process request comes from "-") has its own, higher limit:
    // guessing other accounts' passwords uses it up too.
    add_user(&reg, "bob", "bob-password").await;
    let mut throttled = false;
    for i in 0..30 {
        let user = format!("user{i}");
        let r = reg.get_as("/v2/", (&user, "nope")).await;
        if r.status == 429 {
            throttled = true;
            break;
        }
        assert_eq!(r.status, 401);
    }
    assert!(throttled, "the source is throttled after its failures");
    let r = reg.get_as("/v2/", ("bob", "bob-password")).await;
    assert_eq!(
        r.status, 429,
        "a throttled source cannot check new passwords"
    );
}

/// Finding 10: the method label is one of a fixed set, however many made-up methods
/// clients send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_do_not_grow_the_metric_series() {
    let reg = registry().await;
    for i in 0..50 {
        reg.call(&format!("R4ND0M{i}"), "/v2/", &[], Body::empty())
            .await;
    }
    let page = metrics(&reg).await;
    let series: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("zoll_http_requests_total{"))
        .collect();
    assert!(series.len() <= 3, "{series:#?}");
    assert!(!page.contains("R4ND0M"), "{page}");
    assert_eq!(
        metric(
            &page,
            r#"zoll_http_requests_total{endpoint="base",method="other",status="401"}"#
        ),
        50
    );
}

/// A body that sends `pieces` of 100 bytes `every` apart, then (with `hang`) nothing more.
fn trickle(pieces: usize, every: std::time::Duration, hang: bool) -> Body {
    let stream = futures_util::stream::unfold(0usize, move |i| async move {
        if i == pieces {
            if hang {
                futures_util::future::pending::<()>().await;
            }
            return None;
        }
        tokio::time::sleep(every).await;
        Some((
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; 100])),
            i + 1,
        ))
    });
    Body::from_stream(stream)
}

/// Finding 2: an upload whose body stops arriving fails after the body timeout (it held
/// its session, buffers and connection forever before); one whose bytes keep coming slowly
/// is stored however long it takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_body_fails_and_a_slow_one_succeeds() {
    let reg =
        TestRegistry::with(|_, l| l.body_timeout = std::time::Duration::from_millis(300)).await;
    let start = reg
        .call("POST", "/v2/team/app/blobs/uploads/", &[], Body::empty())
        .await;
    let location = start.header("location").to_owned();
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        reg.call(
            "PATCH",
            &location,
            &[],
            trickle(3, std::time::Duration::from_millis(50), true),
        ),
    )
    .await
    .expect("the stalled upload ended");
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        String::from_utf8_lossy(&r.body).contains("no request body bytes arrived"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // Ten pieces, each 100 ms apart: a second in all, never 300 ms without a byte.
    let start = reg
        .call("POST", "/v2/team/app/blobs/uploads/", &[], Body::empty())
        .await;
    let location = start.header("location").to_owned();
    let r = reg
        .call(
            "PATCH",
            &location,
            &[],
            trickle(10, std::time::Duration::from_millis(100), false),
        )
        .await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("range"), "0-999");
}

/// Finding 4: with an immutable `v*` rule, a maintainer's delete of the config blob of `v1`
/// answered 202 and `v1` no longer pulled. A blob a manifest of the repository references
/// is not unlinked (405 DENIED naming the manifest); unreferenced links still are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referenced_blobs_cannot_be_unlinked() {
    let reg = registry().await;
    super::admin_api(
        &reg,
        "POST",
        "/projects",
        Some(serde_json::json!({"name": "team"})),
    )
    .await;
    add_user(&reg, "maint", "maint-password").await;
    super::admin_api(
        &reg,
        "PUT",
        "/projects/team/members/maint",
        Some(serde_json::json!({"role": "maintainer"})),
    )
    .await;
    super::admin_api(
        &reg,
        "PUT",
        "/projects/team/immutable",
        Some(serde_json::json!([{"repositories": "*", "tags": "v*"}])),
    )
    .await;
    let (manifest, layer) = super::push_as_admin(&reg, "team/app", "v1", b"layer-1").await;
    let config = zoll_oci::Digest::sha256(br#"{"architecture":"amd64","os":"linux"}"#);
    let maint = basic("maint", "maint-password");
    for blob in [config.to_string(), layer.clone()] {
        let r = reg
            .call(
                "DELETE",
                &format!("/v2/team/app/blobs/{blob}"),
                &[("authorization", &maint)],
                Body::empty(),
            )
            .await;
        assert_eq!(r.status, 405, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.code(), "DENIED");
        assert!(String::from_utf8_lossy(&r.body).contains(&manifest));
    }
    // v1 pulls whole: manifest and every blob.
    for path in [
        "/v2/team/app/manifests/v1".to_owned(),
        format!("/v2/team/app/blobs/{config}"),
        format!("/v2/team/app/blobs/{layer}"),
    ] {
        let r = reg.get_as(&path, ("maint", "maint-password")).await;
        assert_eq!(r.status, 200, "{path}");
    }
    // A mutable image's layer becomes deletable once its manifest is gone (deleting only
    // the tag leaves the manifest, which still references it).
    let (latest, layer2) = super::push_as_admin(&reg, "team/app", "latest", b"layer-2").await;
    let layer2_path = format!("/v2/team/app/blobs/{layer2}");
    let auth = [("authorization", maint.as_str())];
    let delete_layer2 = || reg.call("DELETE", &layer2_path, &auth, Body::empty());
    let r = reg
        .call(
            "DELETE",
            "/v2/team/app/manifests/latest",
            &[("authorization", &maint)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(delete_layer2().await.status, 405);
    let r = reg
        .call(
            "DELETE",
            &format!("/v2/team/app/manifests/{latest}"),
            &[("authorization", &maint)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(delete_layer2().await.status, 202);
}

/// Finding 5: 300 anonymous token requests with long made-up scopes added 900 audit
/// records and 54 MB. Scopes now follow the name grammar (a malformed one is a 400 and
/// writes nothing), one request is one record however many actions it was refused,
/// refusals beyond a client's budget are counted into one summary, and each client address
/// may ask for a bounded number of tokens a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_floods_do_not_flood_the_audit_trail() {
    // The default token rate (registry() turns it off for the other tests).
    let reg = TestRegistry::with_auth_settings(|_| {}).await;
    zoll_registry::auth::bootstrap_admin(&reg.store, Some(ADMIN.1))
        .await
        .unwrap();
    let count = || async { reg.store.audit_records(0, 1_000_000).await.unwrap().len() };
    let before = count().await;
    // Malformed: too long, bad grammar, unknown action.
    let long = "a".repeat(20_000);
    for scope in [
        format!("repository:{long}:pull"),
        "repository:UPPER/case:pull".into(),
        "repository:team/app:pull,fly".into(),
        "nonsense".into(),
        // Review finding: repeating an action cost a permission check each time.
        format!("repository:team/app:{}", ["*"; 9].join(",")),
    ] {
        let r = reg
            .call("GET", &format!("/token?scope={scope}"), &[], Body::empty())
            .await;
        assert_eq!(r.status, 400, "{}", &scope[..scope.len().min(40)]);
        assert_eq!(r.code(), "INVALID");
        assert!(r.body.len() < 1000, "the answer does not echo the input");
    }
    assert_eq!(count().await, before, "malformed scopes write nothing");

    // 300 anonymous requests, each asking for three actions on three repositories.
    let mut throttled = 0;
    for i in 0..300 {
        let scope = format!(
            "repository:p{i}/a:pull,push,delete%20repository:p{i}/b:pull,push,delete%20repository:p{i}/c:pull,push,delete"
        );
        let r = reg
            .call("GET", &format!("/token?scope={scope}"), &[], Body::empty())
            .await;
        match r.status {
            200 => {}
            429 => throttled += 1,
            other => panic!("{other}"),
        }
    }
    assert!(throttled > 0, "the client's token rate was limited");
    reg.app.write_denial_summaries().await;
    let records = reg.store.audit_records(0, 1_000_000).await.unwrap();
    let added = &records[before..];
    // At most the budget's burst, one a second while the test ran, and one summary.
    assert!(added.len() <= 100, "{} records", added.len());
    let summary = added
        .iter()
        .find(|r| r.entry.action == "denied.summary")
        .expect("a summary of the counted refusals");
    assert!(
        summary.entry.detail.contains("more refused attempts"),
        "{}",
        summary.entry.detail
    );
    let bytes: usize = added
        .iter()
        .map(|r| r.entry.detail.len() + r.entry.target.len())
        .sum();
    assert!(bytes < 100_000, "{bytes} bytes");
    let one = added.iter().find(|r| r.entry.action == "token").unwrap();
    assert!(
        one.entry.detail.contains("pull on p0/a") && one.entry.detail.contains("delete on p0/c")
    );
}

/// Finding 5: user-controlled text starting with a formula character is neutralized in
/// the CSV export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_export_neutralizes_formulas() {
    let reg = registry().await;
    let r = reg
        .get_as("/v2/", ("=HYPERLINK(\"http://evil\",\"x\")", "pw"))
        .await;
    assert_eq!(r.status, 401);
    let csv = api(&reg, "GET", "/audit?format=csv", ADMIN, None).await;
    let text = String::from_utf8(csv.body.to_vec()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("HYPERLINK"))
        .expect("the refused login is in the export");
    assert!(line.contains(",\"'=HYPERLINK("), "{line}");
    assert!(!line.contains(",=HYPERLINK"), "{line}");
}

/// Finding 6 (CVE-2021-41190): a document without `mediaType` carrying config, layers and
/// manifests was stored and served as an index; an image manifest with `manifests` too.
/// Both are MANIFEST_INVALID now, and so is JSON nested deeper than the configured bound
/// (a 2,000,000-level manifest was stored and no client could read it back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_and_deeply_nested_manifests_are_refused() {
    let reg = TestRegistry::new().await;
    let config = reg.push_blob("team/app", b"{}").await;
    let layer = reg.push_blob("team/app", b"layer").await;
    let image = crate::harness::image_manifest(&config, 2, &[(&layer, 5)], None);
    let child = serde_json::json!({
        "mediaType": crate::harness::OCI_MANIFEST,
        "digest": zoll_oci::Digest::sha256(b"elsewhere"),
        "size": 9,
    });
    let mut untyped = image.clone();
    untyped.as_object_mut().unwrap().remove("mediaType");
    untyped["manifests"] = serde_json::json!([child]);
    let mut typed = image.clone();
    typed["manifests"] = serde_json::json!([child]);
    let index_with_layers = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::harness::OCI_INDEX,
        "manifests": [],
        "layers": image["layers"],
    });
    for (what, doc, content_type) in [
        ("untyped, both shapes", &untyped, "application/json"),
        (
            "untyped, both shapes, as an index",
            &untyped,
            crate::harness::OCI_INDEX,
        ),
        ("image with manifests", &typed, crate::harness::OCI_MANIFEST),
        (
            "index with layers",
            &index_with_layers,
            crate::harness::OCI_INDEX,
        ),
    ] {
        let r = reg.put_manifest("team/app", "amb", content_type, doc).await;
        assert_eq!(
            r.status,
            400,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.code(), "MANIFEST_INVALID", "{what}");
        assert!(
            String::from_utf8_lossy(&r.body).contains("ambiguous"),
            "{what}"
        );
    }
    assert_eq!(reg.get("/v2/team/app/manifests/amb").await.status, 404);

    // Nested 65 levels in an unknown field: over the default bound of 64.
    let mut deep = serde_json::to_string(&image).unwrap();
    deep.pop();
    deep.push_str(&format!(r#","x":{}{}}}"#, "[".repeat(65), "]".repeat(65)));
    let r = reg
        .call(
            "PUT",
            "/v2/team/app/manifests/deep",
            &[("content-type", crate::harness::OCI_MANIFEST)],
            deep,
        )
        .await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.code(), "MANIFEST_INVALID");
    // 2,000,000 levels, the review's case, inside the size limit.
    let mut deeper = serde_json::to_string(&image).unwrap();
    deeper.pop();
    deeper.push_str(&format!(r#","x":{}}}"#, "[".repeat(2_000_000)));
    let r = reg
        .call(
            "PUT",
            "/v2/team/app/manifests/deeper",
            &[("content-type", crate::harness::OCI_MANIFEST)],
            deeper,
        )
        .await;
    assert_eq!(r.code(), "MANIFEST_INVALID");
    // The plain image still goes in.
    let r = reg
        .put_manifest("team/app", "ok", crate::harness::OCI_MANIFEST, &image)
        .await;
    assert_eq!(r.status, 201);
}

/// Finding 7: any registry token — even one granting nothing, or only a pull — acted with
/// the account's full rights on `/api/v1` (and every docker client caches one). Registry
/// tokens now authorize `/v2/` only; the management API and `/metrics` take Basic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_tokens_do_not_authorize_management_calls() {
    let reg = registry().await;
    super::push_as_admin(&reg, "team/app", "v1", b"layer").await;
    let empty = super::token(&reg, Some(ADMIN), "").await;
    let pull = super::token(&reg, Some(ADMIN), "repository:team/app:pull").await;
    for t in [&empty, &pull] {
        let bearer = format!("Bearer {t}");
        let h = [("authorization", bearer.as_str())];
        for (method, path, body) in [
            ("GET", "/api/v1/whoami", ""),
            ("GET", "/api/v1/users", ""),
            (
                "POST",
                "/api/v1/users",
                r#"{"name":"mallory","password":"mallory-password","admin":true}"#,
            ),
            ("GET", "/api/v1/audit", ""),
            ("GET", "/api/v1/approvals", ""),
            ("GET", "/metrics", ""),
        ] {
            let r = reg.call(method, path, &h, body.to_owned()).await;
            assert_eq!(
                r.status,
                401,
                "{method} {path}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert!(String::from_utf8_lossy(&r.body).contains("registry tokens do not authorize"));
        }
    }
    assert!(reg.store.account("mallory").await.unwrap().is_none());
    // The pull token still pulls, and Basic still manages.
    let r = reg
        .call(
            "GET",
            "/v2/team/app/manifests/v1",
            &[("authorization", &format!("Bearer {pull}"))],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(api(&reg, "GET", "/whoami", ADMIN, None).await.status, 200);
}

/// Finding 11: a maintainer pointed a webhook at loopback, link-local (cloud metadata) or
/// private addresses and read the delivery log as a port scanner. Such destinations are
/// refused when the hook is created (literal or resolved), at delivery (a name that
/// resolves there now, as after DNS rebinding) and on redirects, unless an administrator
/// allowed the network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_do_not_reach_internal_addresses() {
    // The administrator allowed one internal address: the redirector below.
    let reg = registry()
        .await
        .with_hooks(|h| h.destinations.allowed = vec!["127.0.0.2/32".parse().unwrap()]);
    super::admin_api(
        &reg,
        "POST",
        "/projects",
        Some(serde_json::json!({"name": "team"})),
    )
    .await;
    // A receiver on loopback that counts what reaches it, and one that redirects there.
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = hits.clone();
    let inner = axum::Router::new().fallback(move || {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { "ok" }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let internal = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, inner).await.unwrap() });
    for url in [
        format!("http://{internal}/hook"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://[::1]:9/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
        format!("http://localhost:{}/hook", internal.port()),
    ] {
        let r = api(
            &reg,
            "POST",
            "/projects/team/webhooks",
            ADMIN,
            Some(serde_json::json!({"url": url, "secret": "0123456789abcdef"})),
        )
        .await;
        assert_eq!(r.status, 400, "{url}: {}", String::from_utf8_lossy(&r.body));
        assert!(
            String::from_utf8_lossy(&r.body).contains("destination refused"),
            "{url}"
        );
    }
    // A hook stored before the check existed (or a name that resolves inward only later)
    // is refused at delivery; the attempt log says why and nothing reaches the receiver.
    let hook = reg
        .store
        .add_webhook(
            "team",
            &format!("http://localhost:{}/hook", internal.port()),
            "0123456789abcdef",
            &[],
        )
        .await
        .unwrap();
    let literal = reg
        .store
        .add_webhook(
            "team",
            &format!("http://{internal}/hook"),
            "0123456789abcdef",
            &[],
        )
        .await
        .unwrap();
    // An allowed destination that redirects to a forbidden one.
    let target = format!("http://{internal}/hook");
    let redirector = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { axum::response::Redirect::temporary(&target) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let redirecting = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, redirector).await.unwrap() });
    let r = api(
        &reg,
        "POST",
        "/projects/team/webhooks",
        ADMIN,
        Some(serde_json::json!({"url": format!("http://{redirecting}/"), "secret": "0123456789abcdef"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let redirected = r.json()["id"].as_str().unwrap().to_owned();
    let deliveries = tokio::spawn(zoll_registry::events::run_deliveries(reg.app.clone()));
    super::push_as_admin(&reg, "team/app", "v1", b"layer").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut logged = 0;
        for h in [&hook.id, &literal.id, &redirected] {
            for d in reg.store.deliveries(h, 10).await.unwrap() {
                for a in reg.store.attempts(&d.id).await.unwrap() {
                    let e = a.error.unwrap_or_default();
                    assert!(e.contains("loopback"), "{e}");
                    logged += 1;
                }
            }
        }
        if logged >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no attempt was logged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    deliveries.abort();
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing reached loopback"
    );
}

/// Creates project `name` with a byte quota of `max`.
async fn quota_project(reg: &TestRegistry, name: &str, max: u64) {
    let project = serde_json::json!({"name": name});
    super::admin_api(reg, "POST", "/projects", Some(project)).await;
    let quota = serde_json::json!({"max_bytes": max});
    super::admin_api(reg, "PUT", &format!("/projects/{name}/quota"), Some(quota)).await;
}

/// Finding 12: staged upload bytes (and blobs pushed without a manifest) did not count
/// against the project's byte quota, and a repository could have any number of open
/// upload sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_and_unreferenced_bytes_count_against_the_quota() {
    let reg = registry().await;
    quota_project(&reg, "q", 1000).await;
    let auth = basic(ADMIN.0, ADMIN.1);
    let h = [("authorization", auth.as_str())];
    let session = |repo: &'static str| {
        let reg = &reg;
        async move {
            let r = reg
                .call(
                    "POST",
                    &format!("/v2/{repo}/blobs/uploads/"),
                    &h,
                    Body::empty(),
                )
                .await;
            assert_eq!(r.status, 202);
            r.header("location").to_owned()
        }
    };
    // 800 bytes staged by an unfinished upload...
    let first = session("q/a").await;
    let r = reg.call("PATCH", &first, &h, vec![1u8; 800]).await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    // ... leave room for 200 more in the project, whichever way they come.
    let second = session("q/b").await;
    let r = reg.call("PATCH", &second, &h, vec![2u8; 300]).await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.code(), "DENIED");
    let big = vec![3u8; 300];
    let d = zoll_oci::Digest::sha256(&big);
    let r = reg
        .call(
            "POST",
            &format!("/v2/q/c/blobs/uploads/?digest={d}"),
            &h,
            big,
        )
        .await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    // A chunk that would take the staged session past the quota is refused too.
    let r = reg.call("PATCH", &first, &h, vec![1u8; 300]).await;
    assert_eq!(r.status, 403);
    let small = vec![4u8; 150];
    let d = zoll_oci::Digest::sha256(&small);
    let r = reg
        .call(
            "POST",
            &format!("/v2/q/c/blobs/uploads/?digest={d}"),
            &h,
            small,
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // Cancelling frees the staged bytes; the linked (unreferenced) 150 still count.
    assert_eq!(
        reg.call("DELETE", &first, &h, Body::empty()).await.status,
        204
    );
    let r = reg.call("PATCH", &second, &h, vec![2u8; 800]).await;
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let r = reg.call("PATCH", &second, &h, vec![2u8; 100]).await;
    assert_eq!(r.status, 403, "150 linked + 800 staged + 100 > 1000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_upload_sessions_and_repositories_per_project_are_bounded() {
    let reg = TestRegistry::with(|c, _| {
        c.max_upload_sessions = 3;
        c.max_repositories = 4;
    })
    .await;
    for i in 0..3 {
        let r = reg
            .call(
                "POST",
                &format!("/v2/team/app{i}/blobs/uploads/"),
                &[],
                Body::empty(),
            )
            .await;
        assert_eq!(r.status, 202);
    }
    // New repository names do not buy new sessions: the bound is the project's.
    let r = reg
        .call("POST", "/v2/team/app9/blobs/uploads/", &[], Body::empty())
        .await;
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.code(), "TOOMANYREQUESTS");
    // Another project has its own.
    let r = reg
        .call("POST", "/v2/other/app/blobs/uploads/", &[], Body::empty())
        .await;
    assert_eq!(r.status, 202);
    // Repository rows are bounded too: invented names cannot grow the table for ever.
    reg.push_blob("team/app3", b"one").await;
    let d = zoll_oci::Digest::sha256(b"two");
    let r = reg
        .call(
            "POST",
            &format!("/v2/team/app4/blobs/uploads/?digest={d}"),
            &[],
            b"two".to_vec(),
        )
        .await;
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
}

/// Finding 12: the account name `anonymous` could be created (and be confused with callers
/// without credentials in the audit trail and token subjects).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_account_names_are_refused() {
    let reg = registry().await;
    for name in ["anonymous", "Anonymous", "unknown", "-"] {
        let r = api(
            &reg,
            "POST",
            "/users",
            ADMIN,
            Some(serde_json::json!({"name": name, "password": "long-enough-password"})),
        )
        .await;
        assert_eq!(r.status, 400, "{name}");
        assert!(
            String::from_utf8_lossy(&r.body).contains("reserved"),
            "{name}"
        );
    }
}

/// Finding 12: the catalog walked every repository of the registry for a caller who sees
/// few (one permission check each). It now asks only for the projects the caller can see;
/// what it lists, and its pages, are unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_lists_what_the_caller_sees_page_by_page() {
    let reg = registry().await;
    for (p, public) in [
        ("team", false),
        ("team-b", false),
        ("pub", true),
        ("zzz", false),
    ] {
        super::admin_api(
            &reg,
            "POST",
            "/projects",
            Some(serde_json::json!({"name": p, "public": public})),
        )
        .await;
    }
    // '-' sorts between "team" and "team/...": the restricted query must keep the order.
    for repo in [
        "team/a", "team/b/c", "team-b/x", "pub/p", "zzz/1", "zzz/2", "team",
    ] {
        super::push_as_admin(&reg, repo, "v1", repo.as_bytes()).await;
    }
    add_user(&reg, "dev", "dev-password").await;
    super::admin_api(
        &reg,
        "PUT",
        "/projects/team/members/dev",
        Some(serde_json::json!({"role": "guest"})),
    )
    .await;
    let list = |who: (&'static str, &'static str), query: &'static str| {
        let reg = &reg;
        async move {
            let r = reg.get_as(&format!("/v2/_catalog{query}"), who).await;
            assert_eq!(r.status, 200);
            let names: Vec<String> = r.json()["repositories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            (
                names,
                r.headers
                    .get("link")
                    .map(|l| l.to_str().unwrap().to_owned()),
            )
        }
    };
    let (all, _) = list(ADMIN, "").await;
    assert_eq!(
        all,
        [
            "pub/p", "team", "team-b/x", "team/a", "team/b/c", "zzz/1", "zzz/2"
        ]
    );
    let (mine, _) = list(("dev", "dev-password"), "").await;
    assert_eq!(mine, ["pub/p", "team", "team/a", "team/b/c"]);
    let (page1, link) = list(("dev", "dev-password"), "?n=2").await;
    assert_eq!(page1, ["pub/p", "team"]);
    assert!(link.unwrap().contains("last=team"));
    let (page2, link) = list(("dev", "dev-password"), "?n=2&last=team").await;
    assert_eq!(page2, ["team/a", "team/b/c"]);
    assert!(link.is_none(), "the last page links nowhere");
    let (page3, link) = list(("dev", "dev-password"), "?n=2&last=team/b/c").await;
    assert!(page3.is_empty() && link.is_none(), "{page3:?}");
    // A robot sees its own project, narrowed by its patterns.
    let robot = super::admin_api(
        &reg,
        "POST",
        "/projects/team/robots",
        Some(serde_json::json!({"name": "ci", "permissions": [{"repositories": "b/*", "actions": ["pull"]}]})),
    )
    .await;
    let name = robot["name"].as_str().unwrap().to_owned();
    let secret = robot["secret"].as_str().unwrap().to_owned();
    let r = reg.get_as("/v2/_catalog", (&name, &secret)).await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["team/b/c"]));
}

/// Finding 12: deleting a manifest that an index lists left the index dangling (a pull of
/// the index then fails on a platform). Refused now, naming the index; once the index is
/// gone the manifest may go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_an_index_lists_cannot_be_deleted() {
    let reg = TestRegistry::new().await;
    let (child, size) = reg.push_image("team/app", "amd64", b"layer").await;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::harness::OCI_INDEX,
        "manifests": [{
            "mediaType": crate::harness::OCI_MANIFEST,
            "digest": child,
            "size": size,
            "platform": {"architecture": "amd64", "os": "linux"},
        }],
    });
    let r = reg
        .put_manifest("team/app", "multi", crate::harness::OCI_INDEX, &index)
        .await;
    assert_eq!(r.status, 201);
    let index_digest = r.header("docker-content-digest").to_owned();
    let r = reg
        .call(
            "DELETE",
            &format!("/v2/team/app/manifests/{child}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 405, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.code(), "DENIED");
    assert!(String::from_utf8_lossy(&r.body).contains(&index_digest));
    assert_eq!(
        reg.get(&format!("/v2/team/app/manifests/{child}"))
            .await
            .status,
        200
    );
    let r = reg
        .call(
            "DELETE",
            &format!("/v2/team/app/manifests/{index_digest}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 202);
    let r = reg
        .call(
            "DELETE",
            &format!("/v2/team/app/manifests/{child}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 202);
}

/// Finding 12: a 401 to a large unauthenticated upload closed the connection while the
/// client was still sending, so the client saw a broken pipe instead of the 401 and never
/// retried with a token (the conformance suite without cached auth failed 7 checks). Over
/// a real socket, the client now reads the 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_large_upload_reads_its_401() {
    let reg = registry().await;
    let addr = reg.listen().await;
    let http = reqwest::Client::new();
    let body = vec![5u8; 16 << 20];
    let d = zoll_oci::Digest::sha256(&body);
    for _ in 0..3 {
        let r = http
            .post(format!(
                "http://{addr}/v2/team/app/blobs/uploads/?digest={d}"
            ))
            .header("content-type", "application/octet-stream")
            .body(body.clone())
            .send()
            .await
            .expect("the client reads the refusal instead of a broken pipe");
        assert_eq!(r.status(), 401);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("repository:team/app:pull,push")
        );
    }
}

/// Finding 12: the 401 challenge for a cross-repository mount asked only for the target,
/// so a client following it never got a token that allows the mount (the conformance
/// suite fell back to uploads for 2 checks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mount_challenge_asks_for_the_source_too() {
    let reg = registry().await;
    let d = zoll_oci::Digest::sha256(b"x");
    let r = reg
        .call(
            "POST",
            &format!("/v2/team/target/blobs/uploads/?mount={d}&from=other/source"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate");
    assert!(
        challenge
            .contains("scope=\"repository:team/target:pull,push repository:other/source:pull\""),
        "{challenge}"
    );
    // The token endpoint grants both in one token (space-separated scopes).
    let t = super::token(
        &reg,
        Some(ADMIN),
        "repository:team/target:pull,push%20repository:other/source:pull",
    )
    .await;
    let access = super::token_access(&t);
    assert_eq!(access.as_array().unwrap().len(), 2, "{access}");
}

/// Review finding: every refused pull queued a webhook delivery (with the raw, unbounded
/// path in it) for every webhook of the project, with no budget: any account could fill the
/// database and flood another project's receiver. Refusals over the client's audit budget
/// queue nothing, names outside the grammar are refused before anything is recorded, and a
/// webhook's waiting deliveries are bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_pull_floods_do_not_flood_webhooks() {
    let reg = registry().await;
    super::admin_api(
        &reg,
        "POST",
        "/projects",
        Some(serde_json::json!({"name": "victim"})),
    )
    .await;
    let hook = super::admin_api(
        &reg,
        "POST",
        "/projects/victim/webhooks",
        Some(
            serde_json::json!({"url": "https://hooks.example/zoll", "secret": "0123456789abcdef"}),
        ),
    )
    .await;
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    add_user(&reg, "mallory", "mallory-password").await;
    let long = "a".repeat(5000);
    let r = reg
        .get_as(
            &format!("/v2/victim/{long}/manifests/v1"),
            ("mallory", "mallory-password"),
        )
        .await;
    assert_eq!(r.status, 400, "a name outside the grammar");
    assert_eq!(r.code(), "NAME_INVALID");
    for i in 0..300 {
        let r = reg
            .get_as(
                &format!("/v2/victim/app{i}/manifests/v1"),
                ("mallory", "mallory-password"),
            )
            .await;
        assert_eq!(r.status, 403);
    }
    let queued = reg.store.deliveries(&hook_id, 100_000).await.unwrap().len();
    assert!(queued <= 100, "{queued} deliveries queued for 300 refusals");
    assert!(queued > 0, "refusals within the budget are still announced");
    let records = reg.store.audit_records(0, 1_000_000).await.unwrap();
    assert!(records.iter().all(|r| r.entry.target.len() <= 1100));
    // However many events come, a webhook holds at most its bound of waiting deliveries,
    // and settled ones are pruned.
    for _ in 0..1100 {
        reg.store
            .enqueue_event("victim", "io.zoll.artifact.pushed", "{}")
            .await
            .unwrap();
    }
    let waiting = reg.store.deliveries(&hook_id, 100_000).await.unwrap().len() as u64;
    assert_eq!(waiting, zoll_store::MAX_PENDING_PER_HOOK);
    assert_eq!(
        reg.store.prune_deliveries(i64::MAX).await.unwrap(),
        0,
        "pending ones stay"
    );
}

/// Review finding: concurrent uploads each saw the same free room under the project's
/// quota (a snapshot), so a hundred of them could each store the whole quota. Room is now
/// reserved before and while bytes arrive, serialized per project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_cannot_share_the_same_quota_room() {
    let reg = std::sync::Arc::new(registry().await);
    quota_project(&reg, "q", 1000).await;
    let auth = basic(ADMIN.0, ADMIN.1);
    let uploads = (0..6u8).map(|i| {
        let reg = reg.clone();
        let auth = auth.clone();
        tokio::spawn(async move {
            let content = vec![i; 400];
            let d = zoll_oci::Digest::sha256(&content);
            // Streamed, no Content-Length: the size is known only as it arrives.
            let body = Body::from_stream(futures_util::stream::iter(
                content
                    .chunks(100)
                    .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>(),
            ));
            reg.call(
                "POST",
                &format!("/v2/q/app{i}/blobs/uploads/?digest={d}"),
                &[("authorization", auth.as_str())],
                body,
            )
            .await
            .status
        })
    });
    let statuses: Vec<u16> = futures_util::future::join_all(uploads)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let stored = statuses.iter().filter(|s| **s == 201).count();
    assert!(stored >= 1, "{statuses:?}");
    assert!(
        stored * 400 <= 1000,
        "{stored} uploads of 400 bytes under a 1000-byte quota: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 403),
        "{statuses:?}"
    );
}

/// Review finding: `manage-policies` was delete in disguise — a robot holding only it set
/// `{"keep_last": 0}` and ran retention, deleting every unsigned artifact. Setting a policy
/// or running one for real now needs delete too, and rules that keep nothing are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manage_policies_alone_cannot_delete_through_retention() {
    let reg = registry().await;
    super::admin_api(
        &reg,
        "POST",
        "/projects",
        Some(serde_json::json!({"name": "p"})),
    )
    .await;
    super::push_as_admin(&reg, "p/app", "v1", b"layer").await;
    let robot = super::admin_api(
        &reg,
        "POST",
        "/projects/p/robots",
        Some(serde_json::json!({"name": "policy", "permissions": [{"repositories": "*", "actions": ["manage-policies"]}]})),
    )
    .await;
    let who = (
        robot["name"].as_str().unwrap(),
        robot["secret"].as_str().unwrap(),
    );
    let r = api(
        &reg,
        "PUT",
        "/projects/p/retention",
        who,
        Some(serde_json::json!({"keep_days": 30})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let r = api(
        &reg,
        "POST",
        "/projects/p/retention/run?dry_run=false",
        who,
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    let r = api(&reg, "POST", "/projects/p/retention/run", who, None).await;
    assert_eq!(r.status, 200, "a dry run deletes nothing");
    for policy in [
        serde_json::json!({"keep_last": 0}),
        serde_json::json!({"keep_days": 0}),
        serde_json::json!({"keep_tags": [""]}),
        serde_json::json!({"keep_last": 0, "keep_days": 7}),
    ] {
        let r = api(
            &reg,
            "PUT",
            "/projects/p/retention",
            ADMIN,
            Some(policy.clone()),
        )
        .await;
        assert_eq!(r.status, 400, "{policy}");
    }
    assert_eq!(
        reg.get_as("/v2/p/app/manifests/v1", ADMIN).await.status,
        200
    );
}

/// Review finding: `Content-Range: 0-18446744073709551615` overflowed the chunk length (a
/// panic in debug builds, a wrapped length in release). It is a malformed range now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowing_content_range_is_malformed() {
    let reg = TestRegistry::new().await;
    let r = reg
        .call("POST", "/v2/team/app/blobs/uploads/", &[], Body::empty())
        .await;
    let loc = r.header("location").to_owned();
    for range in ["0-18446744073709551615", "bytes 0-18446744073709551615/*"] {
        let r = reg
            .call("PATCH", &loc, &[("content-range", range)], b"x".to_vec())
            .await;
        assert_eq!(
            r.status,
            416,
            "{range}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.code(), "RANGE_INVALID");
    }
}

/// Review finding: on S3 every empty PATCH stored an empty object and grew the session's
/// part list, which each later request copied and re-read. Empty chunks record nothing now
/// (and a session's chunks are bounded); the upload finishes as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_chunks_record_nothing() {
    let reg = TestRegistry::new().await;
    let r = reg
        .call("POST", "/v2/team/app/blobs/uploads/", &[], Body::empty())
        .await;
    let loc = r.header("location").to_owned();
    for _ in 0..50 {
        let r = reg.call("PATCH", &loc, &[], Body::empty()).await;
        assert_eq!(r.status, 202);
        assert_eq!(r.header("range"), "0-0");
    }
    let content = b"the bytes".to_vec();
    let d = zoll_oci::Digest::sha256(&content);
    let r = reg
        .call("PUT", &format!("{loc}?digest={d}"), &[], content.clone())
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        reg.get(&format!("/v2/team/app/blobs/{d}"))
            .await
            .body
            .as_ref(),
        &content[..]
    );
}
