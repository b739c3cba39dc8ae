//! Decisions are cached by digest, signature set and policy version: a repeated review is
//! answered from the cache; a new signature or a changed policy file is seen at once;
//! identical concurrent questions are asked once.

use std::time::Duration;

use crate::support::{POLICY, World, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_hits_and_invalidation() {
    let w = World::new().await;
    let app = w.push("prod/app", "v1").await;
    let img = w.image("prod/app:v1");
    // One image in both containers: one question per review.
    let review = fixture("pod", "c1", [&img, &img, ""]);
    let before = w.webhook.stats().engine;

    let r = w.validate(&review).await;
    assert!(!r.allowed, "unsigned: {r:?}");
    let s = w.webhook.stats().engine;
    assert_eq!(
        (s.computed, s.cache_hits),
        (before.computed + 1, before.cache_hits)
    );

    // The same review again: from the cache.
    let r = w.validate(&review).await;
    assert!(!r.allowed);
    let s2 = w.webhook.stats().engine;
    assert_eq!((s2.computed, s2.cache_hits), (s.computed, s.cache_hits + 1));

    // A signature is added: the signature set changed, so the decision is made again.
    w.sign_with("prod/app", &app, &w.ci, "ci").await;
    let r = w.validate(&review).await;
    assert!(r.allowed, "signed now: {r:?}");
    let s3 = w.webhook.stats().engine;
    assert_eq!(
        (s3.computed, s3.cache_hits),
        (s2.computed + 1, s2.cache_hits)
    );
    assert!(w.validate(&review).await.allowed);
    let s4 = w.webhook.stats().engine;
    assert_eq!(
        (s4.computed, s4.cache_hits),
        (s3.computed, s3.cache_hits + 1)
    );

    // The policy file changes (a second stage is required); the watcher hands it over.
    let watcher = tokio::spawn(zoll_admission::watch_policy(
        w.webhook.engine().clone(),
        w.path("policy.toml"),
        Duration::from_millis(50),
    ));
    let old_version = w.webhook.engine().policy().version.clone();
    let stricter = POLICY
        .replace(
            "[stages.ci]",
            "[stages.scan]\nidentities = [\"ci\"]\n[stages.ci]",
        )
        .replace("stages = [\"ci\"]", "stages = [\"ci\", \"scan\"]");
    std::fs::write(w.path("policy.toml"), stricter).unwrap();
    let mut waited = 0;
    while w.webhook.engine().policy().version == old_version {
        assert!(waited < 200, "the policy watcher did not reload");
        tokio::time::sleep(Duration::from_millis(25)).await;
        waited += 1;
    }
    watcher.abort();
    let r = w.validate(&review).await;
    assert_eq!(
        r.message,
        format!(
            "zoll denied this Pod: init container 'setup' ({img}): stage 'scan' has not signed {d}; \
             container 'app' ({img}): stage 'scan' has not signed {d}",
            d = app.digest
        )
    );
    let s5 = w.webhook.stats().engine;
    assert_eq!(
        (s5.computed, s5.cache_hits),
        (s4.computed + 1, s4.cache_hits)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_reviews_are_coalesced() {
    let w = World::new().await;
    w.push_signed("prod/app", "v1").await;
    w.push_signed("prod/init", "v1").await;
    let (app, init) = (w.image("prod/app:v1"), w.image("prod/init:v1"));
    let review = fixture("deployment", "c2", [&app, &init, ""]);
    let before = w.webhook.stats();
    let answers = futures_util::future::join_all((0..8).map(|_| w.validate(&review))).await;
    assert!(answers.iter().all(|r| r.allowed), "{answers:?}");
    let after = w.webhook.stats();
    // Two images, each decided once for all eight reviews: the other fourteen questions
    // waited for a computation in flight or (on a slow backend, arriving after it ended)
    // were answered from the cache.
    assert_eq!(after.engine.computed, before.engine.computed + 2);
    let coalesced = after.coalesced_images - before.coalesced_images;
    let hits = after.engine.cache_hits - before.engine.cache_hits;
    assert_eq!(
        coalesced + hits,
        14,
        "coalesced {coalesced}, cache hits {hits}"
    );
    assert!(coalesced > 0, "nothing was coalesced");
}
