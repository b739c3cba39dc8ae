//! The primitives of one repository that reading and writing signatures need, so that the
//! algorithms over them (`signatures.rs` collects, `image.rs` signs) are written once and
//! run unchanged over every backend: a registry or OCI layout through `zoll-client`
//! (`client_repository.rs`), the registry's own store (the pull gate and the quorum
//! signer). The model is `zoll-crypt`'s `ImageSource`/`ImageSink`.
//!
//! "Not found" is `Ok(None)`, never an error, and an error is never "not found": the
//! algorithms decide what absence means, and everything else fails closed.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use zoll_oci::{Descriptor, Digest, Reference, Tag};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A backend's own failure (a `ClientError`, a `StoreError`), kept whole for the message.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// Reads one repository.
pub trait RepositoryReader: Send + Sync {
    /// The descriptor of the manifest `reference` names; `None` when there is none.
    fn resolve<'a>(
        &'a self,
        reference: &'a Reference,
    ) -> BoxFuture<'a, Result<Option<Descriptor>, BackendError>>;

    /// The bytes of the manifest `digest` (checked against it); `None` when there is none.
    /// A manifest over `limit` bytes is an error: it exists but cannot be read.
    fn manifest<'a>(
        &'a self,
        digest: &'a Digest,
        limit: u64,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>>;

    /// The bytes of the blob `desc`; `None` when it is missing or `desc` says it is larger
    /// than `limit`, so that the one artifact it belongs to fails rather than the whole
    /// question. Over `zoll-client` they are checked against `desc`'s digest and size; the
    /// store checks the size only (its blobs were checked against their digests when
    /// written), so a caller that must know the bytes are `desc`'s checks the digest itself
    /// (`signatures::load` does).
    fn blob<'a>(
        &'a self,
        desc: &'a Descriptor,
        limit: u64,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>>;

    /// The manifests whose subject is `subject` (of `artifact_type` only, if given): at
    /// least `limit` of them when there are that many (more is fine), so that the caller
    /// can tell a list it may not cut.
    fn referrers<'a>(
        &'a self,
        subject: &'a Digest,
        artifact_type: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Descriptor>, BackendError>>;

    /// Indexes that list `child` among their manifests, at most `limit`. Only a backend
    /// that keeps this relation (the store) knows it; the others know none.
    fn parents<'a>(
        &'a self,
        _child: &'a Digest,
        _limit: usize,
    ) -> BoxFuture<'a, Result<Vec<Descriptor>, BackendError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Writes one repository: what pushing a signature needs.
pub trait RepositoryWriter: Send + Sync {
    /// Stores a small blob held in memory; returns its descriptor.
    fn push_blob<'a>(
        &'a self,
        media_type: &'a str,
        bytes: Bytes,
    ) -> BoxFuture<'a, Result<Descriptor, BackendError>>;

    /// Stores an OCI image manifest, under `tag` if given (else by digest), so that one
    /// with a `subject` is listed among that subject's referrers.
    fn push_manifest<'a>(
        &'a self,
        bytes: Bytes,
        tag: Option<&'a Tag>,
    ) -> BoxFuture<'a, Result<Descriptor, BackendError>>;

    /// The manifest `tag` points to now (cosign appends to its `.sig` manifest); `None`
    /// when the tag does not exist.
    fn tagged_manifest<'a>(
        &'a self,
        tag: &'a Tag,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, BackendError>>;
}
