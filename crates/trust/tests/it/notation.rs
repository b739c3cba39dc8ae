//! Notation envelopes against the reference implementation's vectors.

use serde_json::Value;
use time::macros::datetime;
use zoll_trust::cbor;
use zoll_trust::keys::{
    CertificateProfile, CertificateRequest, KeyKind, KeySource, generate_key,
    self_signed_certificate,
};
use zoll_trust::notation::{
    EnvelopeError, EnvelopeFormat, ExtendedAttribute, Payload, SignRequest, SigningScheme, cose,
    jws,
};

use crate::support::vectors;

fn envelope(name: &str) -> Vec<u8> {
    std::fs::read(vectors().join("envelopes").join(name)).unwrap()
}

const ALPINE_DIGEST: &str =
    "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0";

#[test]
fn reference_jws_and_cose_envelopes_verify() {
    for (name, format) in [
        ("jws_signature.sig", EnvelopeFormat::Jws),
        ("cose_signature.sig", EnvelopeFormat::Cose),
    ] {
        let info = format
            .verify(&envelope(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let payload = Payload::parse(&info.payload).unwrap();
        assert_eq!(
            payload.target_artifact.digest.as_str(),
            ALPINE_DIGEST,
            "{name}"
        );
        assert_eq!(payload.target_artifact.size, 481);
        assert_eq!(info.scheme, SigningScheme::X509);
        assert_eq!(info.chain.len(), 1);
        assert!(
            info.chain[0].subject().contains("CN=alpine"),
            "{}",
            info.chain[0].subject()
        );
        assert_eq!(info.signing_agent.as_deref(), Some("Notation/1.0.0"));
    }
}

#[test]
fn reference_ca_envelopes() {
    let valid = jws::verify(&envelope("ca_valid_sig_env.json")).unwrap();
    assert_eq!(valid.chain.len(), 2);
    assert_eq!(
        valid.expiry,
        Some(datetime!(2120-11-09 07:00:00 UTC).unix_timestamp())
    );
    let root_pem = std::fs::read(vectors().join("truststore/NotationTestRoot.pem")).unwrap();
    let root = zoll_trust::keys::certificates_from_pem(&root_pem).unwrap();
    assert_eq!(valid.chain[1].der(), root[0].as_slice());

    // The invalid one fails integrity.
    let invalid = jws::verify(&envelope("ca_invalid_sig_env.json")).unwrap_err();
    assert_eq!(
        invalid,
        EnvelopeError::Malformed("payload is not base64url".into()),
        "{invalid:?}"
    );
    // The expired one is intact; its expiry is in the past (the verifier rejects it).
    let expired = jws::verify(&envelope("ca_expired_sig_env.json")).unwrap();
    assert_eq!(
        expired.expiry,
        Some(datetime!(2022-07-29 23:59:00 UTC).unix_timestamp())
    );
}

fn self_signed(kind: KeyKind) -> (Box<dyn KeySource>, Vec<Vec<u8>>) {
    let key = generate_key(kind).unwrap().key;
    let req = CertificateRequest::new(
        "C=US,ST=WA,L=Seattle,O=Notary,CN=conformance",
        CertificateProfile::CodeSigning,
        10,
    );
    let cert = self_signed_certificate(&key, &req).unwrap();
    (Box::new(key), vec![cert])
}

fn extended(keys: &[&str]) -> Vec<ExtendedAttribute> {
    let mut attrs = vec![ExtendedAttribute {
        key: "signedCritKey1".into(),
        value: "signedCritValue1".into(),
        critical: true,
    }];
    for k in keys {
        attrs.push(ExtendedAttribute {
            key: (*k).into(),
            value: "signedValue1".into(),
            critical: false,
        });
    }
    attrs
}

#[test]
fn jws_conformance_bytes() {
    let vector: Value = serde_json::from_slice(&envelope("jws_conformance.json")).unwrap();
    let (key, chain) = self_signed(KeyKind::EcP256);
    let request = SignRequest {
        payload: br#"{"key":"hello JWS"}"#.to_vec(),
        signing_time: datetime!(2022-08-29 13:50:00 UTC),
        expiry: Some(datetime!(2099-08-30 13:50:00 UTC)),
        scheme: SigningScheme::X509,
        extended: extended(&["signedKey1", "signedKey2", "signedKey3", "signedKey4"]),
        signing_agent: "NotationConformanceTest/1.0.0".into(),
        chain,
        key: key.as_ref(),
    };
    let signed: Value = serde_json::from_slice(&jws::sign(&request).unwrap()).unwrap();
    assert_eq!(signed["payload"], vector["payload"]);
    assert_eq!(signed["protected"], vector["protected"]);
    assert_eq!(
        signed["header"]["io.cncf.notary.signingAgent"],
        vector["header"]["io.cncf.notary.signingAgent"]
    );
    // And what we signed verifies, with the attributes intact.
    let info = jws::verify(signed.to_string().as_bytes()).unwrap();
    assert!(
        info.extended
            .iter()
            .any(|a| a.key == "signedCritKey1" && a.critical)
    );
}

fn unhex(s: &str) -> Vec<u8> {
    zoll_stdx::hex::decode(s).unwrap()
}

#[test]
fn cose_conformance_bytes() {
    let vector: Value = serde_json::from_slice(&envelope("cose_conformance.json")).unwrap();
    let (key, chain) = self_signed(KeyKind::Rsa { bits: 3072 });
    let at = |field: &str| {
        time::OffsetDateTime::from_unix_timestamp(vector[field].as_i64().unwrap()).unwrap()
    };
    let request = SignRequest {
        payload: unhex(vector["payload"].as_str().unwrap()),
        signing_time: at("signingTime"),
        expiry: Some(at("expiry")),
        scheme: SigningScheme::X509,
        extended: extended(&["signedKey1"]),
        signing_agent: "NotationConformanceTest/1.0.0".into(),
        chain,
        key: key.as_ref(),
    };
    let (protected, unprotected) = cose::headers(&request).unwrap();
    assert_eq!(
        protected,
        unhex(vector["protectedHeaders"]["cborHex"].as_str().unwrap())
    );
    let cbor::Value::Map(mut entries) = unprotected else {
        panic!()
    };
    entries.retain(|(k, _)| *k != cbor::Value::int(33));
    assert_eq!(
        cbor::encode(&cbor::Value::Map(entries)),
        unhex(vector["unprotectedHeaders"]["cborHex"].as_str().unwrap())
    );
    let envelope = cose::sign(&request).unwrap();
    let info = cose::verify(&envelope).unwrap();
    assert_eq!(info.payload, b"hello COSE");
    // The expected message's protected header is the same byte string ours carries.
    let expected = cbor::decode(&unhex(
        vector["expectedOutput"]["cborHex"].as_str().unwrap(),
    ))
    .unwrap();
    let cbor::Value::Tag(18, parts) = expected else {
        panic!()
    };
    let cbor::Value::Array(parts) = *parts else {
        panic!()
    };
    assert_eq!(parts[0], cbor::Value::Bytes(protected));
}

#[test]
fn every_notation_key_type_round_trips_in_both_envelopes() {
    for kind in [
        KeyKind::EcP256,
        KeyKind::EcP384,
        KeyKind::EcP521,
        KeyKind::Rsa { bits: 3072 },
        KeyKind::Rsa { bits: 4096 },
    ] {
        let (key, chain) = self_signed(kind);
        for format in [EnvelopeFormat::Jws, EnvelopeFormat::Cose] {
            let request = SignRequest {
                payload: b"{}".to_vec(),
                signing_time: time::OffsetDateTime::now_utc(),
                expiry: None,
                scheme: SigningScheme::X509,
                extended: Vec::new(),
                signing_agent: "zoll-test".into(),
                chain: chain.clone(),
                key: key.as_ref(),
            };
            let env = format.sign(&request).unwrap();
            let info = format
                .verify(&env)
                .unwrap_or_else(|e| panic!("{kind} {format:?}: {e}"));
            assert_eq!(info.payload, b"{}");
        }
    }
}
