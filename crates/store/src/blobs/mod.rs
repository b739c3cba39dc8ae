//! Where blob bytes live. Today: local disk. The S3 backend joins as a second variant of
//! [`Blobs`]; callers only see this API, in which upload sessions are named by id and every
//! offset comes from metadata, so that no replica needs another's memory.

mod file_io;
mod local;
mod verify;

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::Stream;
use zoll_oci::Digest;

pub use local::LocalBlobs;

use crate::error::Result;

/// A stream of blob bytes as read from the backend.
pub type ByteStream = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

pub enum Blobs {
    Local(LocalBlobs),
}

impl Blobs {
    pub fn local(root: PathBuf) -> Result<Blobs> {
        Ok(Blobs::Local(LocalBlobs::new(root)?))
    }

    /// Size of the stored blob, if present.
    pub async fn stat(&self, digest: &Digest) -> Result<Option<u64>> {
        match self {
            Blobs::Local(l) => l.stat(digest).await,
        }
    }

    /// Streams `len` bytes of the blob from `start`. With `verify` (whole reads only) the
    /// bytes are re-hashed as they are read and the stream fails instead of completing if they
    /// no longer match `digest`.
    pub async fn open(
        &self,
        digest: &Digest,
        start: u64,
        len: u64,
        verify: bool,
    ) -> Result<ByteStream> {
        let stream = match self {
            Blobs::Local(l) => l.open(digest, start, len).await?,
        };
        Ok(if verify {
            Box::pin(verify::VerifiedStream::new(stream, digest.clone(), len))
        } else {
            stream
        })
    }

    pub async fn create_upload(&self, id: &str) -> Result<()> {
        match self {
            Blobs::Local(l) => l.create_upload(id).await,
        }
    }

    /// Appends a chunk at `offset` (bytes beyond `offset` left by a crashed append are dropped).
    /// `inspect` sees every byte written, in order. Returns the new length.
    pub async fn append<S, E>(
        &self,
        id: &str,
        offset: u64,
        body: S,
        limit: u64,
        inspect: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        match self {
            Blobs::Local(l) => l.append(id, offset, body, limit, inspect).await,
        }
    }

    /// Streams the first `len` bytes received by an upload session (to re-hash after a restart).
    pub async fn read_upload(&self, id: &str, len: u64) -> Result<ByteStream> {
        match self {
            Blobs::Local(l) => l.read_upload(id, len).await,
        }
    }

    /// Makes the upload's bytes durable; called before the publishing transaction.
    pub async fn sync_upload(&self, id: &str) -> Result<()> {
        match self {
            Blobs::Local(l) => l.sync_upload(id).await,
        }
    }

    /// Makes synced upload bytes visible under `digest`, atomically.
    pub async fn publish(&self, id: &str, digest: &Digest) -> Result<()> {
        match self {
            Blobs::Local(l) => l.publish(id, digest).await,
        }
    }

    /// Removes a blob's bytes (garbage collection).
    pub async fn delete(&self, digest: &Digest) -> Result<()> {
        match self {
            Blobs::Local(l) => l.delete(digest).await,
        }
    }

    /// Moves a damaged blob's bytes aside (scrub).
    pub async fn quarantine(&self, digest: &Digest) -> Result<()> {
        match self {
            Blobs::Local(l) => l.quarantine(digest).await,
        }
    }

    pub async fn delete_upload(&self, id: &str) -> Result<()> {
        match self {
            Blobs::Local(l) => l.delete_upload(id).await,
        }
    }

    /// Upload staging areas present in the backend, with their last modification time.
    pub async fn list_uploads(&self) -> Result<Vec<(String, SystemTime)>> {
        match self {
            Blobs::Local(l) => l.list_uploads().await,
        }
    }
}
