//! Pushing and pulling a 2 GiB blob keeps the server's peak RSS under 64 MiB. With blobs in
//! S3 the blob is 512 MiB: the test S3 server (moto 5) fails to complete multipart uploads of
//! about 2 GiB ("seek of closed file" in its part buffers), and 512 MiB is still eight times
//! the memory bound.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use zoll_oci::{Algorithm, Hasher};

use crate::server::{Zoll, client};

const CHUNK: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gib_blob_streams_both_ways_in_bounded_memory() {
    let data = tempfile::tempdir().unwrap();
    let backends = zoll_testkit::Backends::for_test();
    let total_chunks: u64 = if backends.s3.is_some() { 512 } else { 2048 };
    if backends.s3.is_none() {
        let need = total_chunks * CHUNK as u64 + (256 << 20);
        let free = zoll_testkit::free_bytes(data.path());
        assert!(
            free >= need,
            "this test stores a {} MiB blob in {} and needs {} MiB free there; {} MiB are",
            total_chunks,
            data.path().display(),
            need >> 20,
            free >> 20
        );
    }
    let zoll = Zoll::start(data.path(), &backends).await;
    let http = client();
    let base = &zoll.base;

    let r = http
        .post(format!("{base}/v2/big/blob/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();

    // The body is generated while it is sent and hashed on the way: no 2 GiB buffer here
    // either. Each chunk differs (its index is written into it).
    let base_chunk: Vec<u8> = (0..CHUNK).map(|i| (i * 31 % 251) as u8).collect();
    let hasher = Arc::new(Mutex::new(Some(Hasher::new(Algorithm::Sha256))));
    let h = hasher.clone();
    let body = futures_util::stream::iter(0..total_chunks).map(move |i| {
        let mut c = base_chunk.clone();
        c[..8].copy_from_slice(&i.to_le_bytes());
        h.lock().unwrap().as_mut().unwrap().update(&c);
        Ok::<_, std::io::Error>(Bytes::from(c))
    });
    let r = http
        .patch(format!("{base}{loc}"))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(
        r.headers()["range"],
        format!("0-{}", total_chunks * CHUNK as u64 - 1).as_str()
    );
    let digest = hasher.lock().unwrap().take().unwrap().finish();
    let r = http
        .put(format!("{base}{loc}?digest={digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let after_push = zoll.peak_rss();

    let r = http
        .get(format!("{base}/v2/big/blob/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut pulled = Hasher::new(Algorithm::Sha256);
    let mut n = 0u64;
    let mut stream = r.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        n += chunk.len() as u64;
        pulled.update(&chunk);
    }
    assert_eq!(n, total_chunks * CHUNK as u64);
    assert_eq!(pulled.finish(), digest);

    let peak = zoll.peak_rss();
    eprintln!(
        "zoll peak RSS: after 2 GiB push {} MiB, after pull {} MiB",
        after_push >> 20,
        peak >> 20
    );
    assert!(peak < 64 << 20, "peak RSS {} MiB", peak >> 20);
}
