//! Notation JWS envelopes through the parser and integrity check.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = zoll_trust::notation::jws::verify(data);
    });
}
