use zoll_oci::Digest;

/// Everything the store can refuse or fail with. The registry maps each variant to one OCI
/// error code; nothing here knows about HTTP.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("blob {0} is unknown to this repository")]
    BlobUnknown(Digest),
    #[error("manifest {0} is unknown to this repository")]
    ManifestUnknown(String),
    #[error("repository {0} is unknown")]
    NameUnknown(String),
    #[error("upload {0} is unknown or has expired")]
    UploadUnknown(String),
    #[error("upload {0} is damaged and cannot be resumed; start a new one")]
    UploadInvalid(String),
    #[error("content does not match digest {expected} (computed {actual})")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error(
        "upload {0} was appended to by another request at the same time; ask for its status and resume"
    )]
    UploadRace(String),
    #[error("chunk must start at offset {expected}, got {got}")]
    RangeMismatch { expected: u64, got: u64 },
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
    #[error("Content-Range announced {declared} bytes, the chunk carried {actual}")]
    SizeMismatch { declared: u64, actual: u64 },
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("manifest references {0}, which is not in this repository")]
    ManifestBlobUnknown(Digest),
    #[error("stored blob {0} no longer matches its digest")]
    Corrupt(Digest),
    #[error("the request body failed: {0}")]
    Body(String),
    #[error("{0}")]
    Busy(String),
    /// Stored evidence (scan findings, a policy document) that does not parse: whoever
    /// depends on it must refuse, not carry on with nothing.
    #[error("unreadable: {0}")]
    Unreadable(String),
    /// Something still needs what was to be removed (a manifest references the blob).
    #[error("{0}")]
    Referenced(String),
    /// A project policy (quota, immutable tag) forbids the change.
    #[error("{0}")]
    Denied(String),
    #[error("data directory {0} is in use by another zoll process")]
    Locked(String),
    #[error("the metadata schema lacks migrations {0:?}: run `zoll migrate` first")]
    Outdated(Vec<i64>),
    #[error(
        "the metadata database is at schema version {found}, newer than this build knows \
         ({known}): run the newer zoll, or restore a backup taken before the upgrade"
    )]
    TooNew { found: i64, known: i64 },
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata database failed: {0}")]
    Db(#[from] sqlx::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
