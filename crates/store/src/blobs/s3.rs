//! Blobs in any S3-compatible object store (through `object_store`).
//!
//! Layout under the configured prefix: `blobs/<alg>/<hex>` for published content and
//! `uploads/<id>/<offset>` for the chunks an upload session received, one object per
//! request (so any replica can take the next chunk: the offsets are in metadata and the bytes
//! are in S3). Publishing assembles the chunks into `uploads/<id>/assembled` with a multipart
//! upload (parts of ≥ 5 MiB) unless a single chunk already holds everything, then copies that
//! object server-side to its content address.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use zoll_oci::Digest;

use super::ByteStream;
use crate::error::{Result, StoreError};

/// Where and how to reach the bucket. Credentials left empty come from the usual `AWS_*`
/// environment variables.
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Key prefix inside the bucket, e.g. `zoll/`.
    pub prefix: String,
    /// Path-style requests (`endpoint/bucket/key`), as MinIO-style servers expect.
    pub path_style: bool,
    /// Allow a plain-HTTP endpoint (test servers on loopback).
    pub allow_http: bool,
}

const PART: usize = 8 << 20;
// One part uploading while the next fills: the S3 path holds at most about three parts of
// memory per upload (the 64 MiB bound of a 2 GiB push holds with room to spare).
const PARTS_IN_FLIGHT: usize = 1;

pub(crate) struct S3Blobs {
    store: Arc<AmazonS3>,
    prefix: String,
}

fn io(e: object_store::Error) -> StoreError {
    StoreError::Io(std::io::Error::other(e.to_string()))
}

fn not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl S3Blobs {
    pub(crate) fn new(c: &S3Config) -> Result<Self> {
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&c.bucket)
            .with_allow_http(c.allow_http)
            .with_virtual_hosted_style_request(!c.path_style);
        if let Some(v) = &c.endpoint {
            b = b.with_endpoint(v);
        }
        if let Some(v) = &c.region {
            b = b.with_region(v);
        }
        if let Some(v) = &c.access_key_id {
            b = b.with_access_key_id(v);
        }
        if let Some(v) = &c.secret_access_key {
            b = b.with_secret_access_key(v);
        }
        Ok(S3Blobs {
            store: Arc::new(b.build().map_err(io)?),
            prefix: c.prefix.clone(),
        })
    }

    fn blob_key(&self, d: &Digest) -> Path {
        Path::from(format!(
            "{}blobs/{}/{}",
            self.prefix,
            d.algorithm().as_str(),
            d.hex()
        ))
    }

    fn session_dir(&self, id: &str) -> Path {
        Path::from(format!("{}uploads/{id}", self.prefix))
    }

    fn part_key(&self, id: &str, name: &str) -> Path {
        Path::from(format!("{}uploads/{id}/{name}", self.prefix))
    }

    fn assembled_key(&self, id: &str) -> Path {
        Path::from(format!("{}uploads/{id}/assembled", self.prefix))
    }

    pub(crate) async fn stat(&self, d: &Digest) -> Result<Option<u64>> {
        match self.store.head(&self.blob_key(d)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    pub(crate) async fn open(&self, d: &Digest, start: u64, len: u64) -> Result<ByteStream> {
        if len == 0 {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let opts = GetOptions {
            range: Some(GetRange::Bounded(start..start + len)),
            ..Default::default()
        };
        match self.store.get_opts(&self.blob_key(d), opts).await {
            Ok(got) => Ok(Box::pin(got.into_stream().map_err(std::io::Error::other))),
            Err(e) if not_found(&e) => Err(StoreError::BlobUnknown(d.clone())),
            Err(e) => Err(io(e)),
        }
    }

    /// Writes `body` as a new chunk object of the session. Returns the new length and the
    /// part record (`<name>,<len>;`) the store adds to the session row when — and only
    /// if — its compare-and-set on the offset succeeds, so a chunk written by a request that
    /// lost a race is never read.
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
        let name = format!("{offset:020}-{}", &crate::random_id()[..8]);
        let key = self.part_key(id, &name);
        // Chunks up to one part are buffered and stored with a single PUT; a larger body
        // becomes a multipart upload (parts of 8 MiB, at most two in flight), so memory
        // stays bounded either way.
        let mut head: Vec<Bytes> = Vec::new();
        let mut buffered = 0usize;
        let mut out: Option<WriteMultipart> = None;
        let mut total = offset;
        let mut body = std::pin::pin!(body);
        let result: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StoreError::Body(e.to_string()))?;
                total += chunk.len() as u64;
                if total > limit {
                    return Err(StoreError::TooLarge {
                        what: "blob upload",
                        limit,
                    });
                }
                if let Some(w) = out.as_mut() {
                    w.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(io)?;
                    w.put(chunk);
                    continue;
                }
                buffered += chunk.len();
                head.push(chunk);
                if buffered >= PART {
                    let upload = self.store.put_multipart(&key).await.map_err(io)?;
                    let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
                    for c in head.drain(..) {
                        w.put(c);
                    }
                    out = Some(w);
                }
            }
            Ok(())
        }
        .await;
        match (result, out) {
            (Err(e), Some(w)) => {
                let _ = w.abort().await;
                return Err(e);
            }
            (Err(e), None) => return Err(e),
            (Ok(()), Some(w)) => {
                w.finish().await.map_err(io)?;
            }
            // An empty chunk stores nothing and records no part: a session's part list must
            // not grow with requests that bring no bytes.
            (Ok(()), None) if buffered == 0 => return Ok((total, String::new())),
            (Ok(()), None) => {
                let payload: PutPayload = head.into_iter().collect();
                self.store.put(&key, payload).await.map_err(io)?;
            }
        }
        Ok((total, format!("{name},{};", total - offset)))
    }

    /// The recorded chunk objects that make up the session's first `len` bytes, in order.
    fn chunks(&self, id: &str, parts: &str, len: u64) -> Result<Vec<(Path, u64)>> {
        let invalid = || StoreError::UploadInvalid(id.to_owned());
        let mut out = Vec::new();
        let mut at = 0u64;
        for record in parts.split(';').filter(|r| !r.is_empty()) {
            let (name, size) = record.split_once(',').ok_or_else(invalid)?;
            let size: u64 = size.parse().map_err(|_| invalid())?;
            let offset: u64 = name
                .split('-')
                .next()
                .and_then(|o| o.parse().ok())
                .ok_or_else(invalid)?;
            if offset != at {
                return Err(invalid());
            }
            if at >= len {
                break;
            }
            let take = size.min(len - at);
            out.push((self.part_key(id, name), take));
            at += take;
        }
        if at != len {
            return Err(invalid());
        }
        Ok(out)
    }

    pub(crate) async fn read_upload(&self, id: &str, parts: &str, len: u64) -> Result<ByteStream> {
        let chunks = self.chunks(id, parts, len)?;
        let store = self.store.clone();
        let stream = futures_util::stream::iter(chunks)
            .then(move |(key, take)| {
                let store = store.clone();
                async move {
                    if take == 0 {
                        return Ok(futures_util::stream::empty().boxed());
                    }
                    let opts = GetOptions {
                        range: Some(GetRange::Bounded(0..take)),
                        ..Default::default()
                    };
                    let got = store
                        .get_opts(&key, opts)
                        .await
                        .map_err(std::io::Error::other)?;
                    Ok::<_, std::io::Error>(
                        got.into_stream().map_err(std::io::Error::other).boxed(),
                    )
                }
            })
            .try_flatten();
        Ok(Box::pin(stream))
    }

    /// Assembles the session into one object (skipped when one chunk holds everything).
    pub(crate) async fn sync_upload(&self, id: &str, parts: &str, len: u64) -> Result<()> {
        if self.single_chunk(id, parts, len)?.is_some() {
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(&self.assembled_key(id))
            .await
            .map_err(io)?;
        let mut out = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut data = self.read_upload(id, parts, len).await?;
        while let Some(chunk) = data.next().await {
            out.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(io)?;
            out.put(chunk?);
        }
        out.finish().await.map_err(io)?;
        Ok(())
    }

    /// The one chunk object that holds exactly the session's `len` bytes, if there is one
    /// (a monolithic upload): it needs no assembling.
    fn single_chunk(&self, id: &str, parts: &str, len: u64) -> Result<Option<Path>> {
        let chunks = self.chunks(id, parts, len)?;
        let whole = parts.split(';').filter(|r| !r.is_empty()).count() == 1;
        Ok(match chunks.as_slice() {
            [(key, _)] if whole => Some(key.clone()),
            _ => None,
        })
    }

    /// Copies the assembled session to the blob's content address.
    pub(crate) async fn publish(&self, id: &str, parts: &str, d: &Digest, len: u64) -> Result<()> {
        let source = match self.single_chunk(id, parts, len)? {
            Some(key) => key,
            None => self.assembled_key(id),
        };
        self.store
            .copy(&source, &self.blob_key(d))
            .await
            .map_err(io)
    }

    pub(crate) async fn discard_staging(&self, id: &str, parts: &str) -> Result<()> {
        let mut keys = vec![self.assembled_key(id)];
        for record in parts.split(';').filter(|r| !r.is_empty()) {
            if let Some((name, _)) = record.split_once(',') {
                keys.push(self.part_key(id, name));
            }
        }
        let keys = futures_util::stream::iter(keys.into_iter().map(Ok)).boxed();
        let outcomes: Vec<_> = self.store.delete_stream(keys).collect().await;
        for outcome in outcomes {
            match outcome {
                Ok(_) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(io(e)),
            }
        }
        Ok(())
    }

    pub(crate) async fn delete_upload(&self, id: &str) -> Result<()> {
        let keys = self
            .store
            .list(Some(&self.session_dir(id)))
            .map_ok(|m| m.location)
            .boxed();
        self.store
            .delete_stream(keys)
            .try_collect::<Vec<_>>()
            .await
            .map_err(io)?;
        Ok(())
    }

    pub(crate) async fn list_uploads(&self) -> Result<Vec<(String, SystemTime)>> {
        let root = Path::from(format!("{}uploads", self.prefix));
        let mut newest: std::collections::HashMap<String, SystemTime> = Default::default();
        let mut all = self.store.list(Some(&root));
        while let Some(m) = all.next().await {
            let m = m.map_err(io)?;
            let mut parts = m.location.prefix_match(&root).into_iter().flatten();
            if let Some(id) = parts.next() {
                let t = SystemTime::from(m.last_modified);
                let e = newest.entry(id.as_ref().to_owned()).or_insert(t);
                *e = (*e).max(t);
            }
        }
        Ok(newest.into_iter().collect())
    }

    pub(crate) async fn delete(&self, d: &Digest) -> Result<()> {
        match self.store.delete(&self.blob_key(d)).await {
            Err(e) if !not_found(&e) => Err(io(e)),
            _ => Ok(()),
        }
    }

    pub(crate) async fn quarantine(&self, d: &Digest) -> Result<()> {
        let to = Path::from(format!(
            "{}quarantine/{}-{}",
            self.prefix,
            d.algorithm().as_str(),
            d.hex()
        ));
        match self.store.copy(&self.blob_key(d), &to).await {
            Err(e) if not_found(&e) => return Ok(()),
            Err(e) => return Err(io(e)),
            Ok(()) => {}
        }
        self.delete(d).await
    }
}
