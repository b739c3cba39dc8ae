//! Registry bearer tokens (compact JWS, ES256) verified against a fixed key.
use std::sync::OnceLock;

use zoll_registry::auth::jwt::{Expect, KeySet, SigningKey};

fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| KeySet::new(vec![SigningKey::generate()]))
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(token) = std::str::from_utf8(data) else {
            return;
        };
        let expect = Expect {
            issuer: "zoll",
            audience: "zoll-registry",
            now: 1_800_000_000,
        };
        let _ = keys().verify(token, &expect);
    });
}
