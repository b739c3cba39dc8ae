use zoll_oci::{Algorithm, Digest};

use crate::harness::TestRegistry;
use crate::stored;

#[tokio::test]
async fn base_endpoint_announces_the_api_version() {
    let reg = TestRegistry::new().await;
    for path in ["/v2/", "/v2"] {
        let r = reg.get(path).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("docker-distribution-api-version"), "registry/2.0");
    }
    let r = reg.get("/v3/").await;
    assert_eq!((r.status, r.code().as_str()), (404, "UNSUPPORTED"));
}

#[tokio::test]
async fn monolithic_upload_then_head_get_range_delete() {
    let reg = TestRegistry::new().await;
    let content: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let d = reg.push_blob("a/b", &content).await;
    let path = format!("/v2/a/b/blobs/{d}");

    let head = reg.call("HEAD", &path, &[], vec![]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), "1000");
    assert_eq!(head.header("docker-content-digest"), d.as_str());
    assert!(head.body.is_empty());

    let get = reg.get(&path).await;
    assert_eq!(get.status, 200);
    assert_eq!(get.body.as_ref(), content.as_slice());

    // (Range header, status, Content-Range, body slice)
    let cases: &[(&str, u16, &str, Option<std::ops::Range<usize>>)] = &[
        ("bytes=0-9", 206, "bytes 0-9/1000", Some(0..10)),
        ("bytes=990-", 206, "bytes 990-999/1000", Some(990..1000)),
        ("bytes=-3", 206, "bytes 997-999/1000", Some(997..1000)),
        ("bytes=1000-", 416, "bytes */1000", None),
        ("bytes=9-2", 416, "bytes */1000", None),
    ];
    for (range, status, content_range, slice) in cases {
        let r = reg.call("GET", &path, &[("range", range)], vec![]).await;
        assert_eq!(r.status, *status, "{range}");
        assert_eq!(r.header("content-range"), *content_range, "{range}");
        match slice {
            Some(s) => assert_eq!(r.body.as_ref(), &content[s.clone()], "{range}"),
            None => assert_eq!(r.code(), "RANGE_INVALID"),
        }
    }

    let del = reg.call("DELETE", &path, &[], vec![]).await;
    assert_eq!(del.status, 202);
    let gone = reg.get(&path).await;
    assert_eq!((gone.status, gone.code().as_str()), (404, "BLOB_UNKNOWN"));
    let again = reg.call("DELETE", &path, &[], vec![]).await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn blobs_are_scoped_to_their_repository() {
    let reg = TestRegistry::new().await;
    let d = reg.push_blob("one", b"scoped").await;
    let r = reg.get(&format!("/v2/two/blobs/{d}")).await;
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
}

#[tokio::test]
async fn bad_digests_and_names_are_rejected() {
    let reg = TestRegistry::new().await;
    let good = Digest::sha256(b"x");
    // (method, path, body, status, code)
    let long_name = "a".repeat(256);
    let cases = [
        (
            "GET",
            "/v2/r/blobs/sha256:abc".to_owned(),
            vec![],
            400,
            "DIGEST_INVALID",
        ),
        (
            "GET",
            format!("/v2/r/blobs/md5:{}", "0".repeat(32)),
            vec![],
            400,
            "DIGEST_INVALID",
        ),
        (
            "GET",
            format!("/v2/r/blobs/sha256:{}", "A".repeat(64)),
            vec![],
            400,
            "DIGEST_INVALID",
        ),
        (
            "GET",
            format!("/v2/Upper/blobs/{good}"),
            vec![],
            400,
            "NAME_INVALID",
        ),
        (
            "GET",
            format!("/v2/{long_name}/blobs/{good}"),
            vec![],
            400,
            "NAME_INVALID",
        ),
        (
            "POST",
            format!("/v2/r/blobs/uploads/?digest={good}"),
            b"not x".to_vec(),
            400,
            "DIGEST_INVALID",
        ),
        (
            "POST",
            "/v2/r/blobs/uploads/?digest=sha256:zz".to_owned(),
            b"x".to_vec(),
            400,
            "DIGEST_INVALID",
        ),
        (
            "PATCH",
            format!("/v2/r/blobs/{good}"),
            vec![],
            405,
            "UNSUPPORTED",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let r = reg.call(method, &path, &[], body).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{method} {path}"
        );
    }
    // The failed monolithic upload left nothing visible.
    let r = reg.get(&format!("/v2/r/blobs/{good}")).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn sha512_blobs() {
    let reg = TestRegistry::new().await;
    let content = b"sha512 content";
    let d = Digest::of(Algorithm::Sha512, content);
    let r = reg
        .call(
            "POST",
            &format!("/v2/r/blobs/uploads/?digest={d}"),
            &[],
            content.to_vec(),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("docker-content-digest"), d.as_str());
    let get = reg.get(&format!("/v2/r/blobs/{d}")).await;
    assert_eq!(get.body.as_ref(), content);
}

#[tokio::test]
async fn cross_repository_mount() {
    let reg = TestRegistry::new().await;
    let d = reg.push_blob("src", b"shared layer").await;
    let unknown = Digest::sha256(b"never pushed");
    // (target, query, status)
    let cases = [
        ("dst1", format!("mount={d}&from=src"), 201),
        ("dst2", format!("mount={d}"), 201),
        ("dst3", format!("mount={d}&from=elsewhere"), 202),
        ("dst4", format!("mount={unknown}&from=src"), 202),
    ];
    for (target, query, status) in cases {
        let r = reg
            .call(
                "POST",
                &format!("/v2/{target}/blobs/uploads/?{query}"),
                &[],
                vec![],
            )
            .await;
        assert_eq!(r.status, status, "{target} {query}");
        let blob = reg.get(&format!("/v2/{target}/blobs/{d}")).await;
        if status == 201 {
            assert_eq!(r.header("location"), format!("/v2/{target}/blobs/{d}"));
            assert_eq!(blob.body.as_ref(), b"shared layer");
        } else {
            // Fallback to a normal upload session, and nothing got linked.
            assert!(
                r.header("location")
                    .starts_with(&format!("/v2/{target}/blobs/uploads/"))
            );
            assert_eq!(blob.status, 404);
        }
    }
}

#[tokio::test]
async fn damaged_blob_is_never_served_as_valid() {
    let reg = TestRegistry::new().await;
    let content = vec![7u8; 300_000];
    let d = reg.push_blob("r", &content).await;
    let mut bytes = stored::read(&reg, &d).await.unwrap();
    bytes[123_456] ^= 1;
    stored::overwrite(&reg, &d, bytes.clone()).await;

    // Same size, flipped bit: the status line is sent before the end is reached, so the
    // transfer itself must fail instead of completing.
    let req = axum::http::Request::get(format!("/v2/r/blobs/{d}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(reg.router.clone(), req)
        .await
        .unwrap();
    let body = http_body_util::BodyExt::collect(resp.into_body()).await;
    assert!(
        body.is_err(),
        "a corrupted blob completed as a valid transfer"
    );

    // Truncated: refused before any byte is sent.
    stored::overwrite(&reg, &d, bytes[..1000].to_vec()).await;
    let r = reg.get(&format!("/v2/r/blobs/{d}")).await;
    assert_eq!((r.status, r.code().as_str()), (404, "BLOB_UNKNOWN"));
    // HEAD tells the truth about missing bytes too (it answered 200 before).
    let r = reg
        .call(
            "HEAD",
            &format!("/v2/r/blobs/{d}"),
            &[],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(r.status, 404);

    // Pushing the blob again heals it.
    reg.push_blob("r", &content).await;
    assert_eq!(
        reg.get(&format!("/v2/r/blobs/{d}")).await.body.as_ref(),
        content.as_slice()
    );
}
