//! The verification seam with Notation trust stores and trust policies, on the reference
//! vectors.

use std::path::Path;

use zoll_oci::{Descriptor, Digest};
use zoll_trust::notation::policy::PolicySet;
use zoll_trust::notation::trust_store::TrustStore;
use zoll_trust::notation::{EnvelopeError, EnvelopeFormat, jws};
use zoll_trust::verify::{
    Failure, NotationTrust, Report, SignatureArtifact, TrustRoots, verify_subject,
};

use crate::support::{tempdir, vectors};

pub fn descriptor(media_type: &str, digest: &str, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: digest.parse().unwrap(),
        size,
        artifact_type: None,
        annotations: None,
        urls: None,
    }
}

pub fn alpine() -> Descriptor {
    descriptor(
        "application/vnd.oci.image.manifest.v1+json",
        "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0",
        481,
    )
}

fn ca_subject() -> Descriptor {
    descriptor(
        "application/vnd.docker.distribution.manifest.v2+json",
        "sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e",
        528,
    )
}

/// A trust store with `ca/<name>/` holding `certs` (PEM), and a policy document.
pub fn notation_trust(dir: &Path, stores: &[(&str, &[u8])], policy: &str) -> NotationTrust {
    for (name, pem) in stores {
        let d = dir.join("x509/ca").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("root.pem"), pem).unwrap();
    }
    let store = TrustStore::load(dir).unwrap();
    let policies = PolicySet::parse(policy.as_bytes(), &store).unwrap();
    NotationTrust { store, policies }
}

pub fn policy(level: &str, store: &str, identity: &str) -> String {
    format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"p","registryScopes":["*"],
        "signatureVerification":{{"level":{level}}},"trustStores":["ca:{store}"],"trustedIdentities":["{identity}"]}}]}}"#
    )
}

fn leaf_pem_of(envelope: &str) -> Vec<u8> {
    let info =
        jws::verify(&std::fs::read(vectors().join("envelopes").join(envelope)).unwrap()).unwrap();
    zoll_trust::keys::certificates_to_pem(&[info.chain[0].der().to_vec()]).into_bytes()
}

fn root_pem() -> Vec<u8> {
    std::fs::read(vectors().join("truststore/NotationTestRoot.pem")).unwrap()
}

fn run(trust: NotationTrust, subject: &Descriptor, envelope: &str) -> Report {
    let bytes = std::fs::read(vectors().join("envelopes").join(envelope)).unwrap();
    let format = if envelope.starts_with("cose") {
        EnvelopeFormat::Cose
    } else {
        EnvelopeFormat::Jws
    };
    let artifact = SignatureArtifact::Notation {
        manifest: Digest::sha256(b"referrer"),
        format,
        envelope: bytes.into(),
    };
    let roots = TrustRoots {
        notation: Some(trust),
        ..Default::default()
    };
    verify_subject(
        &roots,
        subject,
        "localhost:5000/alpine",
        &[artifact],
        time::OffsetDateTime::now_utc().unix_timestamp(),
    )
}

/// The outcome as one line: "accepted <subject>" or the failure.
fn outcome(report: &Report) -> Result<String, Failure> {
    match (report.accepted.first(), report.rejected.first()) {
        (Some(a), None) => Ok(match &a.identity {
            zoll_trust::verify::Identity::X509 { subject, .. } => subject.clone(),
            other => format!("{other:?}"),
        }),
        (None, Some(r)) => Err(r.failure.clone()),
        other => panic!("unexpected report {other:?}"),
    }
}

fn check(
    envelope: &str,
    subject: Descriptor,
    store_pem: Vec<u8>,
    policy_json: String,
    expect: Result<&str, Failure>,
) {
    let dir = tempdir();
    let report = run(
        notation_trust(dir.path(), &[("test", &store_pem)], &policy_json),
        &subject,
        envelope,
    );
    match (outcome(&report), expect) {
        (Ok(got), Ok(want)) => assert!(got.contains(want), "{envelope}: {got}"),
        (Err(got), Err(want)) => assert_eq!(got, want, "{envelope}"),
        (got, want) => panic!("{envelope}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn reference_vectors_against_trust_policies() {
    let strict = || policy(r#""strict""#, "test", "*");
    let alpine_cert = || leaf_pem_of("jws_signature.sig");
    // Self-signed signer trusted as its own root, JWS and COSE.
    check(
        "jws_signature.sig",
        alpine(),
        alpine_cert(),
        strict(),
        Ok("CN=alpine"),
    );
    check(
        "cose_signature.sig",
        alpine(),
        alpine_cert(),
        strict(),
        Ok("CN=alpine"),
    );
    // CA chain to NotationTestRoot.
    check(
        "ca_valid_sig_env.json",
        ca_subject(),
        root_pem(),
        strict(),
        Ok("Notation Test"),
    );
    // Same signature, another root: untrusted.
    check(
        "ca_valid_sig_env.json",
        ca_subject(),
        alpine_cert(),
        strict(),
        Err(Failure::UntrustedRoot),
    );
    check(
        "jws_signature.sig",
        alpine(),
        root_pem(),
        strict(),
        Err(Failure::UntrustedRoot),
    );
    // Broken signature: integrity.
    check(
        "ca_invalid_sig_env.json",
        ca_subject(),
        root_pem(),
        strict(),
        Err(Failure::Envelope(EnvelopeError::Malformed(
            "payload is not base64url".into(),
        ))),
    );
    // Expired: rejected under strict, accepted with a warning under permissive or when
    // the expiry check is set to log.
    let expiry = time::macros::datetime!(2022-07-29 23:59:00 UTC).unix_timestamp();
    check(
        "ca_expired_sig_env.json",
        ca_subject(),
        root_pem(),
        strict(),
        Err(Failure::Expired { expiry }),
    );
    check(
        "ca_expired_sig_env.json",
        ca_subject(),
        root_pem(),
        policy(r#""permissive""#, "test", "*"),
        Ok("Notation Test"),
    );
    check(
        "ca_expired_sig_env.json",
        ca_subject(),
        root_pem(),
        policy(r#""strict","override":{"expiry":"log"}"#, "test", "*"),
        Ok("Notation Test"),
    );
    // The signature is valid but for another artifact.
    check(
        "jws_signature.sig",
        ca_subject(),
        alpine_cert(),
        strict(),
        Err(Failure::WrongSubject {
            expected: ca_subject().digest,
            signed: alpine().digest.to_string(),
        }),
    );
    // Trusted root, wrong identity.
    check(
        "jws_signature.sig",
        alpine(),
        alpine_cert(),
        policy(
            r#""strict""#,
            "test",
            "x509.subject: C=US, ST=WA, O=SomeoneElse",
        ),
        Err(Failure::UntrustedIdentity(
            "C=US, ST=WA, L=Seattle, O=Notary, CN=alpine".into(),
        )),
    );
    check(
        "jws_signature.sig",
        alpine(),
        alpine_cert(),
        policy(
            r#""strict""#,
            "test",
            "x509.subject: C=US, ST=WA, O=Notary, CN=alpine",
        ),
        Ok("CN=alpine"),
    );
    // Audit logs authenticity failures instead of refusing.
    check(
        "jws_signature.sig",
        alpine(),
        root_pem(),
        policy(r#""audit""#, "test", "*"),
        Ok("CN=alpine"),
    );
}

fn policy_error(json: &str) -> String {
    let dir = tempdir();
    let d = dir.path().join("x509/ca/test");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("root.pem"), root_pem()).unwrap();
    let store = TrustStore::load(dir.path()).unwrap();
    PolicySet::parse(json.as_bytes(), &store).unwrap_err()
}

#[test]
fn trust_policy_documents_are_validated() {
    let p = |scopes: &str, level: &str, stores: &str, ids: &str| {
        format!(
            r#"{{"version":"1.0","trustPolicies":[{{"name":"a","registryScopes":{scopes},"signatureVerification":{{"level":"{level}"}},"trustStores":{stores},"trustedIdentities":{ids}}}]}}"#
        )
    };
    assert!(
        policy_error(&p(r#"["*"]"#, "strict", r#"["ca:nope"]"#, r#"["*"]"#))
            .contains("does not exist")
    );
    assert!(
        policy_error(&p(r#"["*"]"#, "paranoid", r#"["ca:test"]"#, r#"["*"]"#))
            .contains("unknown verification level")
    );
    assert!(
        policy_error(&p(r#"["*","a/b"]"#, "strict", r#"["ca:test"]"#, r#"["*"]"#))
            .contains("only registry scope")
    );
    assert!(
        policy_error(&p(
            r#"["*"]"#,
            "strict",
            r#"["ca:test"]"#,
            r#"["x509.subject: CN=x"]"#
        ))
        .contains("lacks the C")
    );
    assert!(
        policy_error(&p(
            r#"["*"]"#,
            "strict",
            r#"["ca:test"]"#,
            r#"["*","x509.subject: C=a, ST=b, O=c"]"#
        ))
        .contains("only trusted identity")
    );
    assert!(
        policy_error(&p(r#"["*"]"#, "strict", r#"[]"#, r#"["*"]"#)).contains("needs trustStores")
    );
    assert!(policy_error(r#"{"version":"2.0","trustPolicies":[]}"#).contains("version"));
    assert!(policy_error(
        r#"{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"integrity":"log"}},"trustStores":["ca:test"],"trustedIdentities":["*"]}]}"#
    )
    .contains("integrity cannot"));
}

#[test]
fn scoped_policy_wins_and_skip_needs_no_signature() {
    let dir = tempdir();
    let json = r#"{"version":"1.0","trustPolicies":[
        {"name":"alpine","registryScopes":["localhost:5000/alpine"],"signatureVerification":{"level":"skip"}},
        {"name":"rest","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:test"],"trustedIdentities":["*"]}]}"#;
    let trust = notation_trust(dir.path(), &[("test", &root_pem())], json);
    let roots = TrustRoots {
        notation: Some(trust),
        ..Default::default()
    };
    let report = verify_subject(&roots, &alpine(), "localhost:5000/alpine", &[], 0);
    assert!(report.verification_skipped && report.is_trusted());
    let report = verify_subject(&roots, &alpine(), "localhost:5000/other", &[], 0);
    assert!(!report.is_trusted());
}
