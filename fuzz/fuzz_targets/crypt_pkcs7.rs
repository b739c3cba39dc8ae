//! ocicrypt PKCS#7 (CMS EnvelopedData) key wraps against a fixed RSA key and certificate.
use std::sync::OnceLock;

use zoll_crypt::fuzzing::{
    parse_certificate, parse_private_key, pkcs7_remove_recipients, pkcs7_unwrap,
};
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
        // Removing the fixed certificate's recipient rewrites the structure: what comes out
        // must read again.
        if let Ok((Some(rewritten), removed)) = pkcs7_remove_recipients(data, certs) {
            if removed > 0 {
                pkcs7_remove_recipients(&rewritten, certs).expect("rewritten PKCS#7 reads");
            }
        }
    });
}
