//! Adversarial fixtures: one folder per scenario under tests/fixtures/adversarial/, each with
//! `case.json` (subject, trust, artifacts, the exact expected failure) and the artifact files.
//! Every folder goes through the same `check`; the expected failure is the exact variant.
//!
//! The folders are committed. `ZOLL_REGENERATE_FIXTURES=1 cargo test -p zoll-trust --test it
//! adversarial` rewrites them from fresh keys (the expectations are recomputed from the
//! scenario, not from the verifier's output).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::macros::datetime;
use zoll_oci::{Descriptor, Digest};
use zoll_stdx::base64;
use zoll_trust::cosign::{bundle, simple_signing};
use zoll_trust::keys::{
    CertificateProfile, CertificateRequest, KeyKind, KeySource, PublicKey, TestCa,
    certificates_to_pem, generate_key,
};
use zoll_trust::notation::policy::PolicySet;
use zoll_trust::notation::trust_store::TrustStore;
use zoll_trust::notation::{EnvelopeFormat, Payload, SignRequest, SigningScheme, jws};
use zoll_trust::verify::{
    NotationTrust, SignatureArtifact, TrustRoots, TrustedKey, verify_subject,
};

#[derive(Serialize, Deserialize)]
struct Case {
    subject: Descriptor,
    now: i64,
    artifacts: Vec<ArtifactFile>,
    /// `key.pub` files trusted cosign-style.
    #[serde(default)]
    keys: Vec<String>,
    /// A Notation trust store directory and policy file, relative to the folder.
    #[serde(default)]
    notation: Option<(String, String)>,
    /// The `Debug` form of the failure of the last rejected artifact.
    expect: String,
}

#[derive(Serialize, Deserialize)]
struct ArtifactFile {
    kind: String,
    file: String,
    #[serde(default)]
    signature: Option<String>,
    /// Pad the file with spaces to this many bytes (keeps huge inputs out of git).
    #[serde(default)]
    pad_to: usize,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adversarial")
}

fn load_artifacts(dir: &Path, case: &Case) -> Vec<SignatureArtifact> {
    case.artifacts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut bytes = std::fs::read(dir.join(&a.file)).unwrap();
            if bytes.len() < a.pad_to {
                bytes.resize(a.pad_to, b' ');
            }
            let manifest = Digest::sha256(format!("referrer-{i}").as_bytes());
            match a.kind.as_str() {
                "notation-jws" => SignatureArtifact::Notation {
                    manifest,
                    format: EnvelopeFormat::Jws,
                    envelope: bytes.into(),
                },
                "notation-cose" => SignatureArtifact::Notation {
                    manifest,
                    format: EnvelopeFormat::Cose,
                    envelope: bytes.into(),
                },
                "bundle" => SignatureArtifact::SigstoreBundle {
                    manifest,
                    bundle: bytes.into(),
                },
                "simple-signing" => SignatureArtifact::CosignSimpleSigning {
                    manifest,
                    payload: bytes.into(),
                    signature: a.signature.clone(),
                },
                other => panic!("unknown artifact kind {other}"),
            }
        })
        .collect()
}

fn check(dir: &Path) {
    let case: Case =
        serde_json::from_slice(&std::fs::read(dir.join("case.json")).unwrap()).unwrap();
    let mut roots = TrustRoots::default();
    for k in &case.keys {
        let key = PublicKey::from_pem(&std::fs::read(dir.join(k)).unwrap()).unwrap();
        roots.keys.push(TrustedKey {
            name: k.clone(),
            key,
        });
    }
    if let Some((store, policy)) = &case.notation {
        let store = TrustStore::load(&dir.join(store)).unwrap();
        let policies = PolicySet::parse(&std::fs::read(dir.join(policy)).unwrap(), &store).unwrap();
        roots.notation = Some(NotationTrust { store, policies });
    }
    let report = verify_subject(
        &roots,
        &case.subject,
        "registry.test/app",
        &load_artifacts(dir, &case),
        case.now,
    );
    let name = dir.file_name().unwrap().to_string_lossy();
    assert!(
        !report.is_trusted() || !report.rejected.is_empty(),
        "{name}: nothing was rejected: {report:?}"
    );
    let last = report
        .rejected
        .last()
        .unwrap_or_else(|| panic!("{name}: nothing rejected: {report:?}"));
    assert_eq!(format!("{:?}", last.failure), case.expect, "{name}");
}

#[test]
fn adversarial_fixtures() {
    if std::env::var_os("ZOLL_REGENERATE_FIXTURES").is_some() {
        generate();
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 15,
        "expected the adversarial fixture set, found {}",
        dirs.len()
    );
    for dir in dirs {
        check(&dir);
    }
}

// ---- generation ----

const NOW: i64 = 1_900_000_000; // 2030-03-17

fn subject(name: &str) -> Descriptor {
    let bytes = format!("{{\"image\":\"{name}\"}}");
    Descriptor {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: Digest::sha256(bytes.as_bytes()),
        size: bytes.len() as u64,
        artifact_type: None,
        annotations: None,
        urls: None,
    }
}

struct Pki {
    root: TestCa,
    other_root: TestCa,
    key: Box<dyn KeySource>,
    chain: Vec<Vec<u8>>,
    expired_chain: Vec<Vec<u8>>,
}

fn pki() -> Pki {
    let root = TestCa::root(KeyKind::EcP256, "C=DE,ST=BE,O=zoll fixtures,CN=root", 36500).unwrap();
    let other_root =
        TestCa::root(KeyKind::EcP256, "C=DE,ST=BE,O=elsewhere,CN=root", 36500).unwrap();
    let key: Box<dyn KeySource> = Box::new(generate_key(KeyKind::EcP256).unwrap().key);
    let subject = "C=DE,ST=BE,O=zoll fixtures,CN=signer";
    let req = CertificateRequest::new(subject, CertificateProfile::CodeSigning, 36500);
    let chain = root.issue_chain(key.public_key(), &req).unwrap();
    let mut old = CertificateRequest::new(subject, CertificateProfile::CodeSigning, 1);
    old.not_before = datetime!(2020-01-01 00:00 UTC);
    old.not_after = datetime!(2021-01-01 00:00 UTC);
    let expired_chain = root.issue_chain(key.public_key(), &old).unwrap();
    Pki {
        root,
        other_root,
        key,
        chain,
        expired_chain,
    }
}

fn notation_envelope(
    key: &dyn KeySource,
    chain: &[Vec<u8>],
    target: &Descriptor,
    expiry: Option<time::OffsetDateTime>,
) -> Vec<u8> {
    let request = SignRequest {
        payload: Payload::new(target).to_bytes(),
        signing_time: datetime!(2029-01-01 00:00 UTC),
        expiry,
        scheme: SigningScheme::X509,
        extended: Vec::new(),
        signing_agent: "zoll fixtures".into(),
        chain: chain.to_vec(),
        key,
    };
    jws::sign(&request).unwrap()
}

/// Re-encodes a JWS after `edit` changes its protected header (the signature is kept).
fn edit_protected(
    envelope: &[u8],
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Vec<u8> {
    let mut env: Value = serde_json::from_slice(envelope).unwrap();
    let protected = base64::decode_url(env["protected"].as_str().unwrap()).unwrap();
    let mut header: serde_json::Map<String, Value> = serde_json::from_slice(&protected).unwrap();
    edit(&mut header);
    env["protected"] = base64::encode_url(&serde_json::to_vec(&header).unwrap()).into();
    serde_json::to_vec(&env).unwrap()
}

struct Writer {
    dir: PathBuf,
    case: Case,
}

impl Writer {
    fn new(name: &str, subject: Descriptor, expect: impl std::fmt::Debug) -> Writer {
        let dir = root().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Writer {
            dir,
            case: Case {
                subject,
                now: NOW,
                artifacts: Vec::new(),
                keys: Vec::new(),
                notation: None,
                expect: format!("{expect:?}"),
            },
        }
    }

    fn artifact(mut self, kind: &str, bytes: &[u8]) -> Writer {
        let file = format!("artifact-{}.bin", self.case.artifacts.len());
        std::fs::write(self.dir.join(&file), bytes).unwrap();
        self.case.artifacts.push(ArtifactFile {
            kind: kind.into(),
            file,
            signature: None,
            pad_to: 0,
        });
        self
    }

    fn key(mut self, key: &PublicKey) -> Writer {
        std::fs::write(self.dir.join("key.pub"), key.to_pem()).unwrap();
        self.case.keys.push("key.pub".into());
        self
    }

    fn trust_root(mut self, ca: &TestCa) -> Writer {
        let store = self.dir.join("truststore/x509/ca/fixtures");
        std::fs::create_dir_all(&store).unwrap();
        std::fs::write(store.join("root.pem"), certificates_to_pem(&ca.chain())).unwrap();
        std::fs::write(
            self.dir.join("trustpolicy.json"),
            r#"{"version":"1.0","trustPolicies":[{"name":"all","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:fixtures"],"trustedIdentities":["x509.subject: C=DE, ST=BE, O=zoll fixtures"]}]}"#,
        )
        .unwrap();
        self.case.notation = Some(("truststore".into(), "trustpolicy.json".into()));
        self
    }

    fn done(self) {
        std::fs::write(
            self.dir.join("case.json"),
            serde_json::to_vec_pretty(&self.case).unwrap(),
        )
        .unwrap();
    }
}

fn generate() {
    use zoll_trust::keys::SignatureAlgorithm as Alg;
    use zoll_trust::notation::EnvelopeError as E;
    use zoll_trust::verify::Failure as F;
    let p = pki();
    let a = subject("a");
    let b = subject("b");
    let other = generate_key(KeyKind::EcP256).unwrap().key;
    let good = notation_envelope(p.key.as_ref(), &p.chain, &a, None);
    let statement = serde_json::to_vec(&zoll_trust::dsse::Statement::about(
        "",
        &a.digest,
        bundle::COSIGN_SIGN_PREDICATE,
        serde_json::json!({}),
    ))
    .unwrap();
    let good_bundle = bundle::Bundle::sign_statement(p.key.as_ref(), &statement).unwrap();

    // wrong key: signed by one key, another is trusted.
    Writer::new("wrong-key-bundle", a.clone(), F::UntrustedKey)
        .artifact("bundle", &good_bundle.to_json())
        .key(other.public_key())
        .done();
    let payload =
        simple_signing::SimpleSigning::new("registry.test/app", &a.digest, BTreeMap::new())
            .to_bytes();
    let layer = simple_signing::sign_layer(p.key.as_ref(), &payload).unwrap();
    let sig = layer.annotations.unwrap()[simple_signing::SIGNATURE_ANNOTATION].clone();
    let mut w = Writer::new("wrong-key-simple-signing", a.clone(), F::UntrustedKey)
        .artifact("simple-signing", &payload)
        .key(other.public_key());
    w.case.artifacts[0].signature = Some(sig.clone());
    w.done();
    // wrong digest: the payload's digest was edited after signing.
    let mut env: Value = serde_json::from_slice(&good).unwrap();
    let forged = Payload::new(&b).to_bytes();
    env["payload"] = base64::encode_url(&forged).into();
    Writer::new("wrong-digest", b.clone(), F::Envelope(E::SignatureInvalid))
        .artifact("notation-jws", &serde_json::to_vec(&env).unwrap())
        .trust_root(&p.root)
        .done();
    let forged_payload = String::from_utf8(payload.clone())
        .unwrap()
        .replace(a.digest.hex(), b.digest.hex());
    let mut w = Writer::new("wrong-digest-simple-signing", b.clone(), F::UntrustedKey)
        .artifact("simple-signing", forged_payload.as_bytes())
        .key(p.key.public_key());
    w.case.artifacts[0].signature = Some(sig.clone());
    w.done();
    // swapped subject: a valid signature of image a presented for image b.
    let wrong = F::WrongSubject {
        expected: b.digest.clone(),
        signed: a.digest.to_string(),
    };
    Writer::new("swapped-subject-notation", b.clone(), wrong.clone())
        .artifact("notation-jws", &good)
        .trust_root(&p.root)
        .done();
    Writer::new(
        "swapped-subject-bundle",
        b.clone(),
        F::WrongSubject {
            expected: b.digest.clone(),
            signed: a.digest.to_string(),
        },
    )
    .artifact("bundle", &good_bundle.to_json())
    .key(p.key.public_key())
    .done();
    let mut w = Writer::new("swapped-subject-simple-signing", b.clone(), wrong)
        .artifact("simple-signing", &payload)
        .key(p.key.public_key());
    w.case.artifacts[0].signature = Some(sig);
    w.done();
    // expired certificate and expired signature.
    let expired_cert = notation_envelope(p.key.as_ref(), &p.expired_chain, &a, None);
    let leaf = zoll_trust::x509::Certificate::from_der(&p.expired_chain[0]).unwrap();
    Writer::new(
        "expired-certificate",
        a.clone(),
        F::CertificateNotValid(zoll_trust::x509::ChainError::NotValidAt {
            index: 0,
            subject: leaf.subject().to_owned(),
            at: NOW,
            not_before: leaf.not_before(),
            not_after: leaf.not_after(),
        }),
    )
    .artifact("notation-jws", &expired_cert)
    .trust_root(&p.root)
    .done();
    let expiry = datetime!(2029-06-01 00:00 UTC);
    let expired_sig = notation_envelope(p.key.as_ref(), &p.chain, &a, Some(expiry));
    Writer::new(
        "expired-signature",
        a.clone(),
        F::Expired {
            expiry: expiry.unix_timestamp(),
        },
    )
    .artifact("notation-jws", &expired_sig)
    .trust_root(&p.root)
    .done();
    // untrusted root.
    Writer::new("untrusted-root", a.clone(), F::UntrustedRoot)
        .artifact("notation-jws", &good)
        .trust_root(&p.other_root)
        .done();
    // algorithm confusion: ES384 claimed for a P-256 key; "none"; HMAC.
    let es384 = edit_protected(&good, |h| {
        h.insert("alg".into(), "ES384".into());
    });
    Writer::new(
        "algorithm-confusion-es384-on-p256",
        a.clone(),
        F::Envelope(E::AlgorithmMismatch {
            algorithm: Alg::EcdsaP384Sha384,
            key: KeyKind::EcP256,
        }),
    )
    .artifact("notation-jws", &es384)
    .trust_root(&p.root)
    .done();
    for alg in ["none", "HS256"] {
        let env = edit_protected(&good, |h| {
            h.insert("alg".into(), alg.into());
        });
        Writer::new(
            &format!("algorithm-confusion-{}", alg.to_lowercase()),
            a.clone(),
            F::Envelope(E::UnsupportedAlgorithm(alg.into())),
        )
        .artifact("notation-jws", &env)
        .trust_root(&p.root)
        .done();
    }
    // truncated, huge, garbage.
    let truncated = &good[..good.len() / 2];
    let truncated_err = serde_json::from_slice::<Value>(truncated).unwrap_err();
    Writer::new(
        "truncated-envelope",
        a.clone(),
        F::Envelope(E::Malformed(format!("JWS JSON: {truncated_err}"))),
    )
    .artifact("notation-jws", truncated)
    .trust_root(&p.root)
    .done();
    let cose = EnvelopeFormat::Cose
        .sign(&SignRequest {
            payload: Payload::new(&a).to_bytes(),
            signing_time: datetime!(2029-01-01 00:00 UTC),
            expiry: None,
            scheme: SigningScheme::X509,
            extended: Vec::new(),
            signing_agent: "zoll fixtures".into(),
            chain: p.chain.clone(),
            key: p.key.as_ref(),
        })
        .unwrap();
    Writer::new(
        "truncated-cose",
        a.clone(),
        F::Envelope(E::Malformed("COSE: CBOR input ends early".into())),
    )
    .artifact("notation-cose", &cose[..cose.len() - 10])
    .trust_root(&p.root)
    .done();
    let mut w = Writer::new("huge-envelope", a.clone(), F::Envelope(E::TooLarge))
        .artifact("notation-jws", b"{")
        .trust_root(&p.root);
    w.case.artifacts[0].pad_to = zoll_trust::notation::MAX_ENVELOPE_LEN + 1;
    w.done();
    let mut w = Writer::new(
        "huge-bundle",
        a.clone(),
        F::Dsse(zoll_trust::dsse::DsseError::TooLarge),
    )
    .artifact("bundle", b"{")
    .key(p.key.public_key());
    w.case.artifacts[0].pad_to = zoll_trust::dsse::MAX_DSSE_LEN + 1;
    w.done();
    let garbage: Vec<u8> = (0..512u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let garbage_err = zoll_trust::cbor::decode(&garbage).unwrap_err();
    Writer::new(
        "garbage-cose",
        a.clone(),
        F::Envelope(E::Malformed(format!("COSE: {garbage_err}"))),
    )
    .artifact("notation-cose", &garbage)
    .trust_root(&p.root)
    .done();
    Writer::new(
        "deeply-nested-cose",
        a.clone(),
        F::Envelope(E::Malformed("COSE: CBOR nesting deeper than 16".into())),
    )
    .artifact("notation-cose", &[0x81u8; 64])
    .trust_root(&p.root)
    .done();
    let bundle_err = serde_json::from_slice::<bundle::Bundle>(&garbage).unwrap_err();
    Writer::new(
        "garbage-bundle",
        a.clone(),
        F::Dsse(zoll_trust::dsse::DsseError::Malformed(format!(
            "bundle: {bundle_err}"
        ))),
    )
    .artifact("bundle", &garbage)
    .key(p.key.public_key())
    .done();
    // Protected header tricks: a duplicated member, an unknown critical header.
    let text = String::from_utf8(
        base64::decode_url(
            serde_json::from_slice::<Value>(&good).unwrap()["protected"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let dup = text.replacen('{', r#"{"alg":"ES256","#, 1);
    let mut env: Value = serde_json::from_slice(&good).unwrap();
    env["protected"] = base64::encode_url(dup.as_bytes()).into();
    let dup_err = "protected header: duplicate member \"alg\" at line 1 column 28";
    Writer::new(
        "duplicate-header-member",
        a.clone(),
        F::Envelope(E::Malformed(dup_err.into())),
    )
    .artifact("notation-jws", &serde_json::to_vec(&env).unwrap())
    .trust_root(&p.root)
    .done();
    let crit = notation_envelope_with_critical(&p, &a);
    Writer::new(
        "unknown-critical-attribute",
        a.clone(),
        F::UnknownCriticalAttribute("com.example.mustUnderstand".into()),
    )
    .artifact("notation-jws", &crit)
    .trust_root(&p.root)
    .done();
    // Duplicate signatures: the same envelope twice, and one DSSE signature repeated.
    Writer::new(
        "duplicate-envelopes",
        a.clone(),
        F::Duplicate {
            of: Digest::sha256(b"referrer-0"),
        },
    )
    .artifact("notation-jws", &good)
    .artifact("notation-jws", &good)
    .trust_root(&p.root)
    .done();
    let mut doubled = good_bundle.clone();
    doubled
        .dsse_envelope
        .signatures
        .push(doubled.dsse_envelope.signatures[0].clone());
    let doubled = doubled.to_json();
    Writer::new(
        "duplicate-dsse-signatures",
        a.clone(),
        F::Duplicate {
            of: Digest::sha256(&doubled),
        },
    )
    .artifact("bundle", &doubled)
    .key(p.key.public_key())
    .done();
    // The same signer twice in two envelopes counts once.
    let again = notation_envelope(p.key.as_ref(), &p.chain, &a, None);
    Writer::new(
        "duplicate-signer",
        a.clone(),
        F::Duplicate {
            of: Digest::sha256(b"referrer-0"),
        },
    )
    .artifact("notation-jws", &good)
    .artifact("notation-jws", &again)
    .trust_root(&p.root)
    .done();
}

fn notation_envelope_with_critical(p: &Pki, target: &Descriptor) -> Vec<u8> {
    let request = SignRequest {
        payload: Payload::new(target).to_bytes(),
        signing_time: datetime!(2029-01-01 00:00 UTC),
        expiry: None,
        scheme: SigningScheme::X509,
        extended: vec![zoll_trust::notation::ExtendedAttribute {
            key: "com.example.mustUnderstand".into(),
            value: "x".into(),
            critical: true,
        }],
        signing_agent: "zoll fixtures".into(),
        chain: p.chain.clone(),
        key: p.key.as_ref(),
    };
    jws::sign(&request).unwrap()
}
