//! The quorum signer makes its signatures with the code `zoll sign` runs, written into the
//! store: each format verifies over HTTP, and carries the approved claims inside what was
//! signed (the cosign bundle too, which once dropped them here while `zoll sign` kept them).

use std::collections::BTreeMap;
use std::time::Duration;

use zoll_approval::QuorumKey;
use zoll_approval::publish::sign_and_store;
use zoll_client::{ClientConfig, ImageRef, Repository};
use zoll_oci::{Reference, RepoName};
use zoll_testkit::{TarEntry, TestImage, TestServer};
use zoll_trust::image::{self, SignatureFormat};
use zoll_trust::keys::{
    CertificateProfile, CertificateRequest, KeyKind, KeySource, TestCa, certificates_to_pem,
    generate_key,
};
use zoll_trust::notation::EnvelopeFormat;
use zoll_trust::notation::policy::PolicySet;
use zoll_trust::notation::trust_store::TrustStore;
use zoll_trust::verify::{Format, NotationTrust, TrustRoots, TrustedKey};

const FORMATS: [(SignatureFormat, Format); 4] = [
    (
        SignatureFormat::Notation(EnvelopeFormat::Jws),
        Format::NotationJws,
    ),
    (
        SignatureFormat::Notation(EnvelopeFormat::Cose),
        Format::NotationCose,
    ),
    (SignatureFormat::CosignBundle, Format::SigstoreBundle),
    (SignatureFormat::CosignLegacy, Format::CosignSimpleSigning),
];

#[tokio::test]
async fn every_format_verifies_with_the_approved_claims_signed() {
    let server = TestServer::start().await;
    let image: ImageRef = format!("{}/prod/app", server.addr).parse().unwrap();
    let repo = Repository::open(&image, &ClientConfig::default()).unwrap();
    let subject = TestImage::new()
        .layer(&[TarEntry::file("etc/id", b"prod".to_vec())])
        .push(&repo, Some("v1"))
        .await;
    let ca = TestCa::root(KeyKind::EcP384, "C=DE,ST=BE,O=zoll test,CN=root", 30).unwrap();
    let claims = BTreeMap::from([("stage".to_owned(), "release".to_owned())]);
    let name = RepoName::parse("prod/app", 255).unwrap();
    let mut trusted = Vec::new();
    for (i, (format, _)) in FORMATS.iter().enumerate() {
        // A key and identity per format: one signer would count once, the rest duplicates.
        let key = generate_key(KeyKind::EcP256).unwrap().key;
        let req = CertificateRequest::new(
            &format!("C=DE,ST=BE,O=zoll test,CN=quorum-{i}"),
            CertificateProfile::CodeSigning,
            10,
        );
        let chain = ca.issue_chain(key.public_key(), &req).unwrap();
        trusted.push(TrustedKey {
            name: format!("quorum-{i}"),
            key: key.public_key().clone(),
        });
        let quorum = QuorumKey {
            name: format!("quorum-{i}"),
            signer: Box::new(key),
            chain,
            format: *format,
            quorum: 1,
            timelock: Duration::ZERO,
            expiry: Duration::from_secs(60),
            repositories: Vec::new(),
            approvers: Vec::new(),
        };
        sign_and_store(
            &server.store,
            &name,
            &subject,
            &quorum,
            &claims,
            &format!("{}/prod/app", server.addr),
        )
        .await
        .unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("x509/ca/quorum");
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::write(
        ca_dir.join("root.pem"),
        certificates_to_pem(&ca.chain()).into_bytes(),
    )
    .unwrap();
    let store = TrustStore::load(dir.path()).unwrap();
    let policy = r#"{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],
        "signatureVerification":{"level":"strict"},"trustStores":["ca:quorum"],
        "trustedIdentities":["*"]}]}"#;
    let policies = PolicySet::parse(policy.as_bytes(), &store).unwrap();
    let roots = TrustRoots {
        keys: trusted,
        notation: Some(NotationTrust { store, policies }),
        understood_critical: Vec::new(),
    };
    let digest = Reference::Digest(subject.digest.clone());
    let report = image::verify(&repo, Some(&digest), &roots, "scope")
        .await
        .unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    for (_, want) in FORMATS {
        let accepted = report
            .accepted
            .iter()
            .find(|a| a.format == want)
            .unwrap_or_else(|| panic!("no {want:?} accepted: {report:?}"));
        assert_eq!(
            accepted.claims.get("stage").map(String::as_str),
            Some("release"),
            "{want:?}"
        );
    }
}
