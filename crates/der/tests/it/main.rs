//! zoll-der against key files OpenSSL 3 wrote (`tests/data/make.sh` made them; the version
//! is in `tests/data/openssl.txt`) and against hostile DER built here.

mod der;
mod ecdsa;
mod keys;

/// A committed fixture.
fn data(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
