//! Inside `zoll serve`: the webhook's routes merged into the registry's Router, reading
//! images straight from the store; the Distribution API keeps working beside them.

use std::sync::Arc;

use axum::http::StatusCode;
use zoll_admission::{Settings, UnknownRegistries, Webhook};
use zoll_policy::{Engine, PolicySet};
use zoll_registry::gate::StoreSource;

use crate::support::{Reviewed, World, fixture, post};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounted_on_the_registry_router() {
    let w = World::new().await;
    let app = w.push_signed("prod/app", "v1").await;
    let unsigned = w.push("prod/unsigned", "v1").await;
    let set = PolicySet::load(&w.path("policy.toml")).unwrap();
    let webhook = Webhook::new(
        Arc::new(Engine::new(set)),
        Arc::new(StoreSource::new(w.server.store.clone())),
        Settings::new(
            vec!["zoll.example.com".into(), w.server.addr.clone()],
            UnknownRegistries::Deny,
        ),
    );
    let router = zoll_registry::router(w.server.app.clone()).merge(zoll_admission::router(webhook));

    // Pods name the registry by its public host; the store answers.
    let img = "zoll.example.com/prod/app:v1";
    let r = Reviewed::of(
        post(
            &router,
            "/admission/mutate",
            fixture("job", "s1", [img, img, ""])
                .to_string()
                .into_bytes(),
        )
        .await,
    );
    assert!(r.allowed, "{r:?}");
    let pinned = format!("{img}@{}", app.digest);
    assert_eq!(
        r.patch.unwrap()[1]["value"],
        serde_json::Value::String(pinned)
    );
    let bad = "zoll.example.com/prod/unsigned:v1";
    let r = Reviewed::of(
        post(
            &router,
            "/admission/validate",
            fixture("job", "s2", [bad, img, ""])
                .to_string()
                .into_bytes(),
        )
        .await,
    );
    assert_eq!(
        r.message,
        format!(
            "zoll denied this Job: container 'app' ({bad}): stage 'ci' has not signed {}",
            unsigned.digest
        )
    );

    // The registry's own endpoints are still there.
    let resp = tower::ServiceExt::oneshot(
        router,
        axum::http::Request::get("/v2/")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
