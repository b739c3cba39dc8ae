//! Manifests and indexes as pushed, under every Content-Type the registry accepts, and the
//! nesting check that runs first.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let _ = zoll_oci::json::too_deep(data, zoll_oci::json::MAX_DEPTH);
        for content_type in [
            None,
            Some("application/vnd.oci.image.manifest.v1+json"),
            Some("application/vnd.oci.image.index.v1+json"),
            Some("application/vnd.docker.distribution.manifest.v2+json"),
            Some("application/vnd.docker.distribution.manifest.list.v2+json"),
        ] {
            if let Ok(m) = zoll_oci::Manifest::parse(data, content_type) {
                let _ = m.effective_artifact_type();
            }
        }
    });
}
