//! Key files, certificates and signatures through zoll-der, the one layer that reads them,
//! and through what zoll-crypt (`zoll encrypt`/`decrypt` keys) and zoll-trust (`zoll sign`/
//! `verify` keys, certificate chains in signatures) build on it.
use zoll_der::{ecdsa, keys, pem};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = pem::blocks(data);
        let _ = keys::private_key(data, None);
        let _ = keys::private_key(data, Some(b"password"));
        let _ = keys::public_key(data);
        let _ = keys::certificate(data);
        let _ = keys::certificate_chain(data);
        let _ = keys::PrivateKey::from_sec1(data);
        let _ = keys::PrivateKey::from_pkcs1_rsa(data);
        let _ = keys::PrivateKey::from_encrypted_pkcs8(data, b"password");
        for width in [32, 48, 66] {
            // One signature, one encoding: what is accepted converts back to the same bytes.
            if let Ok(fixed) = ecdsa::der_to_fixed(data, width) {
                assert_eq!(ecdsa::fixed_to_der(&fixed), data);
            }
        }

        let _ = zoll_crypt::fuzzing::parse_private_key(data, Some(b"password"), "fuzz");
        let _ = zoll_crypt::fuzzing::parse_public_key(data, "fuzz");
        let _ = zoll_crypt::fuzzing::parse_certificate(data, "fuzz");
        let _ = zoll_trust::keys::FileKey::from_pem(data, "fuzz");
        let _ = zoll_trust::keys::PublicKey::from_pem(data);
        let _ = zoll_trust::x509::parse_chain(&[data.to_vec()]);
        if data.len() > 2 {
            let (a, b) = data.split_at(data.len() / 2);
            let _ = zoll_trust::x509::parse_chain(&[a.to_vec(), b.to_vec()]);
        }
    });
}
