//! Any bytes through the CBOR decoder and the COSE_Sign1 parser and integrity check.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = zoll_trust::cbor::decode(data);
        let _ = zoll_trust::notation::cose::verify(data);
    });
}
