//! Every key and certificate format OpenSSL writes, checked by what aws-lc-rs makes of the
//! DER that comes out.

use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use zoll_der::keys::{self, Algorithm, Curve, PrivateKey, PublicKey};
use zoll_der::{Error, pem};

use crate::data;

/// The SubjectPublicKeyInfo aws-lc-rs derives from the private key.
fn spki_of(key: &PrivateKey) -> Vec<u8> {
    use aws_lc_rs::encoding::AsDer;
    let der = key.der();
    match key.algorithm() {
        Algorithm::Ec(curve) => {
            let alg = match curve {
                Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
                Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
            };
            let k = EcdsaKeyPair::from_private_key_der(alg, der).unwrap();
            k.public_key().as_der().unwrap().as_ref().to_vec()
        }
        Algorithm::Rsa { .. } => {
            let k = RsaKeyPair::from_pkcs8(der).unwrap();
            k.public_key().as_der().unwrap().as_ref().to_vec()
        }
        Algorithm::Ed25519 => {
            let k = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).unwrap();
            k.public_key().as_der().unwrap().as_ref().to_vec()
        }
    }
}

#[test]
fn every_private_key_format() {
    let rsa = Algorithm::Rsa { bits: 2048 };
    let [p256, p384, p521] = [Curve::P256, Curve::P384, Curve::P521].map(Algorithm::Ec);
    let cases = [
        ("rsa-pkcs8.pem", rsa, "rsa-spki.pem"),
        ("rsa-pkcs1.pem", rsa, "rsa-spki.pem"),
        ("ec-p256-pkcs8.pem", p256, "ec-p256-spki.pem"),
        ("ec-p256-pkcs8.der", p256, "ec-p256-spki.pem"),
        ("ec-p256-sec1.pem", p256, "ec-p256-spki.pem"),
        ("ec-p384-pkcs8.pem", p384, "ec-p384-spki.pem"),
        ("ec-p521-pkcs8.pem", p521, "ec-p521-spki.pem"),
        ("ed25519-pkcs8.pem", Algorithm::Ed25519, "ed25519-spki.pem"),
    ];
    for (file, algorithm, public) in cases {
        let key = keys::private_key(&data(file), None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(key.algorithm(), algorithm, "{file}");
        let public = keys::public_key(&data(public)).unwrap();
        assert_eq!(spki_of(&key), public.spki(), "{file}");
        assert!(keys::is_private_key(&data(file)) == file.ends_with(".pem"));
    }
}

#[test]
fn every_public_key_format() {
    let spki = keys::public_key(&data("rsa-spki.pem")).unwrap();
    assert_eq!(spki.algorithm(), Algorithm::Rsa { bits: 2048 });
    let (n, e) = spki.rsa_components().unwrap();
    assert_eq!((n.len(), e), (256, &[1, 0, 1][..]));
    assert_eq!(
        keys::public_key(&data("rsa-pkcs1-public.pem")).unwrap(),
        spki
    );
    assert_eq!(keys::public_key(&data("rsa-cert.pem")).unwrap(), spki);
    assert!(
        keys::public_key(&data("rsa-cert.der")).is_err(),
        "DER is SPKI only"
    );

    let ec = keys::public_key(&data("ec-p256-spki.pem")).unwrap();
    assert_eq!(ec.algorithm(), Algorithm::Ec(Curve::P256));
    assert_eq!(ec.key().len(), 65);
    assert_eq!(keys::public_key(&data("ec-p256-spki.der")).unwrap(), ec);
    assert_eq!(keys::public_key(&data("ec-p256-cert.pem")).unwrap(), ec);
    assert!(ec.rsa_components().is_none());
    for (file, curve) in [
        ("ec-p384-spki.pem", Curve::P384),
        ("ec-p521-spki.pem", Curve::P521),
    ] {
        let k = keys::public_key(&data(file)).unwrap();
        assert_eq!(k.algorithm(), Algorithm::Ec(curve));
        assert_eq!(k.key().len(), 1 + 2 * curve.coordinate_len());
    }
    let ed = keys::public_key(&data("ed25519-spki.pem")).unwrap();
    assert_eq!((ed.algorithm(), ed.key().len()), (Algorithm::Ed25519, 32));

    // Built from the parts a PKCS#11 token gives: the same keys.
    assert_eq!(
        PublicKey::from_rsa_components(&[&[0u8][..], n].concat(), e).unwrap(),
        spki
    );
    let params = der_oid(Curve::P256.oid());
    let point = ec.key();
    assert_eq!(PublicKey::from_ec_components(&params, point).unwrap(), ec);
    let wrapped = zoll_der::der::tlv(zoll_der::der::OCTET_STRING, point);
    assert_eq!(
        PublicKey::from_ec_components(&params, &wrapped).unwrap(),
        ec
    );
}

fn der_oid(content: &[u8]) -> Vec<u8> {
    zoll_der::der::tlv(zoll_der::der::OID, content)
}

#[test]
fn certificates() {
    let cert = keys::certificate(&data("ec-p256-cert.pem")).unwrap();
    // The serial as its INTEGER content (the sign byte kept), the issuer as its whole Name.
    assert_eq!(cert.serial, [0x00, 0xc0, 0xff, 0xee]);
    assert_eq!(cert.issuer[0], 0x30);
    assert!(String::from_utf8_lossy(&cert.issuer).contains("zoll-der-test"));
    let der = keys::certificate(&data("rsa-cert.der")).unwrap();
    assert_eq!(der, keys::certificate(&data("rsa-cert.pem")).unwrap());
    assert!(keys::is_certificate(&data("rsa-cert.pem")));
    assert!(!keys::is_certificate(&data("rsa-spki.pem")));

    let chain = [data("rsa-cert.pem"), data("ec-p256-cert.pem")].concat();
    let ders = keys::certificate_chain(&chain).unwrap();
    assert_eq!(ders.len(), 2);
    assert_eq!(ders[0], data("rsa-cert.der"));
    assert!(matches!(
        keys::certificate_chain(&data("rsa-spki.pem")),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        keys::certificate(&data("rsa-spki.pem")),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn encrypted_pkcs8() {
    // OpenSSL 3's defaults: PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC.
    let file = data("ec-p256-encrypted.pem");
    let key = keys::private_key(&file, Some(b"correct-horse")).unwrap();
    assert_eq!(key.algorithm(), Algorithm::Ec(Curve::P256));
    assert_eq!(key.der(), data("ec-p256-pkcs8.der"));
    assert!(keys::is_private_key(&file));
    // PBKDF2-HMAC-SHA1 and AES-128-CBC.
    let rsa = keys::private_key(
        &data("rsa-encrypted-sha1-aes128.pem"),
        Some(b"correct-horse"),
    );
    assert_eq!(rsa.unwrap().algorithm(), Algorithm::Rsa { bits: 2048 });

    assert_eq!(
        keys::private_key(&file, Some(b"wrong")).unwrap_err(),
        Error::WrongPassword
    );
    assert_eq!(
        keys::private_key(&file, Some(b"")).unwrap_err(),
        Error::WrongPassword
    );
    assert_eq!(
        keys::private_key(&file, None).unwrap_err(),
        Error::PasswordRequired
    );
}

/// A PBKDF2 iteration count past the bound is refused before any hashing.
#[test]
fn pbkdf2_iterations_are_bounded() {
    let epki = pem::blocks(&data("ec-p256-encrypted.pem"))
        .unwrap()
        .remove(0)
        .der;
    // OpenSSL wrote 2048 iterations as INTEGER 0x0800.
    let at = epki
        .windows(4)
        .position(|w| w == [0x02, 0x02, 0x08, 0x00])
        .unwrap();
    let mut hostile = epki.clone();
    hostile[at + 2] = 0x7f;
    hostile[at + 3] = 0xff; // 32767: fine
    assert_eq!(
        PrivateKey::from_encrypted_pkcs8(&hostile, b"correct-horse").unwrap_err(),
        Error::WrongPassword
    );
    // 0x7fff_ffff in the same place needs a longer INTEGER: rebuild the length bytes.
    let big = [
        &epki[..at],
        &[0x02, 0x04, 0x7f, 0xff, 0xff, 0xff][..],
        &epki[at + 4..],
    ]
    .concat();
    let big = fix_lengths(&big, 2);
    match PrivateKey::from_encrypted_pkcs8(&big, b"correct-horse") {
        Err(Error::Unsupported(m)) => assert!(m.contains("iteration"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Adds `grow` to the short-form lengths of the SEQUENCEs that enclose the PBKDF2 INTEGER
/// (OpenSSL's small files use the short form everywhere but the outer SEQUENCE).
fn fix_lengths(der: &[u8], grow: u8) -> Vec<u8> {
    let mut out = der.to_vec();
    // Outer SEQUENCE: 30 81 LL.
    assert_eq!(&out[..2], &[0x30, 0x81]);
    out[2] += grow;
    // AlgorithmIdentifier (3), PBES2 params (16), PBKDF2 AlgorithmIdentifier (18), PBKDF2
    // params (31): the offsets asn1parse shows for this file.
    for at in [4, 17, 19, 32] {
        assert_eq!(out[at - 1], 0x30, "offset {at}");
        out[at] += grow;
    }
    out
}

#[test]
fn unusable_files_say_why_in_one_line() {
    let cases: &[(&[u8], &str)] = &[
        (
            &data("ec-p256-legacy-encrypted.pem"),
            "openssl pkcs8 -topk8",
        ),
        (&data("rsa-spki.pem"), "no private key in the file"),
        (&data("rsa-cert.pem"), "no private key in the file"),
        (
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "malformed private key",
        ),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n", "malformed PEM"),
    ];
    for (input, want) in cases {
        let message = keys::private_key(input, Some(b"correct-horse"))
            .unwrap_err()
            .to_string();
        assert!(message.contains(want), "{message}");
        assert!(!message.contains('\n'), "{message}");
        assert!(!message.contains("correct-horse"), "{message}");
    }
    // A curve other than the NIST three.
    let secp256k1 = [0x2b, 0x81, 0x04, 0x00, 0x0a];
    let spki = zoll_der::der::sequence(&[
        &zoll_der::der::algorithm(
            zoll_der::der::oid::EC_PUBLIC_KEY,
            Some(&der_oid(&secp256k1)),
        ),
        &zoll_der::der::bit_string(&[4; 65]),
    ]);
    assert!(
        matches!(PublicKey::from_spki(&spki), Err(Error::Unsupported(m)) if m.contains("curve"))
    );
}
