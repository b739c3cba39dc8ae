//! Where blob bytes live: local disk or an S3-compatible object store. Callers only see this
//! API, in which upload sessions are named by id and every offset comes from metadata, so
//! that no replica needs another's memory.

mod file_io;
mod local;
mod s3;

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use zoll_oci::Digest;

pub(crate) use local::LocalBlobs;
pub(crate) use s3::S3Blobs;
pub use s3::S3Config;

use crate::error::Result;

/// A stream of blob bytes as read from the backend.
pub type ByteStream = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Bytes read for a verified read, with their CRC32 when the backend computed it while the
/// bytes were still in the reading core's cache (local disk does, per 1 MiB piece).
pub(crate) struct Piece {
    pub bytes: Bytes,
    pub crc32: Option<u32>,
}

/// A stream of [`Piece`]s.
pub(crate) type PieceStream = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Piece>> + Send>>;

pub(crate) enum Blobs {
    Local(LocalBlobs),
    S3(S3Blobs),
}

impl Blobs {
    pub(crate) fn local(root: PathBuf) -> Result<Blobs> {
        Ok(Blobs::Local(LocalBlobs::new(root)?))
    }

    /// Size of the stored blob, if present.
    pub(crate) async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        match self {
            Blobs::Local(l) => l.stat(digest).await,
            Blobs::S3(s) => s.stat(digest).await,
        }
    }

    /// Streams `len` bytes of the blob from `start`. With `verify` (whole reads only) the
    /// bytes are re-hashed as they are read and the stream fails instead of completing if they
    /// no longer match `digest`.
    pub(crate) async fn open(
        &self,
        digest: &Digest,
        start: u64,
        len: u64,
        verify: bool,
    ) -> Result<ByteStream> {
        let stream = match self {
            Blobs::Local(l) => l.open(digest, start, len).await?,
            Blobs::S3(s) => s.open(digest, start, len).await?,
        };
        Ok(if verify {
            let d = digest.clone();
            Box::pin(
                zoll_oci::VerifiedStream::new(stream, digest.clone(), len).inspect_err(move |e| {
                    tracing::error!(digest = %d, error = %e, "stored blob failed verification while being served")
                }),
            )
        } else {
            stream
        })
    }

    /// Streams `len` bytes of the blob from `start` for [`crate::integrity::verified`]: in
    /// pieces of one chunk with their CRC32 on local disk, as they arrive from S3.
    pub(crate) async fn open_pieces(
        &self,
        digest: &Digest,
        start: u64,
        len: u64,
    ) -> Result<PieceStream> {
        Ok(match self {
            Blobs::Local(l) => l.open_pieces(digest, start, len)?,
            Blobs::S3(s) => Box::pin(
                s.open(digest, start, len)
                    .await?
                    .map_ok(|bytes| Piece { bytes, crc32: None }),
            ),
        })
    }

    pub(crate) async fn create_upload(&self, id: &str) -> Result<()> {
        match self {
            Blobs::Local(l) => l.create_upload(id).await,
            Blobs::S3(_) => Ok(()), // chunks are objects of their own
        }
    }

    /// Appends a chunk at `offset` (bytes beyond `offset` left by a crashed append are dropped).
    /// Returns the new length and what the
    /// caller must add to the session's `parts` record (the S3 chunk object; nothing on
    /// disk), which later calls get back.
    pub(crate) async fn append<S, E>(
        &self,
        id: &str,
        offset: u64,
        body: S,
        limit: u64,
    ) -> Result<(u64, String)>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        match self {
            Blobs::Local(l) => Ok((l.append(id, offset, body, limit).await?, String::new())),
            Blobs::S3(s) => s.append(id, offset, body, limit).await,
        }
    }

    /// Streams the first `len` bytes received by an upload session (to re-hash after a
    /// restart, or when another replica took the earlier chunks).
    pub(crate) async fn read_upload(&self, id: &str, parts: &str, len: u64) -> Result<ByteStream> {
        match self {
            Blobs::Local(l) => l.read_upload(id, len).await,
            Blobs::S3(s) => s.read_upload(id, parts, len).await,
        }
    }

    /// Makes the upload's `len` bytes durable and ready to publish; called before the
    /// publishing transaction.
    pub(crate) async fn sync_upload(&self, id: &str, parts: &str, len: u64) -> Result<()> {
        match self {
            Blobs::Local(l) => l.sync_upload(id).await,
            Blobs::S3(s) => s.sync_upload(id, parts, len).await,
        }
    }

    /// Makes synced upload bytes visible under `digest`, atomically.
    pub(crate) async fn publish(
        &self,
        id: &str,
        parts: &str,
        digest: &Digest,
        len: u64,
    ) -> Result<()> {
        match self {
            Blobs::Local(l) => l.publish(id, digest, len).await,
            Blobs::S3(s) => s.publish(id, parts, digest, len).await,
        }
    }

    /// Removes a blob's bytes (garbage collection).
    pub(crate) async fn delete(&self, digest: &Digest) -> Result<()> {
        match self {
            Blobs::Local(l) => l.delete(digest).await,
            Blobs::S3(s) => s.delete(digest).await,
        }
    }

    /// Moves a damaged blob's bytes aside (scrub).
    pub(crate) async fn quarantine(&self, digest: &Digest) -> Result<()> {
        match self {
            Blobs::Local(l) => l.quarantine(digest).await,
            Blobs::S3(s) => s.quarantine(digest).await,
        }
    }

    /// Removes what staging left after a successful publish (S3 keeps its chunk objects
    /// until now; on disk the file was renamed away). `parts` names them, so nothing is
    /// listed on this hot path.
    pub(crate) async fn discard_staging(&self, id: &str, parts: &str) -> Result<()> {
        match self {
            Blobs::Local(_) => Ok(()),
            Blobs::S3(s) => s.discard_staging(id, parts).await,
        }
    }

    pub(crate) async fn delete_upload(&self, id: &str) -> Result<()> {
        match self {
            Blobs::Local(l) => l.delete_upload(id).await,
            Blobs::S3(s) => s.delete_upload(id).await,
        }
    }

    /// Upload staging areas present in the backend, with their last modification time.
    pub(crate) async fn list_uploads(&self) -> Result<Vec<(String, SystemTime)>> {
        match self {
            Blobs::Local(l) => l.list_uploads().await,
            Blobs::S3(s) => s.list_uploads().await,
        }
    }
}
