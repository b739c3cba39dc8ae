//! Signing and verification throughput, end to end: sign + push to a registry (zoll in
//! process, and Debian's docker-registry 2.8.2 as the peer), with a file key and a SoftHSM key,
//! and verifications per second. Run by `bench/trust.sh` (release build); not a test.
//!
//! usage: trust_bench IMAGES CONCURRENCY   (SOFTHSM2_CONF and ZOLL_BENCH_HSM_URI set by the script)

use std::sync::Arc;
use std::time::Instant;

use zoll_client::{ClientConfig, ImageRef, Repository};
use zoll_testkit::{DistributionServer, TarEntry, TestImage, TestServer};
use zoll_trust::image::{self, SignOptions, SignatureFormat};
use zoll_trust::keys::{self, CertificateProfile, CertificateRequest, KeyKind, KeySource, TestCa};
use zoll_trust::notation::EnvelopeFormat;
use zoll_trust::notation::policy::PolicySet;
use zoll_trust::notation::trust_store::TrustStore;
use zoll_trust::verify::{NotationTrust, TrustRoots, TrustedKey};

struct Setup {
    key: Arc<dyn KeySource>,
    chain: Vec<Vec<u8>>,
}

fn repo(reference: &str) -> (ImageRef, Repository) {
    let image: ImageRef = reference.parse().expect("reference");
    let repo = Repository::open(&image, &ClientConfig::default()).expect("repo");
    (image, repo)
}

async fn push_images(registry: &str, n: usize) -> Vec<String> {
    let (_, repo) = repo(&format!("{registry}/bench/app:seed"));
    let mut refs = Vec::new();
    for i in 0..n {
        let img = TestImage::new().layer(&[TarEntry::file(
            "seed",
            format!("{registry}-{i}").into_bytes(),
        )]);
        let d = img.push(&repo, None).await;
        refs.push(format!("{registry}/bench/app@{}", d.digest));
    }
    refs
}

/// Signs every image with `concurrency` tasks; returns signatures per second.
async fn sign_all(
    refs: &[String],
    setup: &Setup,
    format: SignatureFormat,
    concurrency: usize,
) -> f64 {
    let start = Instant::now();
    let chunks: Vec<Vec<String>> = refs
        .chunks(refs.len().div_ceil(concurrency))
        .map(|c| c.to_vec())
        .collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let key = setup.key.clone();
        let chain = setup.chain.clone();
        tasks.push(tokio::spawn(async move {
            for r in chunk {
                let (img, repo) = repo(&r);
                let opts = SignOptions {
                    key: key.as_ref(),
                    format,
                    chain: chain.clone(),
                    expiry: None,
                    claims: Default::default(),
                    docker_reference: "bench/app".into(),
                };
                image::sign(&repo, img.reference.as_ref(), &opts)
                    .await
                    .expect("sign");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    refs.len() as f64 / start.elapsed().as_secs_f64()
}

async fn verify_all(refs: &[String], roots: &TrustRoots, concurrency: usize) -> f64 {
    let start = Instant::now();
    let roots = Arc::new(roots.clone());
    let mut tasks = Vec::new();
    for chunk in refs.chunks(refs.len().div_ceil(concurrency)) {
        let chunk = chunk.to_vec();
        let roots = roots.clone();
        tasks.push(tokio::spawn(async move {
            for r in chunk {
                let (img, repo) = repo(&r);
                let report = image::verify(&repo, img.reference.as_ref(), &roots, "bench")
                    .await
                    .expect("verify");
                assert!(report.is_trusted(), "{r}: {report:?}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    refs.len() as f64 / start.elapsed().as_secs_f64()
}

fn roots(ca: &TestCa, key: &dyn KeySource) -> TrustRoots {
    let dir = tempfile::tempdir().expect("dir");
    let store_dir = dir.path().join("x509/ca/bench");
    std::fs::create_dir_all(&store_dir).expect("dir");
    std::fs::write(
        store_dir.join("root.pem"),
        keys::certificates_to_pem(&ca.chain()),
    )
    .expect("write");
    let store = TrustStore::load(dir.path()).expect("store");
    let policy = r#"{"version":"1.0","trustPolicies":[{"name":"b","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:bench"],"trustedIdentities":["*"]}]}"#;
    let policies = PolicySet::parse(policy.as_bytes(), &store).expect("policy");
    TrustRoots {
        keys: vec![TrustedKey {
            name: "bench".into(),
            key: key.public_key().clone(),
        }],
        notation: Some(NotationTrust { store, policies }),
        understood_critical: Vec::new(),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(500);
    let concurrency: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let ca = TestCa::root(KeyKind::EcP256, "C=DE,ST=BE,O=bench,CN=root", 30).expect("ca");
    let req = CertificateRequest::new(
        "C=DE,ST=BE,O=bench,CN=signer",
        CertificateProfile::CodeSigning,
        30,
    );
    let file_key: Arc<dyn KeySource> =
        Arc::new(keys::generate_key(KeyKind::EcP256).expect("key").key);
    let hsm_uri = std::env::var("ZOLL_BENCH_HSM_URI").expect("ZOLL_BENCH_HSM_URI");
    let hsm_key: Arc<dyn KeySource> = Arc::from(keys::open_key(&hsm_uri).expect("hsm key"));
    let file = Setup {
        chain: ca.issue_chain(file_key.public_key(), &req).expect("chain"),
        key: file_key,
    };
    let hsm = Setup {
        chain: ca.issue_chain(hsm_key.public_key(), &req).expect("chain"),
        key: hsm_key,
    };

    let zoll = TestServer::start().await;
    let distribution = DistributionServer::start().await;
    println!("| registry | key | format | images | concurrency | signed+pushed/s | verified/s |");
    println!("|---|---|---|---|---|---|---|");
    let jws = SignatureFormat::Notation(EnvelopeFormat::Jws);
    for (registry_name, addr) in [
        ("zoll", zoll.addr.clone()),
        ("docker-registry 2.8.2", distribution.addr.clone()),
    ] {
        for (key_name, setup, format, format_name) in [
            ("file P-256", &file, jws, "notation-jws"),
            (
                "file P-256",
                &file,
                SignatureFormat::CosignBundle,
                "cosign-bundle",
            ),
            ("SoftHSM P-256", &hsm, jws, "notation-jws"),
        ] {
            let refs = push_images(&addr, n).await;
            let signed = sign_all(&refs, setup, format, concurrency).await;
            let verified = verify_all(&refs, &roots(&ca, setup.key.as_ref()), concurrency).await;
            println!(
                "| {registry_name} | {key_name} | {format_name} | {n} | {concurrency} | {signed:.0} | {verified:.0} |"
            );
        }
    }

    // Pure verification (no I/O): one Notation JWS artifact through verify_subject.
    let subject_desc = zoll_client::descriptor(
        "application/vnd.oci.image.manifest.v1+json",
        b"{\"bench\":1}",
    );
    let request_roots = roots(&ca, file.key.as_ref());
    let payload = zoll_trust::notation::Payload::new(&subject_desc).to_bytes();
    let envelope = jws_envelope(&file, payload);
    let artifact = zoll_trust::verify::SignatureArtifact::Notation {
        manifest: subject_desc.digest.clone(),
        format: EnvelopeFormat::Jws,
        envelope: envelope.into(),
    };
    let rounds = 5000;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let start = Instant::now();
    for _ in 0..rounds {
        let report = zoll_trust::verify::verify_subject(
            &request_roots,
            &subject_desc,
            "bench",
            std::slice::from_ref(&artifact),
            now,
        );
        assert!(report.is_trusted());
    }
    let rate = rounds as f64 / start.elapsed().as_secs_f64();
    println!();
    println!(
        "| in-memory verify_subject (Notation JWS, P-256 chain of 2) | {rate:.0} /s on one core |"
    );
}

fn jws_envelope(setup: &Setup, payload: Vec<u8>) -> Vec<u8> {
    zoll_trust::notation::jws::sign(&zoll_trust::notation::SignRequest {
        payload,
        signing_time: time::OffsetDateTime::now_utc(),
        expiry: None,
        scheme: zoll_trust::notation::SigningScheme::X509,
        extended: Vec::new(),
        signing_agent: "bench".into(),
        chain: setup.chain.clone(),
        key: setup.key.as_ref(),
    })
    .expect("sign")
}
