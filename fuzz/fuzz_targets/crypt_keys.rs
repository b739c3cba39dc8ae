//! Key material `zoll encrypt`/`decrypt` read: private keys (PKCS#8, PKCS#1, SEC1, encrypted
//! PKCS#8), public keys, certificates, PEM blocks and ocicrypt PKCS#11 key files.
use zoll_crypt::fuzzing::{
    parse_certificate, parse_private_key, parse_public_key, pem_blocks, pkcs11_key_file,
};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = parse_private_key(data, None, "fuzz");
        let _ = parse_private_key(data, Some(b"password"), "fuzz");
        let _ = parse_public_key(data, "fuzz");
        let _ = parse_certificate(data, "fuzz");
        let _ = pem_blocks(data, "fuzz");
        let _ = pkcs11_key_file(&String::from_utf8_lossy(data));
        let _ = zoll_crypt::Pkcs11Uri::parse(&String::from_utf8_lossy(data));
    });
}
