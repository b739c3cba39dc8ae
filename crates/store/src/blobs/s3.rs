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
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
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
const PARTS_IN_FLIGHT: usize = 2;

pub struct S3Blobs {
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
    pub fn new(c: &S3Config) -> Result<Self> {
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

    fn chunk_key(&self, id: &str, offset: u64) -> Path {
        Path::from(format!("{}uploads/{id}/{offset:020}", self.prefix))
    }

    fn assembled_key(&self, id: &str) -> Path {
        Path::from(format!("{}uploads/{id}/assembled", self.prefix))
    }

    pub async fn stat(&self, d: &Digest) -> Result<Option<u64>> {
        match self.store.head(&self.blob_key(d)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    pub async fn open(&self, d: &Digest, start: u64, len: u64) -> Result<ByteStream> {
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

    /// Writes `body` as the chunk object at `offset`. Returns the new length.
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
        let upload = self
            .store
            .put_multipart(&self.chunk_key(id, offset))
            .await
            .map_err(io)?;
        let mut out = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut total = offset;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = out.abort().await;
                    return Err(StoreError::Body(e.to_string()));
                }
            };
            total += chunk.len() as u64;
            if total > limit {
                let _ = out.abort().await;
                return Err(StoreError::TooLarge {
                    what: "blob upload",
                    limit,
                });
            }
            inspect(&chunk);
            out.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(io)?;
            out.put(chunk);
        }
        out.finish().await.map_err(io)?;
        Ok(total)
    }

    /// The session's chunks that make up its first `len` bytes, in order.
    async fn chunks(&self, id: &str, len: u64) -> Result<Vec<(Path, u64)>> {
        let mut found: Vec<(u64, Path, u64)> = self
            .store
            .list(Some(&self.session_dir(id)))
            .try_filter_map(|m| async move {
                let name = m.location.filename().unwrap_or_default();
                Ok(name
                    .parse::<u64>()
                    .ok()
                    .map(|offset| (offset, m.location.clone(), m.size)))
            })
            .try_collect()
            .await
            .map_err(io)?;
        found.sort_by_key(|(offset, _, _)| *offset);
        let mut out = Vec::new();
        let mut at = 0;
        for (offset, key, size) in found {
            if at >= len {
                break;
            }
            if offset != at {
                continue; // left over from an append that failed half-way
            }
            let take = size.min(len - at);
            out.push((key, take));
            at += take;
        }
        if at != len {
            return Err(StoreError::UploadInvalid(id.to_owned()));
        }
        Ok(out)
    }

    pub async fn read_upload(&self, id: &str, len: u64) -> Result<ByteStream> {
        let chunks = self.chunks(id, len).await?;
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
    pub async fn sync_upload(&self, id: &str, len: u64) -> Result<()> {
        let chunks = self.chunks(id, len).await?;
        if let [(key, take)] = chunks.as_slice() {
            let size = self.store.head(key).await.map_err(io)?.size;
            if size == *take {
                return Ok(());
            }
        }
        let upload = self
            .store
            .put_multipart(&self.assembled_key(id))
            .await
            .map_err(io)?;
        let mut out = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut data = self.read_upload(id, len).await?;
        while let Some(chunk) = data.next().await {
            out.wait_for_capacity(PARTS_IN_FLIGHT).await.map_err(io)?;
            out.put(chunk?);
        }
        out.finish().await.map_err(io)?;
        Ok(())
    }

    /// Copies the assembled session to the blob's content address.
    pub async fn publish(&self, id: &str, d: &Digest, len: u64) -> Result<()> {
        let assembled = self.assembled_key(id);
        let source = match self.store.head(&assembled).await {
            Ok(_) => assembled,
            Err(e) if not_found(&e) => self.chunks(id, len).await?.remove(0).0,
            Err(e) => return Err(io(e)),
        };
        self.store
            .copy(&source, &self.blob_key(d))
            .await
            .map_err(io)
    }

    pub async fn delete_upload(&self, id: &str) -> Result<()> {
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

    pub async fn list_uploads(&self) -> Result<Vec<(String, SystemTime)>> {
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

    pub async fn delete(&self, d: &Digest) -> Result<()> {
        match self.store.delete(&self.blob_key(d)).await {
            Err(e) if !not_found(&e) => Err(io(e)),
            _ => Ok(()),
        }
    }

    pub async fn quarantine(&self, d: &Digest) -> Result<()> {
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
