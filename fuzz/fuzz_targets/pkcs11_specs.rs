//! What `zoll encrypt`/`decrypt` and `zoll sign` take for a token key: ocicrypt PKCS#11 key
//! files and `pkcs11:` URIs (zoll-pkcs11's grammar, which both share).
use zoll_crypt::fuzzing::pkcs11_key_file;

fn main() {
    afl::fuzz!(|data: &[u8]| {
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
