//! The store's own tests, through its public API on the backends the run selected
//! (`ZOLL_TEST_METADATA`, `ZOLL_TEST_BLOBS`; local disk + SQLite by default), and on
//! PostgreSQL + S3 for what needs several replicas. The registry's tests drive the same
//! invariants through HTTP; these name them where they live.

mod audit;
mod blobs;
mod replicas;

use bytes::Bytes;
use futures_util::Stream;
use zoll_oci::{Digest, RepoName};
use zoll_store::{Store, StoreConfig};

/// A store on the run's backends in a fresh directory (kept alive with it).
pub struct Opened {
    pub store: Store,
    pub dir: tempfile::TempDir,
    pub config: StoreConfig,
}

pub async fn open() -> Opened {
    let dir = tempfile::tempdir().unwrap();
    let mut config = zoll_testkit::store_config(dir.path());
    config.scan_on_push = false;
    let store = Store::open(config.clone()).await.unwrap();
    Opened { store, dir, config }
}

pub fn repo(name: &str) -> RepoName {
    RepoName::parse(name, 255).unwrap()
}

/// `bytes` as a request body of `pieces` parts.
pub fn body(
    bytes: &[u8],
    pieces: usize,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + use<> {
    let size = bytes.len().div_ceil(pieces.max(1)).max(1);
    let parts: Vec<Result<Bytes, std::io::Error>> = bytes
        .chunks(size)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(parts)
}

/// Every byte a read of `digest` (of `size` bytes) delivers.
pub async fn read_all(store: &std::sync::Arc<Store>, digest: &Digest, size: u64) -> Vec<u8> {
    use futures_util::StreamExt;
    let mut s = store.read_blob(digest, size, None).await.unwrap();
    let mut out = Vec::new();
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece.unwrap());
    }
    out
}
