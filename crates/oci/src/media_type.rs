//! Media types a registry has to tell apart.

pub mod media_types {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
    pub const OCTET_STREAM: &str = "application/octet-stream";
}

/// A filesystem layer a runtime unpacks (OCI or Docker, any compression, encrypted too):
/// what makes an image runnable, as opposed to an artifact whose "layers" are a signature,
/// an SBOM or other data. The pull gate gates and the scanner scans only images with one.
pub fn is_filesystem_layer(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.")
}

/// A layer encrypted by ocicrypt (`…+encrypted`): its bytes cannot be read without a key.
pub fn is_encrypted_layer(media_type: &str) -> bool {
    media_type.ends_with("+encrypted")
}

/// Layers that registries are not expected to hold (foreign / non-distributable layers).
/// Manifests may reference them without the blob being present.
pub fn is_non_distributable(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.nondistributable.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.foreign.")
}
