//! PEM key files and public keys as `zoll sign`/`verify` read them, and DER certificate
//! chains as signatures carry them.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = zoll_trust::keys::FileKey::from_pem(data, "fuzz");
        let _ = zoll_trust::keys::PublicKey::from_pem(data);
        let _ = zoll_trust::x509::parse_chain(&[data.to_vec()]);
        if data.len() > 2 {
            let (a, b) = data.split_at(data.len() / 2);
            let _ = zoll_trust::x509::parse_chain(&[a.to_vec(), b.to_vec()]);
        }
    });
}
