//! Bounds on everything an image can make the scanner do.

/// Every size, count and depth a hostile image could inflate. The defaults admit any real image
/// we know of (the largest layers of CUDA images are a few GiB) and stop what no real image needs.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Layers in one image.
    pub max_layers: usize,
    /// Decompressed bytes of one layer.
    pub max_layer_bytes: u64,
    /// Decompressed / compressed bytes of one layer, checked once past `ratio_floor` bytes.
    pub max_ratio: u64,
    /// Decompressed bytes below which the ratio is not checked (small layers compress well).
    pub ratio_floor: u64,
    /// Size one tar entry may claim.
    pub max_entry_bytes: u64,
    /// Filesystem entries of the whole image (all layers).
    pub max_entries: usize,
    /// Bytes of one path.
    pub max_path_bytes: usize,
    /// Components of one path.
    pub max_depth: usize,
    /// Symbolic links followed while resolving one path.
    pub max_symlink_hops: usize,
    /// Bytes of one file a cataloger reads into memory (package databases, manifests).
    pub max_capture_bytes: u64,
    /// Bytes of all captured files together.
    pub max_capture_total: u64,
    /// Bytes of one file spooled to the workspace for random access (binaries, archives).
    pub max_spool_bytes: u64,
    /// Bytes of all spooled files together.
    pub max_spool_total: u64,
    /// Nesting of archives inside archives (jar in a war in an ear).
    pub max_archive_depth: usize,
    /// Bytes of one archive member read into memory (nested jars, manifests).
    pub max_archive_member_bytes: u64,
    /// Members of one archive looked at.
    pub max_archive_members: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layers: 256,
            max_layer_bytes: 32 << 30,
            max_ratio: 100,
            ratio_floor: 64 << 20,
            max_entry_bytes: 16 << 30,
            max_entries: 2_000_000,
            max_path_bytes: 4096,
            max_depth: 128,
            max_symlink_hops: 40,
            max_capture_bytes: 64 << 20,
            max_capture_total: 512 << 20,
            max_spool_bytes: 1 << 30,
            max_spool_total: 8 << 30,
            max_archive_depth: 3,
            max_archive_member_bytes: 64 << 20,
            max_archive_members: 100_000,
        }
    }
}
