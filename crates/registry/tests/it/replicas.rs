//! Several replicas (each its own store and Router) on one PostgreSQL database and one S3
//! bucket: nothing a later request needs lives in a replica.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use zoll_oci::Digest;
use zoll_testkit::Backends;

use crate::harness::TestRegistry;

async fn replicas(n: usize) -> Vec<Arc<TestRegistry>> {
    let shared = Backends::shared();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Arc::new(TestRegistry::on(&shared).await));
    }
    out
}

fn range(start: usize, len: usize) -> String {
    format!("{start}-{}", start + len - 1)
}

async fn patch(reg: &TestRegistry, loc: &str, at: usize, chunk: &[u8]) -> crate::harness::Resp {
    let cr = range(at, chunk.len());
    reg.call(
        "PATCH",
        loc,
        &[("content-range", cr.as_str())],
        chunk.to_vec(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_upload_moves_between_replicas() {
    let r = replicas(3).await;
    // Two chunks above S3's 5 MiB part minimum, then a small last one, so publishing
    // assembles a real multipart object.
    let content = zoll_testkit::pseudo_random(42, (6 << 20) * 2 + 1000);
    let (c1, rest) = content.split_at(6 << 20);
    let (c2, c3) = rest.split_at(6 << 20);
    let digest = Digest::sha256(&content);

    let start = r[0]
        .call("POST", "/v2/rep/blobs/uploads/", &[], vec![])
        .await;
    assert_eq!(start.status, 202);
    let loc = start.header("location").to_owned();
    let p = patch(&r[1], &loc, 0, c1).await;
    assert_eq!(
        (p.status, p.header("range")),
        (202, range(0, c1.len()).as_str())
    );
    // Replica 2 reports what replica 1 received.
    let status = r[2].get(&loc).await;
    assert_eq!(status.header("range"), range(0, c1.len()));
    let p = patch(&r[0], &loc, c1.len(), c2).await;
    assert_eq!(p.status, 202);
    let fin = r[2]
        .call(
            "PUT",
            &format!("{loc}?digest={digest}"),
            &[("content-range", &range(c1.len() + c2.len(), c3.len()))],
            c3.to_vec(),
        )
        .await;
    assert_eq!(fin.status, 201, "{:?}", fin.body);
    for reg in &r {
        let got = reg.get(&format!("/v2/rep/blobs/{digest}")).await;
        assert_eq!(got.status, 200);
        assert!(got.body == content, "replica served other bytes");
    }
}

/// A body that trickles in, so that two requests are in flight at the same time.
fn slow_body(bytes: Vec<u8>) -> Body {
    let chunks: Vec<Bytes> = bytes.chunks(64).map(Bytes::copy_from_slice).collect();
    let s = futures_util::stream::unfold(chunks.into_iter(), |mut it| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        it.next().map(|c| (Ok::<_, std::io::Error>(c), it))
    });
    Body::from_stream(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_chunks_on_two_replicas_one_wins_cleanly() {
    let r = replicas(2).await;
    let start = r[0]
        .call("POST", "/v2/race/blobs/uploads/", &[], vec![])
        .await;
    let loc = start.header("location").to_owned();
    let a = vec![b'a'; 640];
    let b = vec![b'b'; 640];
    let cr = range(0, 640);
    let send = |reg: Arc<TestRegistry>, bytes: Vec<u8>| {
        let (loc, cr) = (loc.clone(), cr.clone());
        tokio::spawn(async move {
            reg.call(
                "PATCH",
                &loc,
                &[("content-range", cr.as_str())],
                slow_body(bytes),
            )
            .await
            .status
        })
    };
    let (ta, tb) = (send(r[0].clone(), a.clone()), send(r[1].clone(), b.clone()));
    let (sa, sb) = (ta.await.unwrap(), tb.await.unwrap());
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(
        statuses,
        [202, 416],
        "exactly one of two racing chunks is taken"
    );
    let winner = if sa == 202 { a } else { b };
    let digest = Digest::sha256(&winner);
    // Finished on the replica that lost: it must publish the winner's bytes.
    let loser = if sa == 202 { &r[1] } else { &r[0] };
    let fin = loser
        .call("PUT", &format!("{loc}?digest={digest}"), &[], vec![])
        .await;
    assert_eq!(fin.status, 201, "{:?}", fin.body);
    let got = r[0].get(&format!("/v2/race/blobs/{digest}")).await;
    assert_eq!(got.body.as_ref(), winner.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_from_two_replicas_end_consistent() {
    const IMAGES: u64 = 15;
    let r = replicas(2).await;
    let mut tasks = Vec::new();
    for (w, reg) in r.iter().enumerate() {
        let reg = reg.clone();
        tasks.push(tokio::spawn(async move {
            let mut pushed = Vec::new();
            for i in 0..IMAGES {
                // Different images in their own repositories...
                let layer = zoll_testkit::pseudo_random(w as u64 * 100 + i, 5000);
                let (d, _) = reg
                    .push_image(&format!("many/w{w}"), &format!("v{i}"), &layer)
                    .await;
                pushed.push((format!("many/w{w}"), format!("v{i}"), d));
                // ...and the same tag of one repository, from both replicas at once.
                let own = format!("replica {w} push {i}").into_bytes();
                let (d, _) = reg.push_image("many/same", "latest", &own).await;
                pushed.push(("many/same".into(), format!("#{d}"), d));
            }
            pushed
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    // Every acknowledged manifest is there, on both replicas.
    for (repo, reference, d) in &all {
        for reg in &r {
            let by_digest = reg.get(&format!("/v2/{repo}/manifests/{d}")).await;
            assert_eq!(by_digest.status, 200, "{repo}@{d}");
            if !reference.starts_with('#') {
                let by_tag = reg.get(&format!("/v2/{repo}/manifests/{reference}")).await;
                assert_eq!(by_tag.header("docker-content-digest"), d.as_str());
            }
        }
    }
    // The contested tag names one of the pushed manifests, the same one on both replicas.
    let a = r[0].get("/v2/many/same/manifests/latest").await;
    let b = r[1].get("/v2/many/same/manifests/latest").await;
    let tagged = a.header("docker-content-digest").to_owned();
    assert_eq!(tagged, b.header("docker-content-digest"));
    assert!(all.iter().any(|(_, _, d)| d.as_str() == tagged));
    let tags = r[1].get("/v2/many/same/tags/list").await.json();
    assert_eq!(tags["tags"], serde_json::json!(["latest"]));
    let listed = r[0].get("/v2/many/w1/tags/list").await.json();
    assert_eq!(listed["tags"].as_array().unwrap().len(), IMAGES as usize);
}
