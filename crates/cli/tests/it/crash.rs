//! SIGKILL during concurrent pushes: after a restart every acknowledged (2xx) blob and
//! manifest is intact, and no partially uploaded blob is visible.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use zoll_oci::Digest;

use crate::server::{Zoll, client};

#[derive(Clone)]
struct Blob {
    repo: String,
    digest: Digest,
    content: Arc<Vec<u8>>,
}

#[derive(Default, Clone)]
struct Ledger {
    /// Blobs whose upload was answered 201.
    acked_blobs: Vec<Blob>,
    /// Blobs whose upload was started but not acknowledged.
    attempted: Vec<Blob>,
    /// (repo, tag, digest) of manifests answered 201.
    acked_manifests: Vec<(String, String, String)>,
}

/// Uploads one blob, chunked (POST, two PATCHes, PUT) or monolithic. `Ok(false)`: refused.
async fn upload(
    http: &reqwest::Client,
    base: &str,
    b: &Blob,
    chunked: bool,
) -> reqwest::Result<bool> {
    let repo = &b.repo;
    let d = &b.digest;
    if !chunked {
        let r = http
            .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={d}"))
            .body(b.content.to_vec())
            .send()
            .await?;
        return Ok(r.status() == 201);
    }
    let r = http
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .await?;
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let half = b.content.len() / 2;
    for (start, part) in [(0, &b.content[..half]), (half, &b.content[half..])] {
        let end = start + part.len() - 1;
        let r = http
            .patch(format!("{base}{loc}"))
            .header("content-range", format!("{start}-{end}"))
            .body(part.to_vec())
            .send()
            .await?;
        if r.status() != 202 {
            return Ok(false);
        }
    }
    let r = http.put(format!("{base}{loc}?digest={d}")).send().await?;
    Ok(r.status() == 201)
}

async fn pusher(base: String, worker: u64, round: u64, ledger: Arc<Mutex<Ledger>>) {
    let http = client();
    for i in 0.. {
        let seed = round * 1_000_000 + worker * 10_000 + i;
        let repo = format!("crash/w{worker}");
        let layer = Blob {
            repo: repo.clone(),
            content: Arc::new(zoll_testkit::pseudo_random(
                seed,
                20_000 + (seed % 7) as usize * 40_000,
            )),
            digest: Digest::sha256(&[]),
        };
        let layer = Blob {
            digest: Digest::sha256(&layer.content),
            ..layer
        };
        let config_bytes =
            format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#).into_bytes();
        let config = Blob {
            repo: repo.clone(),
            digest: Digest::sha256(&config_bytes),
            content: Arc::new(config_bytes),
        };
        for (b, chunked) in [(&layer, i % 2 == 0), (&config, false)] {
            ledger.lock().unwrap().attempted.push(b.clone());
            match upload(&http, &base, b, chunked).await {
                Ok(true) => ledger.lock().unwrap().acked_blobs.push(b.clone()),
                Ok(false) => panic!("a blob upload was refused while the server was up"),
                Err(_) => return, // server killed
            }
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest, "size": config.content.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.digest, "size": layer.content.len()}],
        });
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let tag = format!("r{round}-{i}");
        let sent = http
            .put(format!("{base}/v2/{repo}/manifests/{tag}"))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(bytes.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 201 => ledger.lock().unwrap().acked_manifests.push((
                repo.clone(),
                tag,
                Digest::sha256(&bytes).to_string(),
            )),
            Ok(r) => panic!("manifest push refused: {}", r.status()),
            Err(_) => return,
        }
    }
}

async fn verify(base: &str, ledger: &Ledger) {
    let http = client();
    for (repo, tag, digest) in &ledger.acked_manifests {
        let r = http
            .get(format!("{base}/v2/{repo}/manifests/{tag}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged manifest {repo}:{tag} lost");
        assert_eq!(
            r.headers()["docker-content-digest"].to_str().unwrap(),
            digest
        );
        let body = r.bytes().await.unwrap();
        assert_eq!(Digest::sha256(&body).as_str(), digest);
    }
    for b in &ledger.acked_blobs {
        let r = http
            .get(format!("{base}/v2/{}/blobs/{}", b.repo, b.digest))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged blob {} lost", b.digest);
        assert_eq!(r.bytes().await.unwrap().as_ref(), b.content.as_slice());
    }
    // Unacknowledged uploads are either absent or whole: never partial or wrong.
    for b in &ledger.attempted {
        let r = http
            .get(format!("{base}/v2/{}/blobs/{}", b.repo, b.digest))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            404 => {}
            200 => assert_eq!(r.bytes().await.unwrap().as_ref(), b.content.as_slice()),
            other => panic!("blob {} answered {other}", b.digest),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_pushes_loses_no_acknowledged_push() {
    let data = tempfile::tempdir().unwrap();
    let backends = zoll_testkit::Backends::for_test();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    // Each round kills the server once it acknowledged a few more manifests (slow backends
    // take longer to get there), plus a different offset so the kill lands elsewhere.
    for (round, offset_ms) in [(1u64, 0u64), (2, 37), (3, 113)] {
        let zoll = Zoll::start(data.path(), &backends).await;
        // What earlier rounds acknowledged is still there after the previous SIGKILL.
        let so_far = ledger.lock().unwrap().clone();
        verify(&zoll.base, &so_far).await;
        let workers: Vec<_> = (0..4)
            .map(|w| tokio::spawn(pusher(zoll.base.clone(), w, round, ledger.clone())))
            .collect();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let target = so_far.acked_manifests.len() + 5;
        while ledger.lock().unwrap().acked_manifests.len() < target
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(offset_ms)).await;
        zoll.kill9().await;
        for w in workers {
            w.await.unwrap();
        }
    }
    let zoll = Zoll::start(data.path(), &backends).await;
    let ledger = ledger.lock().unwrap().clone();
    assert!(
        ledger.acked_manifests.len() >= 12,
        "too few pushes completed to mean anything: {}",
        ledger.acked_manifests.len()
    );
    verify(&zoll.base, &ledger).await;
    eprintln!(
        "after 3 SIGKILLs: {} acknowledged manifests, {} acknowledged blobs, {} uploads attempted, all intact",
        ledger.acked_manifests.len(),
        ledger.acked_blobs.len(),
        ledger.attempted.len()
    );
    // Staging files of interrupted single-request uploads were removed at start-up; what
    // remains belongs to resumable sessions (at most one per worker and round). In S3,
    // shared with other replicas, such staging is only removed once it is older than the
    // upload TTL (the registry suite's `idle_sessions_expire` covers that).
    if backends.s3.is_none() {
        let staged = std::fs::read_dir(data.path().join("uploads"))
            .unwrap()
            .count();
        assert!(staged <= 4 * 3, "{staged} staging files left behind");
    }
}
