//! ocicrypt PKCS#7 (CMS EnvelopedData) key wraps against a fixed RSA key and certificate.
use std::sync::OnceLock;

use zoll_crypt::fuzzing::{parse_certificate, parse_private_key, pkcs7_unwrap};
use zoll_crypt::{Certificate, PrivateKey};

fn material() -> &'static (Vec<PrivateKey>, Vec<Certificate>) {
    static M: OnceLock<(Vec<PrivateKey>, Vec<Certificate>)> = OnceLock::new();
    M.get_or_init(|| {
        (
            vec![parse_private_key(include_bytes!("../keys/rsa.pem"), None, "rsa").expect("key")],
            vec![parse_certificate(include_bytes!("../keys/rsa.crt"), "crt").expect("certificate")],
        )
    })
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let (keys, certs) = material();
        let _ = pkcs7_unwrap(data, keys, certs);
    });
}
