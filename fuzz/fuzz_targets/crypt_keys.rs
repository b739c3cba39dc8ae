//! Key material `zoll encrypt`/`decrypt` read: private keys (PKCS#8, PKCS#1, SEC1, encrypted
//! PKCS#8), public keys, certificates, PEM blocks, ocicrypt PKCS#11 key files and `pkcs11:`
//! URIs (zoll-pkcs11's grammar, which signing keys share).
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
        let text = String::from_utf8_lossy(data);
        let _ = pkcs11_key_file(&text);
        if let Ok(uri) = zoll_pkcs11::Uri::parse(&text) {
            // What a parsed URI prints carries no PIN: every pin-value in its query is ***.
            let shown = uri.to_string();
            if let Some((_, query)) = shown.split_once('?') {
                assert!(
                    query
                        .split('&')
                        .all(|a| !a.starts_with("pin-value=") || a == "pin-value=***"),
                    "{shown}"
                );
            }
        }
        let _ = zoll_pkcs11::redact(&text);
    });
}
