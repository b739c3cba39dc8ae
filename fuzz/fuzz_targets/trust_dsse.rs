//! DSSE envelopes and sigstore bundles verified with a fixed key, and the in-toto
//! statement inside.
use std::sync::OnceLock;

use zoll_trust::keys::{KeyKind, KeySource, PublicKey, generate_key};

fn key() -> &'static PublicKey {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    KEY.get_or_init(|| {
        generate_key(KeyKind::EcP256)
            .expect("key")
            .key
            .public_key()
            .clone()
    })
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(env) = zoll_trust::dsse::Envelope::parse(data) {
            let _ = env.verified_by(&[key()]);
            if let Ok(payload) = env.payload_bytes() {
                let _ = zoll_trust::dsse::Statement::parse(&payload);
            }
        }
        if let Ok(b) = zoll_trust::cosign::bundle::Bundle::parse(data) {
            let _ = b.dsse_envelope.verified_by(&[key()]);
        }
        let _ = zoll_trust::dsse::Statement::parse(data);
    });
}
