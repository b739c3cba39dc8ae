//! ECDSA signatures between `r ‖ s` and DER, checked against aws-lc-rs both ways.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use zoll_der::Error;
use zoll_der::ecdsa::{der_to_fixed, fixed_to_der};

fn check(fixed: &[u8], want_der: &[u8]) {
    let der = fixed_to_der(fixed);
    assert_eq!(der, want_der, "{fixed:02x?}");
    assert_eq!(der_to_fixed(&der, fixed.len() / 2).unwrap(), fixed);
}

#[test]
fn round_trips_with_leading_zeros_and_high_bits() {
    // r = 1 (leading zeros dropped), s = 0x80.. (a zero put in front).
    let mut fixed = vec![0u8; 64];
    fixed[31] = 1;
    fixed[32] = 0x80;
    let mut want = vec![0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00, 0x80];
    want.extend([0u8; 31]);
    check(&fixed, &want);
    // Both zero.
    check(
        &[0u8; 64],
        &[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00],
    );
    // High bit set in both: each INTEGER grows by one byte.
    let fixed = [0xffu8; 64];
    let der = fixed_to_der(&fixed);
    assert_eq!(&der[..4], &[0x30, 0x46, 0x02, 0x21]);
    assert_eq!(der_to_fixed(&der, 32).unwrap(), fixed);
    // P-521: 66-byte halves, the long length form of the SEQUENCE.
    let mut fixed = vec![0u8; 132];
    fixed[0] = 1;
    fixed[66] = 0x01;
    fixed[131] = 0xff;
    let der = fixed_to_der(&fixed);
    assert_eq!(&der[..2], &[0x30, 0x81]);
    assert_eq!(der_to_fixed(&der, 66).unwrap(), fixed);
}

#[test]
fn non_canonical_signatures_are_refused() {
    let malformed = |der: &[u8]| {
        assert!(
            matches!(der_to_fixed(der, 32), Err(Error::Malformed { .. })),
            "{der:02x?}"
        )
    };
    malformed(&[0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01]); // negative r
    malformed(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01]); // non-minimal r
    malformed(&[0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01]); // empty r
    malformed(&[0x30, 0x03, 0x02, 0x01, 0x01]); // s missing
    malformed(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00]); // trailing byte
    malformed(&[
        0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01,
    ]); // a third
    let mut wide = vec![0x30, 0x27, 0x02, 0x22, 0x01];
    wide.extend([0u8; 33]);
    wide.extend([0x02, 0x01, 0x01]);
    malformed(&wide); // r of 34 bytes for a 32-byte curve
}

/// What aws-lc-rs signs in one form verifies in the other after conversion.
#[test]
fn conversions_agree_with_aws_lc_rs() {
    let rng = SystemRandom::new();
    let curves = [
        (
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
            &sig::ECDSA_P256_SHA256_FIXED,
            &sig::ECDSA_P256_SHA256_ASN1,
            32,
        ),
        (
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
            &sig::ECDSA_P384_SHA384_FIXED,
            &sig::ECDSA_P384_SHA384_ASN1,
            48,
        ),
        (
            &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
            &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
            &sig::ECDSA_P521_SHA512_FIXED,
            &sig::ECDSA_P521_SHA512_ASN1,
            66,
        ),
    ];
    for (fixed_signing, asn1_signing, fixed_verify, asn1_verify, width) in curves {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(fixed_signing, &rng).unwrap();
        let fixed_key = EcdsaKeyPair::from_pkcs8(fixed_signing, pkcs8.as_ref()).unwrap();
        let asn1_key = EcdsaKeyPair::from_pkcs8(asn1_signing, pkcs8.as_ref()).unwrap();
        let public = fixed_key.public_key().as_ref().to_vec();
        // Enough signatures that some have r or s with a leading zero byte or the high bit.
        for i in 0..64u8 {
            let message = [i; 7];
            let fixed = fixed_key.sign(&rng, &message).unwrap();
            let der = fixed_to_der(fixed.as_ref());
            UnparsedPublicKey::new(asn1_verify, &public)
                .verify(&message, &der)
                .unwrap();
            assert_eq!(der_to_fixed(&der, width).unwrap(), fixed.as_ref());
            let der = asn1_key.sign(&rng, &message).unwrap();
            let fixed = der_to_fixed(der.as_ref(), width).unwrap();
            UnparsedPublicKey::new(fixed_verify, &public)
                .verify(&message, &fixed)
                .unwrap();
            assert_eq!(fixed_to_der(&fixed), der.as_ref());
        }
    }
}
