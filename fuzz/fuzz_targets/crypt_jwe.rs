//! ocicrypt JWE key wraps (general JSON serialization) against fixed EC and RSA keys.
use std::sync::OnceLock;

use zoll_crypt::PrivateKey;
use zoll_crypt::fuzzing::{jwe_recipient_kids, jwe_unwrap, parse_private_key};

fn keys() -> &'static [PrivateKey] {
    static KEYS: OnceLock<Vec<PrivateKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        vec![
            parse_private_key(include_bytes!("../keys/ec.pem"), None, "ec").expect("ec key"),
            parse_private_key(include_bytes!("../keys/rsa.pem"), None, "rsa").expect("rsa key"),
        ]
    })
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = jwe_recipient_kids(data);
        let _ = jwe_unwrap(data, keys());
    });
}
