//! Signing and verifying images in real repositories: zoll (referrers API), Debian's
//! docker-registry 2.8.2 (no referrers API: the tag-schema fallback) and OCI layouts.

use std::collections::BTreeMap;

use zoll_client::{ClientConfig, ImageRef, Repository};
use zoll_oci::Descriptor;
use zoll_testkit::TarEntry;
use zoll_testkit::TestImage;
use zoll_testkit::{DistributionServer, TestServer};
use zoll_trust::image::{self, SignOptions, SignatureFormat};
use zoll_trust::keys::{
    CertificateProfile, CertificateRequest, KeyKind, KeySource, TestCa, generate_key, open_key,
};
use zoll_trust::notation::EnvelopeFormat;
use zoll_trust::repository::{BackendError, BoxFuture, RepositoryWriter};
use zoll_trust::verify::{Failure, Format, Identity, TrustRoots, TrustedKey};

use crate::policy::{notation_trust, policy};
use crate::support::{hsm_uri, tempdir};

pub fn repo(reference: &str) -> (ImageRef, Repository) {
    let image: ImageRef = reference.parse().unwrap();
    let repo = Repository::open(&image, &ClientConfig::default()).unwrap();
    (image, repo)
}

pub fn test_image(seed: &str) -> TestImage {
    TestImage::new().layer(&[TarEntry::file("etc/seed", seed.as_bytes().to_vec())])
}

pub fn options<'a>(
    key: &'a dyn KeySource,
    format: SignatureFormat,
    chain: Vec<Vec<u8>>,
) -> SignOptions<'a> {
    SignOptions {
        key,
        format,
        chain,
        expiry: None,
        claims: BTreeMap::from([("stage".to_owned(), "ci".to_owned())]),
        docker_reference: "test/app".into(),
    }
}

const ALL_FORMATS: [SignatureFormat; 4] = [
    SignatureFormat::Notation(EnvelopeFormat::Jws),
    SignatureFormat::Notation(EnvelopeFormat::Cose),
    SignatureFormat::CosignBundle,
    SignatureFormat::CosignLegacy,
];

/// Signs one image in every format with `key` (certified by a test CA), then verifies.
async fn sign_all_and_verify(reference: &str, key: &dyn KeySource) {
    let (image, repo) = repo(reference);
    let pushed = test_image(reference).push(&repo, Some("v1")).await;
    let ca = TestCa::root(KeyKind::EcP384, "C=DE,ST=BE,O=zoll test,CN=root", 30).unwrap();
    let req = CertificateRequest::new(
        "C=DE,ST=BE,O=zoll test,CN=ci",
        CertificateProfile::CodeSigning,
        10,
    );
    let chain = ca.issue_chain(key.public_key(), &req).unwrap();
    for format in ALL_FORMATS {
        let signed = image::sign(
            &repo,
            image.reference.as_ref(),
            &options(key, format, chain.clone()),
        )
        .await
        .unwrap();
        assert_eq!(
            signed.subject.digest, pushed.digest,
            "the digest is signed, not the tag"
        );
    }
    // A second legacy signature by the same key is appended (as cosign does) and counted once.
    image::sign(
        &repo,
        image.reference.as_ref(),
        &options(key, SignatureFormat::CosignLegacy, vec![]),
    )
    .await
    .unwrap();

    let dir = tempdir();
    let root_pem = zoll_trust::keys::certificates_to_pem(&ca.chain()).into_bytes();
    let roots = TrustRoots {
        keys: vec![TrustedKey {
            name: "ci".into(),
            key: key.public_key().clone(),
        }],
        notation: Some(notation_trust(
            dir.path(),
            &[("zoll", &root_pem)],
            &policy(
                r#""strict""#,
                "zoll",
                "x509.subject: C=DE, ST=BE, O=zoll test",
            ),
        )),
        understood_critical: Vec::new(),
    };
    let report = image::verify(&repo, image.reference.as_ref(), &roots, "scope")
        .await
        .unwrap();
    assert!(report.is_trusted());
    // The JWS and the COSE signature both verify, but they are one identity's: a signer
    // counts once (k-of-n thresholds depend on it), whichever envelope comes first (the
    // referrers' digest order). Likewise the repeated legacy one.
    let mut formats: Vec<Format> = report.accepted.iter().map(|a| a.format).collect();
    let first_notation = formats
        .iter()
        .copied()
        .find(|f| matches!(f, Format::NotationJws | Format::NotationCose))
        .expect("a Notation signature is accepted");
    formats.retain(|f| *f != first_notation);
    formats.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(
        formats,
        [Format::CosignSimpleSigning, Format::SigstoreBundle],
        "{report:?}"
    );
    let mut rejected: Vec<(Format, &str)> = report
        .rejected
        .iter()
        .map(|r| (r.format, r.failure.code()))
        .collect();
    rejected.sort_by_key(|(f, _)| format!("{f:?}"));
    // RSA PKCS#1 v1.5 is deterministic: the repeated legacy layer is identical and not added.
    let deterministic = matches!(key.public_key().kind(), KeyKind::Rsa { .. });
    let other_notation = if first_notation == Format::NotationJws {
        Format::NotationCose
    } else {
        Format::NotationJws
    };
    let mut want = vec![(other_notation, "duplicate")];
    if !deterministic {
        want.push((Format::CosignSimpleSigning, "duplicate"));
    }
    want.sort_by_key(|(f, _)| format!("{f:?}"));
    assert_eq!(rejected, want);
    let notation = report
        .accepted
        .iter()
        .find(|a| a.format == first_notation)
        .unwrap();
    assert_eq!(notation.claims.get("stage").map(String::as_str), Some("ci"));
    assert!(
        matches!(&notation.identity, Identity::X509 { subject, .. } if subject.contains("CN=ci"))
    );
    let legacy = report
        .accepted
        .iter()
        .find(|a| a.format == Format::CosignSimpleSigning)
        .unwrap();
    assert_eq!(legacy.claims.get("stage").map(String::as_str), Some("ci"));

    // Another key trusts none of the cosign signatures.
    let other = generate_key(KeyKind::EcP256).unwrap().key;
    let roots = TrustRoots {
        keys: vec![TrustedKey {
            name: "other".into(),
            key: other.public_key().clone(),
        }],
        ..Default::default()
    };
    let report = image::verify(&repo, image.reference.as_ref(), &roots, "scope")
        .await
        .unwrap();
    assert!(!report.is_trusted());
    assert!(
        report
            .rejected
            .iter()
            .any(|r| r.format == Format::SigstoreBundle && r.failure == Failure::UntrustedKey)
    );
    assert!(
        report
            .rejected
            .iter()
            .any(|r| r.format == Format::CosignSimpleSigning && r.failure == Failure::UntrustedKey)
    );
    assert!(
        report
            .rejected
            .iter()
            .any(|r| r.format == Format::NotationJws
                && r.failure == Failure::NotConfigured(Format::NotationJws))
    );
}

#[tokio::test]
async fn sign_and_verify_on_zoll_with_a_file_key() {
    let server = TestServer::start().await;
    let key = generate_key(KeyKind::EcP256).unwrap().key;
    sign_all_and_verify(&server.image_ref("team/app:v1"), &key).await;
}

#[tokio::test]
async fn sign_and_verify_on_zoll_with_softhsm_keys() {
    let server = TestServer::start().await;
    for label in ["ec256", "rsa3072"] {
        let key = open_key(&hsm_uri(label)).unwrap();
        sign_all_and_verify(&server.image_ref(&format!("hsm/{label}:v1")), key.as_ref()).await;
    }
}

/// distribution 2.8.2 has no referrers API: signatures are found through the referrers tag.
#[tokio::test]
async fn sign_and_verify_on_docker_registry_without_referrers_api() {
    crate::support::require_peer("docker-registry");
    let server = DistributionServer::start().await;
    let key = generate_key(KeyKind::EcP256).unwrap().key;
    let reference = format!("{}/legacy/app:v1", server.addr);
    sign_all_and_verify(&reference, &key).await;
    // The fallback tag exists: sha256-<hex> lists the referrers.
    let (image, repo) = repo(&reference);
    let subject = repo.resolve(image.reference.as_ref()).await.unwrap();
    let tags = repo.tags().await.unwrap();
    assert!(
        tags.contains(&format!("sha256-{}", subject.digest.hex())),
        "{tags:?}"
    );
}

#[tokio::test]
async fn sign_and_verify_in_an_oci_layout() {
    let dir = tempdir();
    let key = generate_key(KeyKind::EcP384).unwrap().key;
    sign_all_and_verify(
        &format!("oci:{}:v1", dir.path().join("layout").display()),
        &key,
    )
    .await;
}

/// A writer that refuses a manifest whose config was not put through it: what the store
/// does when the blob was collected after a writer asked whether it was there.
struct PutsItsConfig {
    inner: Repository,
    put: std::sync::Mutex<Vec<zoll_oci::Digest>>,
}

impl RepositoryWriter for PutsItsConfig {
    fn push_blob<'a>(
        &'a self,
        media_type: &'a str,
        bytes: bytes::Bytes,
    ) -> BoxFuture<'a, Result<Descriptor, BackendError>> {
        Box::pin(async move {
            let desc = RepositoryWriter::push_blob(&self.inner, media_type, bytes).await?;
            self.put.lock().unwrap().push(desc.digest.clone());
            Ok(desc)
        })
    }

    fn push_manifest<'a>(
        &'a self,
        bytes: bytes::Bytes,
        tag: Option<&'a zoll_oci::Tag>,
    ) -> BoxFuture<'a, Result<Descriptor, BackendError>> {
        Box::pin(async move {
            let manifest = zoll_oci::Manifest::parse(&bytes, None)?;
            let config = manifest.config.expect("an image manifest").digest;
            if !self.put.lock().unwrap().contains(&config) {
                return Err(format!("blob unknown: {config}").into());
            }
            RepositoryWriter::push_manifest(&self.inner, bytes, tag).await
        })
    }

    fn tagged_manifest<'a>(
        &'a self,
        tag: &'a zoll_oci::Tag,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>> {
        self.inner.tagged_manifest(tag)
    }
}

#[tokio::test]
async fn every_signature_puts_the_config_it_names_even_when_it_is_there() {
    let server = TestServer::start().await;
    let (_, repo) = repo(&server.image_ref("app:v1"));
    let pushed = test_image("race").push(&repo, Some("v1")).await;
    let key = generate_key(KeyKind::EcP256).unwrap().key;
    // The first signature leaves the empty config in the repository; the second must not
    // count on it still being there when its manifest arrives.
    for format in [SignatureFormat::CosignBundle, SignatureFormat::CosignBundle] {
        let writer = PutsItsConfig {
            inner: self::repo(&server.image_ref("app:v1")).1,
            put: Default::default(),
        };
        let opts = options(&key, format, Vec::new());
        image::sign_subject(&writer, pushed.clone(), &opts, "test")
            .await
            .unwrap();
    }
}
