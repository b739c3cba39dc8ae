use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;
use zoll_client::ClientError;
use zoll_oci::{Digest, Reference};
use zoll_testkit::{DistributionServer, TarEntry, TestImage, TestServer};

use crate::open;

fn image() -> TestImage {
    TestImage::new()
        .layer(&[
            TarEntry::dir("etc"),
            TarEntry::file("etc/os-release", "ID=test\n"),
        ])
        .layer(&[TarEntry::file(
            "big.bin",
            zoll_testkit::pseudo_random(1, 3 << 20),
        )])
}

/// An artifact manifest whose subject is `subject`.
fn signature_for(subject: &zoll_oci::Descriptor, marker: &str) -> (Bytes, Bytes) {
    let empty = Bytes::from_static(b"{}");
    let payload = Bytes::from(marker.as_bytes().to_vec());
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.signature",
        "config": zoll_client::descriptor("application/vnd.oci.empty.v1+json", &empty),
        "layers": [zoll_client::descriptor("application/octet-stream", &payload)],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        "annotations": {"marker": marker},
    });
    (Bytes::from(serde_json::to_vec(&m).unwrap()), payload)
}

async fn round_trip_and_referrers(addr: &str) {
    let repo = open(&format!("{addr}/client/app:v1"));
    let img = image();
    let pushed = img.push(&repo, Some("v1")).await;

    let tag: Reference = Reference::parse("v1").unwrap();
    let resolved = repo.resolve(Some(&tag)).await.unwrap();
    assert_eq!(resolved.digest, pushed.digest);
    assert_eq!(resolved.size, pushed.size);
    let (desc, bytes) = repo.fetch_manifest(&tag).await.unwrap();
    assert_eq!(desc.digest, Digest::sha256(&bytes));
    let (expected_manifest, blobs) = img.manifest();
    assert_eq!(bytes, expected_manifest);
    for (blob, layer) in blobs[1..].iter().zip(&img.layers) {
        let got = repo.fetch_blob_bytes(blob, 16 << 20).await.unwrap();
        assert_eq!(got.as_ref(), layer.bytes.as_slice());
    }
    assert_eq!(repo.tags().await.unwrap(), vec!["v1".to_owned()]);

    // Two referrers of different types; filtering by type finds one.
    let empty = Bytes::from_static(b"{}");
    repo.push_blob_bytes("application/vnd.oci.empty.v1+json", empty)
        .await
        .unwrap();
    let (sig, payload) = signature_for(&pushed, "first");
    repo.push_blob_bytes("application/octet-stream", payload)
        .await
        .unwrap();
    let sig_desc = repo
        .push_manifest("application/vnd.oci.image.manifest.v1+json", sig, None)
        .await
        .unwrap();
    let (sig2, payload2) = signature_for(&pushed, "second");
    repo.push_blob_bytes("application/octet-stream", payload2)
        .await
        .unwrap();
    repo.push_manifest("application/vnd.oci.image.manifest.v1+json", sig2, None)
        .await
        .unwrap();
    let all = repo.referrers(&pushed.digest, None).await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    let first = all.iter().find(|d| d.digest == sig_desc.digest).unwrap();
    assert_eq!(
        first.artifact_type.as_deref(),
        Some("application/vnd.example.signature")
    );
    assert_eq!(first.annotations.as_ref().unwrap()["marker"], "first");
    let none = repo
        .referrers(&pushed.digest, Some("application/x-other"))
        .await
        .unwrap();
    assert!(none.is_empty());

    // A fresh client (nothing learned yet) finds them as well.
    let again = open(&format!("{addr}/client/app"));
    assert_eq!(
        again.referrers(&pushed.digest, None).await.unwrap().len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zoll_round_trip_and_referrers_api() {
    let server = TestServer::start().await;
    round_trip_and_referrers(&server.addr).await;
    // zoll answered the referrers API: no fallback tag was created.
    let tags = open(&server.image_ref("client/app")).tags().await.unwrap();
    assert_eq!(tags, vec!["v1".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distribution_2_8_gets_the_referrers_tag_schema() {
    let server = DistributionServer::start().await;
    round_trip_and_referrers(&server.addr).await;
    let repo = open(&format!("{}/client/app", server.addr));
    let mut tags = repo.tags().await.unwrap();
    tags.sort();
    let subject = repo
        .resolve(Some(&Reference::parse("v1").unwrap()))
        .await
        .unwrap();
    assert_eq!(
        tags,
        vec![format!("sha256-{}", subject.digest.hex()), "v1".to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_what_is_missing() {
    let server = TestServer::start().await;
    let repo = open(&server.image_ref("client/none:v1"));
    let missing = repo
        .resolve(Some(&Reference::parse("v1").unwrap()))
        .await
        .unwrap_err();
    assert!(matches!(missing, ClientError::NotFound(_)), "{missing}");
    // A digest is written after '@': `repo:sha256:...` would read as a tag.
    let absent = Digest::sha256(b"no such manifest");
    let err = repo
        .fetch_manifest(&Reference::Digest(absent.clone()))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("client/none@{absent}")),
        "{err}"
    );
    let d = zoll_client::descriptor("application/octet-stream", b"absent");
    let err = match repo.fetch_blob(&d).await {
        Err(e) => e,
        Ok(_) => panic!("an absent blob streamed"),
    };
    assert!(matches!(err, ClientError::NotFound(_)), "{err}");
    assert!(!repo.blob_exists(&d.digest).await.unwrap());

    // A blob whose bytes do not match the descriptor is refused by the registry.
    let mut wrong = d.clone();
    wrong.digest = Digest::sha256(b"something else");
    let body: zoll_client::ByteStream = Box::pin(futures_util::stream::iter([Ok(
        Bytes::from_static(b"absent"),
    )]));
    let err = repo.push_blob(&wrong, body).await.unwrap_err();
    assert!(err.to_string().contains("failed verification"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_descriptor_fails_the_stream() {
    let server = TestServer::start().await;
    let repo = open(&server.image_ref("client/lie"));
    let real = repo
        .push_blob_bytes(
            "application/octet-stream",
            Bytes::from_static(b"0123456789"),
        )
        .await
        .unwrap();
    // Same digest, smaller size: refused before or while streaming, never a silent success.
    let mut short = real.clone();
    short.size = 4;
    let outcome = match repo.fetch_blob(&short).await {
        Err(e) => Err(e.to_string()),
        Ok(mut s) => {
            let mut err = None;
            while let Some(c) = s.next().await {
                if let Err(e) = c {
                    err = Some(e.to_string());
                }
            }
            err.map_or(Ok(()), Err)
        }
    };
    assert!(outcome.is_err(), "a wrong size was accepted");
}
