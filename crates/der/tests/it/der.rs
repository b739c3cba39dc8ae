//! The DER reader and writer, and what they make of truncated, garbage, huge and deep input.

use zoll_der::der::{self, Reader};
use zoll_der::{Error, ecdsa, keys, pem};

#[test]
fn lengths_round_trip() {
    for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 70_000] {
        let content = vec![7u8; len];
        let enc = der::tlv(der::OCTET_STRING, &content);
        let mut r = Reader::new(&enc, "test");
        let got = r.read().unwrap();
        assert_eq!(got.content.len(), len);
        assert_eq!(got.raw, &enc[..]);
        r.finish().unwrap();
    }
}

#[test]
fn integers_are_minimal_and_unsigned() {
    let check = |input: &[u8], want: &[u8]| assert_eq!(der::uint(input), want, "{input:02x?}");
    check(&[], &[2, 1, 0]);
    check(&[0, 0], &[2, 1, 0]);
    check(&[0, 0, 1], &[2, 1, 1]);
    check(&[0x7f], &[2, 1, 0x7f]);
    check(&[0x80], &[2, 2, 0, 0x80]);
    check(&[0, 0xff, 1], &[2, 3, 0, 0xff, 1]);
    assert_eq!(der::unsigned(&[0, 0, 5]), &[5]);
    assert_eq!(der::unsigned(&[0, 0]), &[0]);
}

/// Every way a header can lie is one `Malformed` error.
#[test]
fn bad_headers_are_refused() {
    let cases: &[(&[u8], &str)] = &[
        (&[], "unexpected end"),
        (&[0x30], "length missing"),
        (&[0x30, 0x80, 0, 0], "indefinite"),
        (&[0x04, 0x05, 1], "longer than its input"),
        (&[0x04, 0x85, 1, 1, 1, 1, 1], "bad DER length"),
        (&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5], "non-minimal"),
        (&[0x04, 0x82, 0x00, 0x80], "non-minimal"),
        (&[0x1f, 0x81, 0x01, 0x00], "multi-byte"),
        // Claims 4 GiB: refused from the header, nothing allocated.
        (
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0],
            "longer than its input",
        ),
    ];
    for (input, want) in cases {
        match Reader::new(input, "test").read() {
            Err(Error::Malformed {
                what: "test",
                reason,
            }) => {
                assert!(reason.contains(want), "{input:02x?}: {reason}")
            }
            other => panic!("{input:02x?}: {other:?}"),
        }
    }
}

/// Feeds `input` to every parser of the crate; none may panic.
fn parse_everything(input: &[u8]) {
    let _ = keys::private_key(input, None);
    let _ = keys::private_key(input, Some(b"correct-horse"));
    let _ = keys::public_key(input);
    let _ = keys::certificate(input);
    let _ = keys::PublicKey::from_spki(input);
    let _ = keys::PrivateKey::from_sec1(input);
    let _ = keys::PrivateKey::from_pkcs1_rsa(input);
    let _ = keys::PrivateKey::from_encrypted_pkcs8(input, b"correct-horse");
    let _ = ecdsa::der_to_fixed(input, 32);
    let _ = pem::blocks(input);
}

/// Every prefix of real keys and certificates is refused, never a panic.
#[test]
fn truncated_der_is_refused() {
    for name in ["ec-p256-pkcs8.der", "ec-p256-spki.der", "rsa-cert.der"] {
        let whole = crate::data(name);
        for end in 0..whole.len() {
            let cut = &whole[..end];
            parse_everything(cut);
            assert!(keys::private_key(cut, None).is_err(), "{name}[..{end}]");
            assert!(keys::PublicKey::from_spki(cut).is_err(), "{name}[..{end}]");
            assert!(keys::certificate(cut).is_err(), "{name}[..{end}]");
        }
    }
    let epki = pem::blocks(&crate::data("ec-p256-encrypted.pem")).unwrap();
    let epki = &epki[0].der;
    for end in 0..epki.len() {
        assert!(
            keys::PrivateKey::from_encrypted_pkcs8(&epki[..end], b"correct-horse").is_err(),
            "[..{end}]"
        );
    }
}

#[test]
fn garbage_is_refused() {
    // A fixed xorshift stream: the same bytes every run.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    };
    for len in [1usize, 2, 3, 16, 100, 1000] {
        for _ in 0..200 {
            let mut bytes: Vec<u8> = (0..len).map(|_| next()).collect();
            parse_everything(&bytes);
            // The same bytes behind a SEQUENCE header reach deeper.
            bytes = der::tlv(der::SEQUENCE, &bytes);
            parse_everything(&bytes);
            assert!(keys::private_key(&bytes, None).is_err());
        }
    }
}

/// 20 000 nested SEQUENCEs (the reader never recurses; x509-parser has its own depth bound).
#[test]
fn deep_nesting_is_bounded() {
    let mut deep = der::tlv(der::INTEGER, &[1]);
    for _ in 0..20_000 {
        deep = der::tlv(der::SEQUENCE, &deep);
    }
    parse_everything(&deep);
    assert!(keys::private_key(&deep, None).is_err());
    assert!(keys::certificate(&deep).is_err());
    // And as PEM.
    let text = pem::encode("CERTIFICATE", &deep);
    assert!(keys::certificate(text.as_bytes()).is_err());
    assert!(keys::public_key(text.as_bytes()).is_err());
}

#[test]
fn pem_framing() {
    let unclosed = b"-----BEGIN PRIVATE KEY-----\nAAAA\n";
    assert!(matches!(
        pem::blocks(unclosed),
        Err(Error::Malformed { what: "PEM", .. })
    ));
    let mismatched = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert!(matches!(
        pem::blocks(mismatched),
        Err(Error::Malformed { what: "PEM", .. })
    ));
    let bad_base64 = b"-----BEGIN PRIVATE KEY-----\nA*AA\n-----END PRIVATE KEY-----\n";
    assert!(matches!(
        pem::blocks(bad_base64),
        Err(Error::Malformed { what: "PEM", .. })
    ));
    assert!(pem::blocks(b"\x30\x03\x02\x01\x01").unwrap().is_empty());
    let two = format!("{}{}", pem::encode("A", b"one"), pem::encode("B", b"two"));
    let blocks = pem::blocks(two.as_bytes()).unwrap();
    assert_eq!(
        blocks
            .iter()
            .map(|b| (b.label.as_str(), b.der.as_slice()))
            .collect::<Vec<_>>(),
        [("A", &b"one"[..]), ("B", &b"two"[..])]
    );
}
