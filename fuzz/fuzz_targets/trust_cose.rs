//! Any bytes through the CBOR decoder and the COSE_Sign1 parser and integrity check.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = zoll_trust::cbor::decode(data);
    let _ = zoll_trust::notation::cose::verify(data);
});
