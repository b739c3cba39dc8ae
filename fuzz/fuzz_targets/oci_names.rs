//! Repository names, tags, references and digests, one per line.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let text = String::from_utf8_lossy(data);
        for line in text.lines() {
            let _ = zoll_oci::RepoName::parse(line, 255);
            let _ = zoll_oci::Tag::parse(line);
            let _ = zoll_oci::Reference::parse(line);
            let _ = line.parse::<zoll_oci::Digest>();
        }
    });
}
