//! Key sources: PEM files of every supported type, PKCS#11 keys on SoftHSM2, RFC 7512 URIs,
//! cosign key import, certificates.

use std::process::Command;

use zoll_trust::keys::{
    CertificateProfile, CertificateRequest, FileKey, KeyError, KeyKind, KeySource, PinSource,
    Pkcs11Uri, PublicKey, SignatureAlgorithm, TestCa, generate_key, import_cosign_key, open_key,
    self_signed_certificate,
};

use crate::support::{self, hsm_uri, run, tempdir};

const ALL_FILE_KINDS: &[KeyKind] = &[
    KeyKind::EcP256,
    KeyKind::EcP384,
    KeyKind::EcP521,
    KeyKind::Rsa { bits: 3072 },
    KeyKind::Rsa { bits: 4096 },
    KeyKind::Ed25519,
];

fn algorithms_for(kind: KeyKind) -> Vec<SignatureAlgorithm> {
    let mut algs = vec![SignatureAlgorithm::sigstore_for(kind)];
    algs.extend(SignatureAlgorithm::notation_for(kind));
    algs
}

fn check_sign_verify(key: &dyn KeySource, algorithm: SignatureAlgorithm) {
    let message = b"zoll signs digests, never tags";
    let signature = key.sign(algorithm, message).unwrap();
    let public = key.public_key();
    assert!(
        public.verify(algorithm, message, &signature),
        "{} {algorithm:?}",
        key.describe()
    );
    assert!(!public.verify(algorithm, b"another message", &signature));
    // The public key survives a PEM round trip.
    let again = PublicKey::from_pem(public.to_pem().as_bytes()).unwrap();
    assert_eq!(&again, public);
}

#[test]
fn generated_file_keys_sign_and_verify() {
    for &kind in ALL_FILE_KINDS {
        let generated = generate_key(kind).unwrap();
        assert_eq!(generated.key.public_key().kind(), kind);
        let dir = tempdir();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, generated.private_pem.as_bytes()).unwrap();
        let key = open_key(path.to_str().unwrap()).unwrap();
        for alg in algorithms_for(kind) {
            check_sign_verify(key.as_ref(), alg);
        }
    }
}

/// Keys written by openssl (PKCS#8, SEC1 and PKCS#1) load, and openssl verifies what they sign.
#[test]
fn openssl_keys_load_and_openssl_verifies() {
    support::require_peer("openssl");
    let dir = tempdir();
    let cases: &[(&str, &[&str], KeyKind)] = &[
        (
            "ec-sec1.pem",
            &["ecparam", "-name", "prime256v1", "-genkey", "-noout"],
            KeyKind::EcP256,
        ),
        (
            "ec384.pem",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
            ],
            KeyKind::EcP384,
        ),
        (
            "rsa.pem",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:3072",
            ],
            KeyKind::Rsa { bits: 3072 },
        ),
        (
            "ed.pem",
            &["genpkey", "-algorithm", "ED25519"],
            KeyKind::Ed25519,
        ),
    ];
    for (name, args, kind) in cases {
        let path = dir.path().join(name);
        run(Command::new("openssl").args(*args).arg("-out").arg(&path));
        let key = FileKey::from_file(&path).unwrap();
        assert_eq!(key.public_key().kind(), *kind, "{name}");
        if *kind == KeyKind::Ed25519 {
            continue;
        }
        let alg = SignatureAlgorithm::sigstore_for(*kind);
        let message = dir.path().join("msg");
        std::fs::write(&message, b"payload").unwrap();
        let mut signature = key.sign(alg, b"payload").unwrap();
        if !matches!(kind, KeyKind::Rsa { .. }) {
            signature = zoll_der::ecdsa::fixed_to_der(&signature);
        }
        let sig_path = dir.path().join("sig");
        std::fs::write(&sig_path, &signature).unwrap();
        let pub_path = dir.path().join("pub.pem");
        std::fs::write(&pub_path, key.public_key().to_pem()).unwrap();
        let digest = if *kind == KeyKind::EcP384 {
            "-sha384"
        } else {
            "-sha256"
        };
        run(Command::new("openssl")
            .args(["dgst", digest, "-verify"])
            .arg(&pub_path)
            .arg("-signature")
            .arg(&sig_path)
            .arg(&message));
    }
    // PKCS#1 "RSA PRIVATE KEY" too.
    let pkcs1 = dir.path().join("rsa-pkcs1.pem");
    run(Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&pkcs1)
        .arg("2048"));
    assert!(
        std::fs::read_to_string(&pkcs1)
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    assert_eq!(
        FileKey::from_file(&pkcs1).unwrap().public_key().kind(),
        KeyKind::Rsa { bits: 2048 }
    );
}

#[test]
fn small_rsa_keys_and_non_keys_are_refused() {
    support::require_peer("openssl");
    let dir = tempdir();
    let small = dir.path().join("small.pem");
    run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
        ])
        .arg(&small));
    assert!(matches!(
        FileKey::from_file(&small),
        Err(KeyError::UnsupportedKey(_))
    ));
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    assert!(matches!(
        FileKey::from_file(&garbage),
        Err(KeyError::UnsupportedKey(_))
    ));
    let cert = dir.path().join("cert.pem");
    std::fs::write(
        &cert,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    assert!(matches!(
        FileKey::from_file(&cert),
        Err(KeyError::UnsupportedKey(_))
    ));
    assert!(matches!(
        FileKey::from_file(&dir.path().join("missing.pem")),
        Err(KeyError::Io { .. })
    ));
}

#[test]
fn algorithm_must_fit_the_key() {
    let key = generate_key(KeyKind::EcP256).unwrap().key;
    assert!(matches!(
        key.sign(SignatureAlgorithm::EcdsaP384Sha384, b"m"),
        Err(KeyError::AlgorithmMismatch { .. })
    ));
    let rsa = generate_key(KeyKind::Rsa { bits: 3072 }).unwrap().key;
    assert!(matches!(
        rsa.sign(SignatureAlgorithm::Ed25519, b"m"),
        Err(KeyError::AlgorithmMismatch { .. })
    ));
    // A P-256 signature does not verify as P-384 even with the right bytes.
    let sig = key.sign(SignatureAlgorithm::EcdsaP256Sha256, b"m").unwrap();
    assert!(
        !key.public_key()
            .verify(SignatureAlgorithm::EcdsaP384Sha384, b"m", &sig)
    );
}

/// The grammar is zoll-pkcs11's (tested there with every rule); here, what a signing key
/// adds: a URI that cannot be used is `KeyError::Pkcs11Uri` before any token is touched, it
/// must name the private key, and no message shows the PIN.
#[test]
fn pkcs11_uris_per_rfc7512() {
    let uri: Pkcs11Uri = "pkcs11:token=My%20Token;object=sign;id=%01%a2;slot-id=3\
        ?module-path=/usr/lib/x.so&pin-value=12%2634&x-vendor=1"
        .parse()
        .unwrap();
    assert_eq!(uri.token(), Some("My Token"));
    assert_eq!(uri.object(), Some("sign"));
    assert_eq!(uri.id(), Some(&[0x01, 0xa2][..]));
    assert_eq!(uri.slot_id(), Some(3));
    assert_eq!(
        uri.module_path(),
        Some(std::path::Path::new("/usr/lib/x.so"))
    );
    assert_eq!(
        uri.pin_source(),
        Some(&PinSource::Value("12&34".to_owned().into()))
    );
    assert!(!format!("{uri:?} {uri}").contains("12&34"), "{uri:?}");

    for (text, want) in [
        ("pkcs11:id=%zz", "percent-encoding"),
        ("pkcs11:id=%+f", "percent-encoding"),
        ("pkcs11:token=a", "object= or id="),
        ("pkcs11:object=a;object=b", "given twice"),
        ("pkcs11:object=a;colour=red", "unknown path attribute"),
        ("pkcs11:object=a;type=public", "private key"),
        ("pkcs11:object=a;type=cert", "private key"),
        ("pkcs11:object=a?pin-value=1&pin-source=/x", "given twice"),
        ("pkcs11:object=a;slot-id=x", "decimal"),
        ("pkcs11:object=a?module-name=../lib/x", "bare module name"),
        (
            "pkcs11:object=a?module-name=no-such-module&pin-value=9876",
            "not found",
        ),
        (
            "pkcs11:object=a?pin-source=/nonexistent/pin",
            "/nonexistent/pin",
        ),
    ] {
        match open_key(text) {
            Err(KeyError::Pkcs11Uri(msg)) => {
                assert!(msg.contains(want), "{text}: {msg}");
                assert!(!msg.contains("9876"), "{text}: {msg}");
            }
            Err(other) => panic!("{text}: {other:?}"),
            Ok(key) => panic!("{text}: opened {}", key.describe()),
        }
    }
}

#[test]
fn softhsm_keys_sign_inside_the_token() {
    for (label, _, _) in support::TOKEN_KEYS {
        let key = open_key(&hsm_uri(label)).unwrap();
        assert!(!key.describe().contains(support::PIN), "{}", key.describe());
        for alg in algorithms_for(key.public_key().kind()) {
            check_sign_verify(key.as_ref(), alg);
        }
    }
    // By id instead of label, PIN from a file.
    let dir = tempdir();
    let pin = dir.path().join("pin");
    std::fs::write(&pin, format!("{}\n", support::PIN)).unwrap();
    let uri = format!(
        "pkcs11:token={};id=%02?module-path={}&pin-source=file:{}",
        support::TOKEN,
        support::SOFTHSM_MODULE,
        pin.display()
    );
    let key = open_key(&uri).unwrap();
    assert_eq!(key.public_key().kind(), KeyKind::EcP384);
    // The module by name, found in the system's module directories (as ocicrypt's key
    // files name it), and type=private said outright.
    let uri = format!(
        "pkcs11:token={};object=ec384;type=private?module-name=softhsm2&pin-value={}",
        support::TOKEN,
        support::PIN
    );
    let key = open_key(&uri).unwrap();
    assert_eq!(key.public_key().kind(), KeyKind::EcP384);
}

#[test]
fn softhsm_errors_are_typed() {
    support::softhsm();
    let m = support::SOFTHSM_MODULE;
    // An open key holds the token logged in, so the token itself would take any PIN: the
    // wrong one below must still be refused.
    let _held = open_key(&hsm_uri("ec256")).unwrap();
    for uri in [
        format!("pkcs11:token=no-such-token;object=ec256?module-path={m}&pin-value=1234"),
        format!(
            "pkcs11:token={};object=no-such-key?module-path={m}&pin-value=1234",
            support::TOKEN
        ),
        format!(
            "pkcs11:token={};object=ec256?module-path={m}&pin-value=0000",
            support::TOKEN
        ),
        format!(
            "pkcs11:token={};object=ec256?module-path=/nonexistent.so&pin-value=1234",
            support::TOKEN
        ),
    ] {
        match open_key(&uri) {
            Err(KeyError::Pkcs11(msg)) if uri.contains("pin-value=0000") => {
                assert!(msg.contains("PIN"), "{uri}: {msg}")
            }
            Err(KeyError::Pkcs11(msg)) => assert!(!msg.is_empty()),
            Err(other) => panic!("{uri}: {other:?}"),
            Ok(key) => panic!("{uri}: opened {}", key.describe()),
        }
    }
}

/// A key sealed the way cosign seals it, by Python (hashlib.scrypt + PyNaCl), imports.
#[test]
fn cosign_encrypted_key_imports() {
    let dir = tempdir();
    let prefix = dir.path().join("cosign");
    run(Command::new("python3")
        .arg(support::peer_script("make_cosign_key.py"))
        .arg(&prefix)
        .arg("s3cret"));
    let text = std::fs::read(prefix.with_extension("key")).unwrap();
    let public =
        PublicKey::from_pem(&std::fs::read(prefix.with_extension("pub")).unwrap()).unwrap();
    let (pem, key) = import_cosign_key(&text, b"s3cret").unwrap();
    assert_eq!(key.public_key(), &public);
    let reloaded = FileKey::from_pem(pem.as_bytes(), "reloaded").unwrap();
    assert_eq!(reloaded.public_key(), &public);
    check_sign_verify(&reloaded, SignatureAlgorithm::EcdsaP256Sha256);
    assert!(
        matches!(import_cosign_key(&text, b"wrong"), Err(KeyError::CosignKey(m)) if m.contains("password"))
    );
    // The plain loader points at the importer.
    assert!(
        matches!(FileKey::from_pem(&text, "x"), Err(KeyError::UnsupportedKey(m)) if m.contains("import-cosign"))
    );
}

#[test]
fn certificates_parse_with_openssl() {
    support::require_peer("openssl");
    let dir = tempdir();
    let root = TestCa::root(KeyKind::EcP384, "CN=zoll test root,O=zoll", 3650).unwrap();
    let inter = root
        .intermediate(
            KeyKind::Rsa { bits: 3072 },
            "CN=zoll intermediate,O=zoll",
            365,
        )
        .unwrap();
    let hsm = open_key(&hsm_uri("ec256")).unwrap();
    let req = CertificateRequest::new("CN=signer,O=zoll,C=DE", CertificateProfile::CodeSigning, 30);
    let chain = inter.issue_chain(hsm.public_key(), &req).unwrap();
    assert_eq!(chain.len(), 3);
    let pems = zoll_trust::keys::certificates_to_pem(&chain);
    let (leaf, rest) = pems.split_at(pems.find("-----END CERTIFICATE-----").unwrap() + 26);
    std::fs::write(dir.path().join("leaf.pem"), leaf).unwrap();
    std::fs::write(dir.path().join("rest.pem"), rest).unwrap();
    std::fs::write(
        dir.path().join("root.pem"),
        zoll_trust::keys::certificates_to_pem(&root.chain()),
    )
    .unwrap();
    run(Command::new("openssl").current_dir(dir.path()).args([
        "verify",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "rest.pem",
        "-purpose",
        "any",
        "leaf.pem",
    ]));
    let text = run(Command::new("openssl")
        .current_dir(dir.path())
        .args(["x509", "-noout", "-text", "-in", "leaf.pem"]));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Code Signing"), "{text}");
    assert!(text.contains("Digital Signature"), "{text}");
    // A self-signed certificate made on the token verifies against itself.
    let own = self_signed_certificate(hsm.as_ref(), &req).unwrap();
    std::fs::write(
        dir.path().join("self.pem"),
        zoll_trust::keys::certificates_to_pem(&[own]),
    )
    .unwrap();
    run(Command::new("openssl").current_dir(dir.path()).args([
        "verify",
        "-CAfile",
        "self.pem",
        "-partial_chain",
        "-purpose",
        "any",
        "self.pem",
    ]));
}
