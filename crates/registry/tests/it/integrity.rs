//! The read path never serves a damaged byte: blobs are damaged behind zoll's back (a flipped
//! byte at the start, at a chunk boundary, in the middle, at the end; a truncated file), then
//! read whole, by ranges that touch and that avoid the damage, by suffix ranges, by HEAD and
//! by concurrent readers. On local disk or S3, whichever the test run selected.
//!
//! What the design does: every chunk (1 MiB) is checked before any byte of it is sent, so a
//! read stops before the damaged chunk; a range that avoids it is served; the first read
//! that meets the damage has the blob re-verified and quarantined, after which it is 404.

use axum::body::Body;
use http_body_util::BodyExt;
use tower::ServiceExt;
use zoll_oci::Digest;

use crate::harness::TestRegistry;
use crate::stored;

const MIB: usize = 1 << 20;

/// Four chunks, the last one short; bytes that differ from chunk to chunk.
fn content() -> Vec<u8> {
    zoll_testkit::pseudo_random(14, 3 * MIB + 1000)
}

/// What a GET delivered: status, the body bytes that arrived, whether the body failed.
struct Got {
    status: u16,
    body: Vec<u8>,
    failed: bool,
}

async fn get(reg: &TestRegistry, d: &Digest, range: Option<&str>) -> Got {
    let mut req = axum::http::Request::get(format!("/v2/r/blobs/{d}"));
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let resp = reg
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut got = Vec::new();
    let mut failed = false;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => got.extend_from_slice(f.data_ref().map(|b| b.as_ref()).unwrap_or(&[])),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    Got {
        status,
        body: got,
        failed,
    }
}

async fn head(reg: &TestRegistry, d: &Digest) -> u16 {
    reg.call("HEAD", &format!("/v2/r/blobs/{d}"), &[], Body::empty())
        .await
        .status
}

/// Waits until the re-verification the failed reads asked for has finished.
async fn settle(reg: &TestRegistry) {
    for _ in 0..3000 {
        if reg.store.rechecks_pending() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("damaged blobs were not re-checked within 30 s");
}

/// First byte offset a `Range` value asks for, in a blob of `size` bytes.
fn range_start(spec: Option<&str>, size: usize) -> usize {
    let Some(spec) = spec else { return 0 };
    let spec = spec.strip_prefix("bytes=").unwrap();
    match spec.split_once('-').unwrap() {
        ("", n) => size.saturating_sub(n.parse().unwrap()),
        (a, _) => a.parse().unwrap(),
    }
}

/// A read of a damaged blob: it did not complete, and what it delivered is the true bytes
/// of chunks before the damaged one.
fn assert_stopped_before(
    got: &Got,
    original: &[u8],
    start: usize,
    damaged_chunk: usize,
    what: &str,
) {
    assert!(
        got.status == 404 || got.failed,
        "{what}: a read of damaged bytes completed ({})",
        got.status
    );
    if got.status == 404 {
        return; // refused before any byte (the body is the OCI error)
    }
    let end = start + got.body.len();
    assert!(
        got.body.is_empty() || end <= damaged_chunk * MIB,
        "{what}: delivered bytes up to {end}, into damaged chunk {damaged_chunk}"
    );
    assert!(
        got.body == original[start..end],
        "{what}: delivered bytes differ from the original"
    );
}

async fn metric(reg: &TestRegistry, name: &str) -> u64 {
    let r = reg.get("/metrics").await;
    let text = String::from_utf8_lossy(&r.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_damaged_chunk_is_never_served_and_the_blob_is_quarantined() {
    let reg = TestRegistry::new().await;
    let data = content();
    let size = data.len();
    let flips = [
        ("start", 0),
        ("last byte before a chunk boundary", MIB - 1),
        ("first byte after a chunk boundary", MIB),
        ("middle", 3 * MIB / 2),
        ("end", size - 1),
    ];
    let mut quarantined = 0;
    for (place, flip) in flips {
        let damaged = flip / MIB;
        let flip_range = format!("bytes={flip}-{flip}");
        let suffix = format!("bytes=-{}", size - flip);
        let reads: [Option<&str>; 6] = [
            None,
            Some("bytes=0-"),
            Some("bytes=-999999999"),
            Some(&flip_range),
            Some(&suffix),
            Some("bytes=10-3146727"),
        ];
        for spec in reads {
            let what = format!("flip at {place} ({flip}), range {spec:?}");
            // A push heals the blob the previous round quarantined.
            let d = reg.push_blob("r", &data).await;
            assert_eq!(get(&reg, &d, None).await.body, data, "{what}: healed");
            let mut bad = data.clone();
            bad[flip] ^= 0x40;
            stored::overwrite(&reg, &d, bad.clone()).await;
            assert_eq!(head(&reg, &d).await, 200, "{what}: damage not yet known");

            // A range in another chunk is served, every byte of it checked.
            let other = if damaged == 0 { 2 } else { 0 };
            let (a, b) = (other * MIB + 10, other * MIB + 70_000);
            let r = get(&reg, &d, Some(&format!("bytes={a}-{b}"))).await;
            assert_eq!((r.status, r.failed), (206, false), "{what}: clean range");
            assert!(r.body == data[a..=b], "{what}: clean range bytes");

            // Every one of `reads` touches the damaged chunk (`bytes=10-…` of a flip at 0
            // avoids the damaged byte, but not its chunk): each stops before that chunk.
            let start = range_start(spec, size);
            let got = get(&reg, &d, spec).await;
            assert_stopped_before(&got, &data, start, damaged, &what);
            settle(&reg).await;
            quarantined += 1;
            assert_eq!(
                head(&reg, &d).await,
                404,
                "{what}: HEAD after the damage was found"
            );
            let r = get(&reg, &d, None).await;
            assert_eq!(r.status, 404, "{what}: GET after the damage was found");
            assert_eq!(
                stored::quarantined(&reg, &d).await,
                Some(bad),
                "{what}: damaged bytes kept aside for inspection"
            );
        }
    }
    let counts = reg.store.integrity_counts();
    assert_eq!(counts.quarantined, quarantined);
    assert!(counts.damaged_reads >= quarantined, "{counts:?}");
    assert_eq!(
        metric(&reg, "zoll_blobs_quarantined_total").await,
        quarantined
    );
    assert!(metric(&reg, "zoll_blob_reads_damaged_total").await >= quarantined);
}

#[tokio::test]
async fn truncated_and_concurrently_read_damaged_blobs() {
    let reg = TestRegistry::new().await;
    let data = content();

    // Truncated by one byte: refused before any byte is sent, HEAD is 404 at once, and the
    // blob is quarantined.
    let d = reg.push_blob("r", &data).await;
    stored::overwrite(&reg, &d, data[..data.len() - 1].to_vec()).await;
    assert_eq!(head(&reg, &d).await, 404);
    let got = get(&reg, &d, Some("bytes=0-99")).await;
    assert_eq!(got.status, 404, "refused before any byte");
    settle(&reg).await;
    assert_eq!(reg.store.integrity_counts().quarantined, 1);
    assert_eq!(
        stored::quarantined(&reg, &d).await.map(|b| b.len()),
        Some(data.len() - 1)
    );

    // Eight readers at once: none gets the damaged chunk, the blob is quarantined once.
    let d = reg.push_blob("r", &data).await;
    let mut bad = data.clone();
    bad[2 * MIB + 4242] ^= 1;
    stored::overwrite(&reg, &d, bad).await;
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let reg = &reg;
            let d = d.clone();
            async move { get(reg, &d, None).await }
        })
        .collect();
    for got in futures_util::future::join_all(readers).await {
        assert_stopped_before(&got, &data, 0, 2, "concurrent reader");
    }
    settle(&reg).await;
    assert_eq!(reg.store.integrity_counts().quarantined, 2);
    assert_eq!(head(&reg, &d).await, 404);
}

#[tokio::test]
async fn blobs_stored_without_a_chunk_table_are_verified_whole_before_serving() {
    let reg = TestRegistry::new().await;
    let data = content();
    let pool = stored::metadata_db(&reg).await;
    let forget_tables = || async {
        sqlx::query("UPDATE blobs SET crc32_1mib = NULL")
            .execute(&pool)
            .await
            .unwrap();
    };

    // Intact: a range read computes the table first (once), then serves the range.
    let d = reg.push_blob("r", &data).await;
    forget_tables().await;
    let r = get(&reg, &d, Some("bytes=1048570-1048589")).await;
    assert_eq!((r.status, r.failed), (206, false));
    assert!(r.body == data[1_048_570..=1_048_589]);
    assert_eq!(get(&reg, &d, None).await.body, data);
    assert_eq!(reg.store.integrity_counts().tables_built, 1);
    let table: Option<String> =
        sqlx::query_scalar("SELECT crc32_1mib FROM blobs WHERE digest = $1")
            .bind(d.as_str())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        table.map(|t| t.len()),
        Some(4 * 8),
        "four chunks, 8 hex digits each"
    );

    // Damaged: not a byte is served, even of chunks before the damage; quarantined.
    let mut bad = data.clone();
    bad[3 * MIB + 1] ^= 1;
    stored::overwrite(&reg, &d, bad).await;
    forget_tables().await;
    let r = get(&reg, &d, Some("bytes=0-99")).await;
    assert_eq!(r.status, 404, "refused before any byte");
    assert_eq!(reg.store.integrity_counts().quarantined, 1);
    assert_eq!(head(&reg, &d).await, 404);

    // A table that does not fit the blob is rebuilt from verified bytes, not trusted.
    let d = reg.push_blob("r", &data).await;
    sqlx::query("UPDATE blobs SET crc32_1mib = 'abcd' WHERE digest = $1")
        .bind(d.as_str())
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(get(&reg, &d, None).await.body, data);

    // Scrub fills in missing tables.
    forget_tables().await;
    let report = reg.store.scrub().await.unwrap();
    assert_eq!((report.tables_recorded, report.quarantined.len()), (1, 0));
    pool.close().await;
}

#[tokio::test]
async fn a_wrong_chunk_table_over_intact_bytes_is_rewritten_not_quarantined() {
    let reg = TestRegistry::new().await;
    let data = content();
    let d = reg.push_blob("r", &data).await;
    let pool = stored::metadata_db(&reg).await;
    // A table of the right length whose second entry is wrong.
    let good: String = sqlx::query_scalar("SELECT crc32_1mib FROM blobs WHERE digest = $1")
        .bind(d.as_str())
        .fetch_one(&pool)
        .await
        .unwrap();
    let wrong = format!("{}00000000{}", &good[..8], &good[16..]);
    sqlx::query("UPDATE blobs SET crc32_1mib = $1 WHERE digest = $2")
        .bind(&wrong)
        .bind(d.as_str())
        .execute(&pool)
        .await
        .unwrap();
    let got = get(&reg, &d, None).await;
    assert_stopped_before(&got, &data, 0, 1, "wrong table");
    settle(&reg).await;
    assert_eq!(reg.store.integrity_counts().quarantined, 0);
    assert_eq!(
        get(&reg, &d, None).await.body,
        data,
        "served again after the rewrite"
    );
    let now: String = sqlx::query_scalar("SELECT crc32_1mib FROM blobs WHERE digest = $1")
        .bind(d.as_str())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(now, good);
    pool.close().await;
}
