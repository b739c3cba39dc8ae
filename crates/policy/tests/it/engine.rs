//! The engine's cache (by digest, signature set and policy version) and the coalescing of
//! identical concurrent questions.

use std::sync::Arc;
use std::time::Duration;

use zoll_oci::Digest;
use zoll_policy::scan::BoxFuture;
use zoll_policy::{ClientSource, Engine, EngineStats, Gate, NoScanner, Target};

use crate::support::{CI_POLICY, LEGACY, OnManifest, Tampered, World, sign};

#[tokio::test]
async fn decisions_are_cached_until_signatures_or_the_policy_change() {
    let w = World::new().await;
    let ci = w.signer("ci", "CI");
    let engine = Engine::new(w.policy(CI_POLICY));
    let (repo, img) = w.push("app", "v1").await;
    let stats = |computed, cache_hits| EngineStats {
        computed,
        cache_hits,
        coalesced: 0,
    };
    assert!(!w.decide(&engine, Gate::Pull, "app", &img).await.allowed);
    assert!(!w.decide(&engine, Gate::Pull, "app", &img).await.allowed);
    assert_eq!(engine.stats(), stats(1, 1));
    // Another gate is another question.
    w.decide(&engine, Gate::Admission, "app", &img).await;
    assert_eq!(engine.stats(), stats(2, 1));
    // A new signature changes the signature set: recomputed, now allowed.
    sign(&repo, &img, &ci, LEGACY, &[("stage", "ci")]).await;
    assert!(w.decide(&engine, Gate::Pull, "app", &img).await.allowed);
    assert!(w.decide(&engine, Gate::Pull, "app", &img).await.allowed);
    assert_eq!(engine.stats(), stats(3, 2));
    // A new policy (another stage name): recomputed, denied again.
    let before = engine.policy().version.clone();
    let qa = CI_POLICY.replace("stages = [\"ci\"]\n", "stages = [\"qa\"]\n")
        + "[stages.qa]\nidentities = [\"ci\"]\n";
    engine.replace(w.policy(&qa));
    assert_ne!(engine.policy().version, before);
    let d = w.decide(&engine, Gate::Pull, "app", &img).await;
    assert_eq!(
        d.reason(),
        format!("stage 'qa' has not signed {}", img.digest)
    );
    assert_eq!(engine.stats(), stats(4, 2));
}

#[tokio::test]
async fn identical_concurrent_questions_are_computed_once() {
    let w = World::new().await;
    let ci = w.signer("ci", "CI");
    // No cache at all: only coalescing can share work.
    let engine = Arc::new(Engine::with(
        w.policy(CI_POLICY),
        Arc::new(NoScanner),
        Duration::ZERO,
    ));
    let (repo, img) = w.push("app", "v1").await;
    sign(&repo, &img, &ci, LEGACY, &[("stage", "ci")]).await;
    // The real client source, slowed down so that concurrent questions overlap.
    let source = Arc::new(Tampered::new(
        ClientSource::new(Default::default()),
        OnManifest::Wait(Duration::from_millis(300)),
    ));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (engine, source, img, addr) = (
            engine.clone(),
            source.clone(),
            img.clone(),
            w.server.addr.clone(),
        );
        tasks.push(tokio::spawn(async move {
            engine
                .decide(
                    Target {
                        gate: Gate::Admission,
                        registry: &addr,
                        repository: "app",
                        subject: &img,
                    },
                    source.as_ref(),
                )
                .await
                .unwrap()
                .allowed
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap());
    }
    assert_eq!(
        engine.stats(),
        EngineStats {
            computed: 1,
            cache_hits: 0,
            coalesced: 7
        }
    );
    // Without a cache, the next question is computed again.
    w.decide(&engine, Gate::Admission, "app", &img).await;
    assert_eq!(engine.stats().computed, 2);
}

/// Stands in for the registry's scan results until `done` is set: "no finished scan" as a
/// failed condition, or (with `unavailable`) as evidence not there yet.
struct ScanState {
    done: std::sync::atomic::AtomicBool,
    unavailable: bool,
}

impl zoll_policy::ScanGate for ScanState {
    fn check<'a>(
        &'a self,
        _repository: &'a str,
        subject: &'a Digest,
        _condition: &'a zoll_policy::ScanCondition,
    ) -> BoxFuture<'a, zoll_policy::ScanVerdict> {
        let done = self.done.load(std::sync::atomic::Ordering::SeqCst);
        let unavailable = self.unavailable;
        Box::pin(async move {
            let reason = format!("{subject} has no finished scan");
            match (done, unavailable) {
                (true, _) => zoll_policy::ScanVerdict::Met,
                (false, true) => zoll_policy::ScanVerdict::Unavailable { reason },
                (false, false) => zoll_policy::ScanVerdict::NotMet {
                    reason,
                    causes: vec![],
                },
            }
        })
    }
}

#[tokio::test]
async fn a_cached_scan_refusal_ends_when_the_scan_attaches_its_report() {
    let w = World::new().await;
    let scanner = w.signer("scanner", "Scanner");
    let state = Arc::new(ScanState {
        done: false.into(),
        unavailable: false,
    });
    // A policy of scan conditions alone (no stage, no signature) and an hour-long cache.
    let policy = "version = 1\n[[policy]]\nname = \"scanned\"\nrepositories = [\"app\"]\n\
                  scan = { lint_below = \"FATAL\" }\n";
    let engine = Engine::with(w.policy(policy), state.clone(), Duration::from_secs(3600));
    let (repo, img) = w.push("app", "v1").await;
    let d = w.decide(&engine, Gate::Pull, "app", &img).await;
    assert!(d.reason().contains("no finished scan"), "{}", d.explain());
    // The scan finishes: its report becomes a referrer of the image, which is part of the
    // decision's key, so the refusal is not answered from the cache any more.
    state.done.store(true, std::sync::atomic::Ordering::SeqCst);
    zoll_trust::image::attest(
        &repo,
        Some(&zoll_oci::Reference::Digest(img.digest.clone())),
        &scanner.key,
        "https://cyclonedx.org/bom",
        serde_json::json!({"bomFormat": "CycloneDX"}),
    )
    .await
    .unwrap();
    let d = w.decide(&engine, Gate::Pull, "app", &img).await;
    assert!(d.allowed, "{}", d.explain());
}

/// Holds every scan question until released, counting how many are open at once.
#[derive(Default)]
struct Gatekeeper {
    open: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    release: tokio::sync::Notify,
    released: std::sync::atomic::AtomicBool,
}

impl zoll_policy::ScanGate for Gatekeeper {
    fn check<'a>(
        &'a self,
        _repository: &'a str,
        _subject: &'a Digest,
        _condition: &'a zoll_policy::ScanCondition,
    ) -> BoxFuture<'a, zoll_policy::ScanVerdict> {
        use std::sync::atomic::Ordering::SeqCst;
        Box::pin(async move {
            let now = self.open.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            let released = self.release.notified();
            if !self.released.load(SeqCst) {
                released.await;
            }
            self.open.fetch_sub(1, SeqCst);
            zoll_policy::ScanVerdict::Met
        })
    }
}

/// One decision may hold `MAX_EVIDENCE` bytes of evidence, so many first pulls of distinct
/// images at once must not each compute a decision at the same time: at most
/// `MAX_CONCURRENT_DECISIONS` are under way, the rest wait their turn and then finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_decisions_are_computed_a_few_at_a_time() {
    use std::sync::atomic::Ordering::SeqCst;
    let w = World::new().await;
    let scans = Arc::new(Gatekeeper::default());
    let engine = Arc::new(Engine::with(
        w.policy(
            "version = 1\n[[policy]]\nname = \"scanned\"\nrepositories = [\"app\"]\n\
             scan = { lint_below = \"FATAL\" }\n",
        ),
        scans.clone(),
        Duration::ZERO,
    ));
    let n = zoll_policy::MAX_CONCURRENT_DECISIONS * 3;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (_, img) = w.push("app", &format!("v{i}")).await;
        let (engine, addr) = (engine.clone(), w.server.addr.clone());
        tasks.push(tokio::spawn(async move {
            let source = ClientSource::new(Default::default());
            engine
                .decide(
                    Target {
                        gate: Gate::Admission,
                        registry: &addr,
                        repository: "app",
                        subject: &img,
                    },
                    &source,
                )
                .await
                .unwrap()
                .allowed
        }));
    }
    // Wait until the first decisions hold their turns, then give the rest time to pile in.
    while scans.open.load(SeqCst) < zoll_policy::MAX_CONCURRENT_DECISIONS {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        scans.most.load(SeqCst),
        zoll_policy::MAX_CONCURRENT_DECISIONS
    );
    scans.released.store(true, SeqCst);
    scans.release.notify_waiters();
    for t in tasks {
        assert!(t.await.unwrap());
    }
    assert_eq!(engine.stats().computed, n as u64);
    assert_eq!(
        scans.most.load(SeqCst),
        zoll_policy::MAX_CONCURRENT_DECISIONS
    );
}

/// A decision made while a scan was still running is not cached: the scan can finish (its
/// reports attached a moment before) without changing the cache key, and a cached "no
/// finished scan" kept the image refused for the whole TTL (a flaky CLI test found it).
#[tokio::test]
async fn a_decision_without_a_finished_scan_is_not_cached() {
    let w = World::new().await;
    let scans = Arc::new(ScanState {
        done: false.into(),
        unavailable: true,
    });
    let engine = Engine::with(
        w.policy(
            "version = 1\n[[policy]]\nname = \"scanned\"\nrepositories = [\"app\"]\n\
             scan = { lint_below = \"FATAL\" }\n",
        ),
        scans.clone(),
        Duration::from_secs(3600),
    );
    let (_, img) = w.push("app", "v1").await;
    let d = w.decide(&engine, Gate::Pull, "app", &img).await;
    assert!(
        !d.allowed && d.reason().contains("no finished scan"),
        "{}",
        d.reason()
    );
    scans.done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(w.decide(&engine, Gate::Pull, "app", &img).await.allowed);
    // A decision on finished evidence is cached as before.
    assert!(w.decide(&engine, Gate::Pull, "app", &img).await.allowed);
    assert_eq!(engine.stats().cache_hits, 1);
}
