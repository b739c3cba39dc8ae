//! Any bytes through the Notation JWS parser and integrity check: never a panic, never an
//! allocation beyond the input's size.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = zoll_trust::notation::jws::verify(data);
});
