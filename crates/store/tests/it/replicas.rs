//! Replicas share PostgreSQL and S3 and nothing else: an upload session started on one
//! replica continues and finishes on another, and what one publishes the other serves.

use std::sync::Arc;

use zoll_oci::Digest;
use zoll_store::Store;

use crate::{body, read_all, repo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_moves_between_replicas() {
    if std::env::var("ZOLL_TEST_POSTGRES_URL").is_err()
        || std::env::var("ZOLL_TEST_S3_ENDPOINT").is_err()
    {
        // scripts/test.sh always starts both; a bare `cargo test` may not have them.
        eprintln!("no PostgreSQL or S3 test server: replicas not tested");
        return;
    }
    let backends = zoll_testkit::Backends::shared();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let open = |dir: &std::path::Path| {
        let mut config = backends.store_config(dir);
        config.scan_on_push = false;
        Store::open(config)
    };
    let a = Arc::new(open(dir_a.path()).await.unwrap());
    let b = Arc::new(open(dir_b.path()).await.unwrap());
    let r = repo("team/app");
    let content = zoll_testkit::pseudo_random(9, (2 << 20) + 12_345);
    let d = Digest::sha256(&content);
    let (first, rest) = content.split_at(1 << 20);
    let (second, last) = rest.split_at(700_000);

    let id = a.start_upload(&r).await.unwrap();
    a.append_upload(&r, &id, None, body(first, 3), None)
        .await
        .unwrap();
    // The other replica has no running hash for this session: it knows the offset from
    // the database and hashes the staged chunks again at the end.
    assert_eq!(b.upload_status(&r, &id).await.unwrap(), 1 << 20);
    b.append_upload(
        &r,
        &id,
        Some((1 << 20, second.len() as u64)),
        body(second, 2),
        None,
    )
    .await
    .unwrap();
    let size = b
        .finish_upload(&r, &id, &d, None, body(last, 1), None)
        .await
        .unwrap();
    assert_eq!(size, content.len() as u64);
    assert!(
        read_all(&a, &d, size).await == content,
        "replica a serves it whole"
    );
    assert!(
        read_all(&b, &d, size).await == content,
        "replica b serves it whole"
    );
    assert!(
        a.upload_status(&r, &id).await.is_err(),
        "the session ended everywhere"
    );
}
