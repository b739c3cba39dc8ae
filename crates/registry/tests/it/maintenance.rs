//! Online garbage collection and scrub, against the real Router and store.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zoll_oci::Digest;
use zoll_stdx::time::{Clock, ManualClock};
use zoll_store::GcOptions;

use crate::harness::{OCI_MANIFEST, TestRegistry, image_manifest, metric};
use crate::stored;

fn gc_now() -> GcOptions {
    GcOptions {
        grace: Duration::ZERO,
        dry_run: false,
        untagged: false,
    }
}

#[tokio::test]
async fn gc_removes_unreferenced_blobs_after_the_grace_window() {
    let reg = TestRegistry::new().await;
    let (m, _) = reg.push_image("r", "v1", b"kept layer").await;
    let orphan = reg.push_blob("r", b"never referenced").await;
    let (doomed, _) = reg.push_image("s", "v1", b"layer of a deleted image").await;
    let doomed_layer = Digest::sha256(b"layer of a deleted image");
    assert_eq!(
        reg.call("DELETE", &format!("/v2/s/manifests/{doomed}"), &[], vec![])
            .await
            .status,
        202
    );

    // Inside the grace window nothing goes.
    let r = reg
        .store
        .gc(&GcOptions {
            grace: Duration::from_secs(3600),
            dry_run: false,
            untagged: false,
        })
        .await
        .unwrap();
    assert!(r.collected.is_empty(), "{r:?}");

    // A dry run reports without removing.
    let dry = reg
        .store
        .gc(&GcOptions {
            grace: Duration::ZERO,
            dry_run: true,
            untagged: false,
        })
        .await
        .unwrap();
    let mut reported: Vec<String> = dry.collected.iter().map(|c| c.digest.clone()).collect();
    reported.sort();
    let mut expected = vec![orphan.to_string(), doomed_layer.to_string()];
    expected.sort();
    assert_eq!(reported, expected);
    assert!(stored::digests(&reg).await.contains(orphan.as_str()));

    let r = reg.store.gc(&gc_now()).await.unwrap();
    assert_eq!(r.collected.len(), 2);
    assert_eq!(
        r.bytes(),
        (b"never referenced".len() + b"layer of a deleted image".len()) as u64
    );
    let files = stored::digests(&reg).await;
    assert!(!files.contains(orphan.as_str()) && !files.contains(doomed_layer.as_str()));
    assert_eq!(reg.get(&format!("/v2/r/blobs/{orphan}")).await.status, 404);
    // Two runs that removed something or nothing are counted; the dry run is not.
    let page = reg.metrics(None).await;
    assert_eq!(metric(&page, "zoll_gc_runs_total"), 2);
    assert_eq!(metric(&page, "zoll_gc_runs_failed_total"), 0);
    assert_eq!(metric(&page, "zoll_gc_blobs_removed_total"), 2);
    assert_eq!(metric(&page, "zoll_gc_bytes_removed_total"), r.bytes());
    assert_eq!(metric(&page, "zoll_gc_manifests_removed_total"), 0);
    // The config blob is shared by both images and still referenced by r:v1.
    let pulled = reg.get(&format!("/v2/r/manifests/{m}")).await;
    let manifest: serde_json::Value = pulled.json();
    for d in [
        &manifest["config"]["digest"],
        &manifest["layers"][0]["digest"],
    ] {
        assert_eq!(
            reg.get(&format!("/v2/r/blobs/{}", d.as_str().unwrap()))
                .await
                .status,
            200
        );
    }
    // Pushing a collected blob again works.
    reg.push_blob("r", b"never referenced").await;
    assert_eq!(reg.get(&format!("/v2/r/blobs/{orphan}")).await.status, 200);
}

#[tokio::test]
async fn a_push_racing_gc_fails_cleanly_then_succeeds() {
    let reg = TestRegistry::new().await;
    let config = reg.push_blob("r", b"{}").await;
    let layer = reg.push_blob("r", b"uploaded, not yet referenced").await;
    reg.store.gc(&gc_now()).await.unwrap();
    // The layers were collected before the manifest arrived: the push is refused, nothing
    // half-visible is left, and uploading again completes it.
    let m = image_manifest(&config, 2, &[(&layer, 28)], None);
    let r = reg.put_manifest("r", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    assert_eq!(reg.get("/v2/r/manifests/v1").await.status, 404);
    reg.push_blob("r", b"{}").await;
    reg.push_blob("r", b"uploaded, not yet referenced").await;
    assert_eq!(
        reg.put_manifest("r", "v1", OCI_MANIFEST, &m).await.status,
        201
    );
    reg.store.gc(&gc_now()).await.unwrap();
    assert_eq!(reg.get(&format!("/v2/r/blobs/{layer}")).await.status, 200);
}

/// Pushes (with retries when GC took an unreferenced layer first), deletes and GC run
/// concurrently; every acknowledged manifest that was not deleted stays pullable with all its
/// blobs, and a final GC leaves exactly the referenced blobs in storage. GC runs with an
/// hour's grace on the test's clock, and every fifth push lets the clock pass that window
/// between uploading its layers and pushing its manifest, and a collection run, so GC does
/// get to those layers first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_soak_with_concurrent_pushes_and_deletes() {
    const WORKERS: u64 = 4;
    // 520 pushes in all; ZOLL_SOAK_PUSHES asks for a longer run by hand.
    let pushes_per_worker: u64 = std::env::var("ZOLL_SOAK_PUSHES")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
        .map_or(130, |n| n.div_ceil(WORKERS));
    // The store's clock is the test's: the grace window is an hour that passes when the
    // test says so, whatever the machine's speed.
    const GRACE: Duration = Duration::from_secs(3600);
    let clock = Arc::new(ManualClock::at(zoll_stdx::time::now_ms()));
    let store_clock = clock.clone() as Arc<dyn Clock>;
    let reg = Arc::new(TestRegistry::with(|config, _| config.clock = store_clock).await);
    /// (repository, manifest digest, its blobs) of pushes acknowledged and not deleted.
    type Live = Vec<(String, String, Vec<Digest>)>;
    let live: Arc<Mutex<Live>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let gc = {
        let (reg, stop) = (reg.clone(), stop.clone());
        tokio::spawn(async move {
            let opts = GcOptions {
                grace: GRACE,
                dry_run: false,
                untagged: false,
            };
            let mut runs = 0;
            let mut collected = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                collected += reg.store.gc(&opts).await.unwrap().collected.len();
                runs += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (runs, collected)
        })
    };
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (reg, live, clock) = (reg.clone(), live.clone(), clock.clone());
        workers.push(tokio::spawn(async move {
            let mut retries = 0;
            for i in 0..pushes_per_worker {
                let repo = format!("soak/w{w}");
                let shared = b"base layer shared by every image".to_vec();
                let own = zoll_testkit::pseudo_random(w * 1000 + i, 2000);
                let config = format!(r#"{{"w":{w},"i":{i}}}"#).into_bytes();
                for attempt in 0.. {
                    assert!(attempt < 20, "push starved by GC");
                    let c = reg.push_blob(&repo, &config).await;
                    let s = reg.push_blob(&repo, &shared).await;
                    let o = reg.push_blob(&repo, &own).await;
                    if i % 5 == 0 && attempt == 0 {
                        // A slow client: the grace window passes before its manifest, and
                        // a collection gets to its layers first.
                        clock.advance(GRACE * 2);
                        let opts = GcOptions {
                            grace: GRACE,
                            dry_run: false,
                            untagged: false,
                        };
                        reg.store.gc(&opts).await.unwrap();
                    }
                    let m = image_manifest(
                        &c,
                        config.len(),
                        &[(&s, shared.len()), (&o, own.len())],
                        None,
                    );
                    let tag = format!("t{i}");
                    let r = reg.put_manifest(&repo, &tag, OCI_MANIFEST, &m).await;
                    match r.status {
                        201 => {
                            let d = r.header("docker-content-digest").to_owned();
                            live.lock().unwrap().push((repo.clone(), d, vec![c, s, o]));
                            break;
                        }
                        400 if r.code() == "MANIFEST_BLOB_UNKNOWN" => retries += 1,
                        other => panic!("push answered {other}: {:?}", r.body),
                    }
                }
                // Every third image is deleted again, making its own layer garbage.
                if i % 3 == 2 {
                    let (repo, d, _) = live.lock().unwrap().pop().unwrap();
                    let r = reg
                        .call("DELETE", &format!("/v2/{repo}/manifests/{d}"), &[], vec![])
                        .await;
                    assert_eq!(r.status, 202);
                }
            }
            retries
        }));
    }
    let mut retries = 0;
    for w in workers {
        retries += w.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (gc_runs, gc_collected) = gc.await.unwrap();
    eprintln!(
        "soak: {} pushes, {retries} retried after GC took their layers, {gc_runs} GC runs \
         removed {gc_collected} blobs",
        WORKERS * pushes_per_worker
    );
    assert!(gc_runs >= 5, "GC barely ran ({gc_runs} runs)");
    assert!(
        retries > 0,
        "GC never raced a push: the soak tested nothing"
    );

    let live = live.lock().unwrap().clone();
    let mut referenced = BTreeSet::new();
    for (repo, d, blobs) in &live {
        assert_eq!(
            reg.get(&format!("/v2/{repo}/manifests/{d}")).await.status,
            200
        );
        for b in blobs {
            let r = reg.get(&format!("/v2/{repo}/blobs/{b}")).await;
            assert_eq!(r.status, 200, "blob {b} of live manifest {d} lost");
            referenced.insert(b.to_string());
        }
    }
    // Past the grace window, everything unreferenced goes.
    clock.advance(GRACE + Duration::from_millis(1));
    reg.store
        .gc(&GcOptions {
            grace: GRACE,
            dry_run: false,
            untagged: false,
        })
        .await
        .unwrap();
    assert_eq!(
        stored::digests(&reg).await,
        referenced,
        "storage holds exactly the referenced blobs"
    );
}

#[tokio::test]
async fn scrub_quarantines_damaged_blobs_and_a_push_heals_them() {
    let reg = TestRegistry::new().await;
    let content = zoll_testkit::pseudo_random(5, 100_000);
    let (_, _) = reg.push_image("r", "v1", &content).await;
    let layer = Digest::sha256(&content);
    let clean = reg.store.scrub().await.unwrap();
    assert_eq!((clean.checked, clean.quarantined.len()), (2, 0));

    let mut bytes = stored::read(&reg, &layer).await.unwrap();
    bytes[500] ^= 0x40;
    stored::overwrite(&reg, &layer, bytes.clone()).await;
    let report = reg.store.scrub().await.unwrap();
    assert_eq!(report.quarantined, vec![layer.to_string()]);
    assert!(stored::read(&reg, &layer).await.is_none());
    let kept = stored::quarantined(&reg, &layer).await;
    assert_eq!(kept, Some(bytes), "damaged bytes kept for inspection");

    // A pull fails cleanly instead of returning wrong bytes.
    let r = reg.get(&format!("/v2/r/blobs/{layer}")).await;
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
    // GC does not take quarantined blobs' rows away from under a re-push.
    reg.store.gc(&gc_now()).await.unwrap();
    reg.push_blob("r", &content).await;
    assert_eq!(
        reg.get(&format!("/v2/r/blobs/{layer}")).await.body.as_ref(),
        content.as_slice()
    );
    assert_eq!(reg.store.scrub().await.unwrap().quarantined.len(), 0);
}

fn gc_untagged(dry_run: bool) -> GcOptions {
    GcOptions {
        grace: Duration::ZERO,
        dry_run,
        untagged: true,
    }
}

/// Pushes an image by digest only (no tag); returns its digest.
async fn push_untagged(
    reg: &TestRegistry,
    repo: &str,
    layer: &[u8],
    subject: Option<&Digest>,
) -> Digest {
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let c = reg.push_blob(repo, config).await;
    let l = reg.push_blob(repo, layer).await;
    let subject = match subject {
        Some(d) => {
            let size = reg
                .get(&format!("/v2/{repo}/manifests/{d}"))
                .await
                .body
                .len();
            Some(serde_json::json!({"mediaType": OCI_MANIFEST, "digest": d, "size": size}))
        }
        None => None,
    };
    let m = image_manifest(&c, config.len(), &[(&l, layer.len())], subject);
    let d = Digest::sha256(&serde_json::to_vec(&m).unwrap());
    let r = reg.put_manifest(repo, d.as_str(), OCI_MANIFEST, &m).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    d
}

#[tokio::test]
async fn untagged_manifests_and_their_referrers_are_collected_by_policy() {
    let reg = TestRegistry::new().await;
    let (tagged, _) = reg.push_image("u", "v1", b"tagged layer").await;
    let untagged = push_untagged(&reg, "u", b"untagged layer", None).await;
    let signature = push_untagged(&reg, "u", b"signature of the untagged", Some(&untagged)).await;
    let kept_sig = push_untagged(&reg, "u", b"signature of the tagged", Some(&tagged)).await;
    // An index (tagged) listing an untagged child: the child stays.
    let child = push_untagged(&reg, "u", b"child layer", None).await;
    let child_size = reg
        .get(&format!("/v2/u/manifests/{child}"))
        .await
        .body
        .len();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::harness::OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": child_size}],
    });
    let r = reg
        .put_manifest("u", "multi", crate::harness::OCI_INDEX, &index)
        .await;
    assert_eq!(r.status, 201);

    // Off by default: nothing but blobs is considered.
    assert!(reg.store.gc(&gc_now()).await.unwrap().manifests.is_empty());
    // A dry run names the untagged image only (its signature goes in a later round).
    let dry = reg.store.gc(&gc_untagged(true)).await.unwrap();
    let named: Vec<&str> = dry.manifests.iter().map(|m| m.digest.as_str()).collect();
    assert_eq!(named, vec![untagged.as_str()]);
    assert_eq!(
        reg.get(&format!("/v2/u/manifests/{untagged}")).await.status,
        200
    );

    let real = reg.store.gc(&gc_untagged(false)).await.unwrap();
    let mut removed: Vec<String> = real.manifests.iter().map(|m| m.digest.clone()).collect();
    removed.sort();
    let mut expected = vec![untagged.to_string(), signature.to_string()];
    expected.sort();
    assert_eq!(removed, expected);
    for gone in [&untagged, &signature] {
        assert_eq!(
            reg.get(&format!("/v2/u/manifests/{gone}")).await.status,
            404
        );
    }
    for kept in [&tagged, &kept_sig, &child] {
        assert_eq!(
            reg.get(&format!("/v2/u/manifests/{kept}")).await.status,
            200
        );
    }
    // The layers only the removed manifests used went in the same run.
    let only_untagged = Digest::sha256(b"untagged layer");
    assert!(
        real.collected
            .iter()
            .any(|c| c.digest == only_untagged.as_str())
    );
    assert_eq!(
        reg.get(&format!("/v2/u/blobs/{only_untagged}"))
            .await
            .status,
        404
    );
    let refs = reg.get(&format!("/v2/u/referrers/{untagged}")).await.json();
    assert_eq!(refs["manifests"], serde_json::json!([]));
}

#[tokio::test]
async fn usage_is_exact_after_delete_and_gc() {
    let reg = TestRegistry::new().await;
    let config_len = br#"{"architecture":"amd64","os":"linux"}"#.len() as u64;
    let (a, a_len) = reg
        .push_image("team/a", "v1", b"layer of a, 20 bytes")
        .await;
    let (_, b_len) = reg.push_image("team/b", "v1", b"layer of b").await;
    reg.push_image("other/c", "v1", b"not in the team project")
        .await;
    // The same image again in team/b: its blobs count once.
    reg.push_image("team/b", "again", b"layer of a, 20 bytes")
        .await;
    reg.push_blob("team/a", b"uploaded, never referenced").await;

    let usage = reg.store.usage("team").await.unwrap();
    assert_eq!(usage.blobs, 3, "{usage:?}");
    assert_eq!(usage.blob_bytes, config_len + 20 + 10);
    assert_eq!(usage.manifests, 3);
    assert_eq!(usage.manifest_bytes, (2 * a_len + b_len) as u64);
    assert_eq!(reg.store.usage("team/b").await.unwrap().blobs, 3);
    assert_eq!(
        reg.store.usage("tea").await.unwrap(),
        zoll_store::Usage::default()
    );

    let r = reg
        .call("DELETE", &format!("/v2/team/a/manifests/{a}"), &[], vec![])
        .await;
    assert_eq!(r.status, 202);
    let after_delete = reg.store.usage("team").await.unwrap();
    // team/b still references the same layer: only a's manifest is gone.
    assert_eq!(after_delete.blob_bytes, usage.blob_bytes);
    assert_eq!(
        after_delete.manifest_bytes,
        usage.manifest_bytes - a_len as u64
    );
    reg.store.gc(&gc_now()).await.unwrap();
    assert_eq!(reg.store.usage("team").await.unwrap(), after_delete);
    // Deleting the last reference makes the bytes leave the count at once.
    let again = reg.get("/v2/team/b/manifests/again").await;
    let d = again.header("docker-content-digest").to_owned();
    reg.call("DELETE", &format!("/v2/team/b/manifests/{d}"), &[], vec![])
        .await;
    let last = reg.store.usage("team").await.unwrap();
    assert_eq!(last.blob_bytes, config_len + 10);
    reg.store.gc(&gc_now()).await.unwrap();
    assert_eq!(reg.store.usage("team").await.unwrap(), last);
}
