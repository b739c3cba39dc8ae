//! Publish and garbage collection: a blob is visible only once its bytes matched their
//! digest, and a push racing garbage collection never ends with a linked blob whose bytes
//! are gone.

use std::sync::Arc;
use std::time::Duration;

use zoll_oci::Digest;
use zoll_store::{GcOptions, StoreError};

use crate::{body, open, read_all, repo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_is_published_only_when_its_bytes_match() {
    let o = open().await;
    let store = Arc::new(o.store);
    let r = repo("team/app");
    let content = zoll_testkit::pseudo_random(1, 3 << 20);
    let d = Digest::sha256(&content);

    // Wrong bytes for the digest: nothing is published, nothing is left linked.
    let wrong = zoll_testkit::pseudo_random(2, 3 << 20);
    let err = store
        .put_blob(&r, &d, body(&wrong, 7), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(store.blob_size(&r, &d).await.is_err());

    // The right bytes, in odd pieces: published, and read back exactly.
    assert_eq!(
        store
            .put_blob(&r, &d, body(&content, 7), None)
            .await
            .unwrap(),
        3 << 20
    );
    assert_eq!(store.blob_size(&r, &d).await.unwrap(), 3 << 20);
    assert!(read_all(&store, &d, 3 << 20).await == content);

    // A chunked session: status follows the appends, a wrong start is refused.
    let id = store.start_upload(&r).await.unwrap();
    let (a, b) = content.split_at(1_000_000);
    assert_eq!(
        store
            .append_upload(&r, &id, None, body(a, 3), None)
            .await
            .unwrap(),
        1_000_000
    );
    assert_eq!(store.upload_status(&r, &id).await.unwrap(), 1_000_000);
    let wrong_start = store
        .append_upload(&r, &id, Some((5, b.len() as u64)), body(b, 1), None)
        .await
        .unwrap_err();
    assert!(matches!(
        wrong_start,
        StoreError::RangeMismatch {
            expected: 1_000_000,
            got: 5
        }
    ));
    let other = repo("team/other");
    let size = store
        .finish_upload(&other, &id, &d, None, body(b, 5), None)
        .await;
    assert!(
        size.is_err(),
        "a session is finished only in its own repository"
    );
    let size = store
        .finish_upload(&r, &id, &d, None, body(b, 5), None)
        .await
        .unwrap();
    assert_eq!(size, 3 << 20);
    assert!(
        store.upload_status(&r, &id).await.is_err(),
        "the session ended"
    );
}

/// Garbage collection with no grace, two runs at once, against pushes of the same
/// unreferenced blob: after every round, a push that succeeded left a blob that is linked
/// and reads back whole. (Two runs at once once let the second finish the first's claim as
/// "interrupted" and the first then delete bytes a push had just published.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collection_never_takes_a_blob_a_push_just_published() {
    let o = open().await;
    let store = Arc::new(o.store);
    let r = repo("team/app");
    let content = zoll_testkit::pseudo_random(3, 200_000);
    let d = Digest::sha256(&content);
    let gc = GcOptions {
        grace: Duration::ZERO,
        dry_run: false,
        untagged: false,
    };
    let mut kept_by_push = 0;
    for round in 0..60 {
        let pushing = {
            let (store, r, d, content) = (store.clone(), r.clone(), d.clone(), content.clone());
            tokio::spawn(async move { store.put_blob(&r, &d, body(&content, 4), None).await })
        };
        // Two collectors, as two replicas' schedules (or a schedule and `zoll gc`) run them.
        let collecting: Vec<_> = (0..2)
            .map(|_| {
                let (store, gc) = (store.clone(), gc.clone());
                tokio::spawn(async move { store.gc(&gc).await })
            })
            .collect();
        let pushed = pushing.await.unwrap();
        for c in collecting {
            kept_by_push += c.await.unwrap().unwrap().kept_by_push;
        }
        match pushed {
            Ok(size) => {
                // Linked now: its bytes must all be there, whatever the collector did —
                // unless a later round's collector took it, which this round cannot see.
                assert_eq!(size, 200_000);
                if let Ok(n) = store.blob_size(&r, &d).await {
                    assert!(read_all(&store, &d, n).await == content, "round {round}");
                }
            }
            Err(StoreError::Busy(_)) => {} // the collector held it: push again
            Err(e) => panic!("round {round}: {e}"),
        }
    }
    // A final push after the last collection: linked and whole.
    store
        .put_blob(&r, &d, body(&content, 4), None)
        .await
        .unwrap();
    assert!(read_all(&store, &d, 200_000).await == content);
    eprintln!("pushes that kept a blob from the collector: {kept_by_push}");
}
