//! Trust policy documents (`[policy] file`, `zoll policy explain`).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let _ = zoll_policy::PolicySet::parse(text, std::path::Path::new("/nonexistent"));
    });
}
