//! An OCI image layout directory (image-spec `image-layout.md`): `oci-layout`, `index.json`
//! and `blobs/<alg>/<hex>`. Tags are `org.opencontainers.image.ref.name` annotations of
//! `index.json` entries, as skopeo and umoci write them; a manifest with a `subject` is listed
//! in `index.json` too, which is how notation and oras keep referrers in a layout.
//!
//! Blobs are written to a temporary file, verified, synced and renamed into place; `index.json`
//! is replaced atomically. Writers in one process are serialized per layout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use zoll_oci::{Descriptor, Digest, Hasher, Reference, VerifiedStream};

use crate::error::{ClientError, Result};
use crate::{ByteStream, ClientConfig, REF_NAME, declared_media_type, referrer_descriptor};

const READ_CHUNK: usize = 256 << 10;

pub struct Layout {
    dir: PathBuf,
    max_manifest: usize,
}

/// One lock per layout directory for index.json updates within this process.
fn index_lock(dir: &Path) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let key = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    LOCKS
        .get_or_init(Default::default)
        .lock()
        .expect("poisoned")
        .entry(key)
        .or_default()
        .clone()
}

impl Layout {
    pub fn open(dir: &Path, config: &ClientConfig) -> Layout {
        Layout {
            dir: dir.to_owned(),
            max_manifest: config.max_manifest_bytes,
        }
    }

    /// Creates (or opens) a layout for writing, with default limits.
    pub fn create(dir: &Path) -> Result<Layout> {
        let l = Layout::open(dir, &ClientConfig::default());
        l.ensure_layout()?;
        Ok(l)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, msg: impl Into<String>) -> ClientError {
        ClientError::Layout(self.dir.display().to_string(), msg.into())
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(d.hex())
    }

    fn ensure_layout(&self) -> Result<()> {
        std::fs::create_dir_all(self.dir.join("blobs"))?;
        let marker = self.dir.join("oci-layout");
        if !marker.exists() {
            std::fs::write(marker, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !self.dir.join("index.json").exists() {
            self.write_index(&json!({"schemaVersion": 2, "manifests": []}))?;
        }
        Ok(())
    }

    fn read_index(&self) -> Result<Value> {
        let path = self.dir.join("index.json");
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.err("no index.json (not an OCI image layout)"));
            }
            Err(e) => return Err(e.into()),
        };
        if meta.len() > self.max_manifest as u64 {
            return Err(ClientError::TooLarge {
                what: "index.json",
                limit: self.max_manifest as u64,
            });
        }
        let v: Value = serde_json::from_slice(&std::fs::read(&path)?)
            .map_err(|e| self.err(format!("index.json: {e}")))?;
        if !v.get("manifests").is_some_and(Value::is_array) {
            return Err(self.err("index.json has no manifests array"));
        }
        Ok(v)
    }

    fn write_index(&self, v: &Value) -> Result<()> {
        let tmp = self.dir.join(format!(".index.json.{}", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec(v).expect("serializable"))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.dir.join("index.json"))?;
        Ok(())
    }

    fn entries(&self) -> Result<Vec<Descriptor>> {
        let index = self.read_index()?;
        serde_json::from_value(index["manifests"].clone())
            .map_err(|e| self.err(format!("index.json manifests: {e}")))
    }

    pub async fn resolve(&self, reference: Option<&Reference>) -> Result<Descriptor> {
        let entries = self.entries()?;
        let tagged = |d: &Descriptor| {
            d.annotations
                .as_ref()
                .and_then(|a| a.get(REF_NAME))
                .cloned()
        };
        let found = match reference {
            None => {
                let images: Vec<&Descriptor> = entries
                    .iter()
                    .filter(|d| tagged(d).is_some() || entries.len() == 1)
                    .collect();
                match images.as_slice() {
                    [one] => (*one).clone(),
                    [] => return Err(self.err("the layout holds no image")),
                    many => {
                        return Err(self.err(format!(
                            "the layout holds {} images; name one with :TAG or @DIGEST",
                            many.len()
                        )));
                    }
                }
            }
            Some(Reference::Tag(t)) => entries
                .iter()
                .find(|d| tagged(d).as_deref() == Some(t.as_str()))
                .cloned()
                .ok_or_else(|| {
                    ClientError::NotFound(format!("tag {t} in {}", self.dir.display()))
                })?,
            Some(Reference::Digest(want)) => match entries.iter().find(|d| &d.digest == want) {
                Some(d) => d.clone(),
                None => {
                    let bytes = self.read_manifest_blob(want)?;
                    let media_type = declared_media_type(&bytes).ok_or_else(|| {
                        ClientError::ManifestInvalid(format!("{want}: no media type"))
                    })?;
                    let mut d = crate::descriptor(&media_type, &bytes);
                    d.digest = want.clone();
                    d
                }
            },
        };
        Ok(found)
    }

    fn read_manifest_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        let meta = std::fs::metadata(&path).map_err(|_| {
            ClientError::NotFound(format!("manifest {d} in {}", self.dir.display()))
        })?;
        if meta.len() > self.max_manifest as u64 {
            return Err(ClientError::TooLarge {
                what: "manifest",
                limit: self.max_manifest as u64,
            });
        }
        let bytes = std::fs::read(path)?;
        let actual = Digest::of(d.algorithm(), &bytes);
        if &actual != d {
            return Err(ClientError::DigestMismatch {
                expected: d.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    pub async fn fetch_manifest(&self, reference: &Reference) -> Result<(Descriptor, Bytes)> {
        let mut desc = self.resolve(Some(reference)).await?;
        let bytes = self.read_manifest_blob(&desc.digest)?;
        desc.size = bytes.len() as u64;
        Ok((desc, Bytes::from(bytes)))
    }

    pub async fn fetch_blob(&self, desc: &Descriptor) -> Result<ByteStream> {
        let file = match tokio::fs::File::open(self.blob_path(&desc.digest)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ClientError::NotFound(format!(
                    "blob {} in {}",
                    desc.digest,
                    self.dir.display()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let stream = tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK);
        Ok(Box::pin(VerifiedStream::new(
            stream,
            desc.digest.clone(),
            desc.size,
        )))
    }

    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        Ok(tokio::fs::metadata(self.blob_path(digest)).await.is_ok())
    }

    pub async fn push_blob(&self, desc: &Descriptor, mut body: ByteStream) -> Result<()> {
        let dst = self.blob_path(&desc.digest);
        if std::fs::metadata(&dst).is_ok_and(|m| m.len() == desc.size) {
            return Ok(());
        }
        self.ensure_layout()?;
        let dir = dst.parent().expect("blob path has a parent").to_owned();
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), unique()));
        let result = async {
            let mut f = tokio::fs::File::create(&tmp).await?;
            let mut h = Hasher::new(desc.digest.algorithm());
            let mut n = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                n += chunk.len() as u64;
                if n > desc.size {
                    return Err(ClientError::SizeMismatch {
                        digest: desc.digest.clone(),
                        expected: desc.size,
                        actual: n,
                    });
                }
                h.update(&chunk);
                f.write_all(&chunk).await?;
            }
            let actual = h.finish();
            if n != desc.size {
                return Err(ClientError::SizeMismatch {
                    digest: desc.digest.clone(),
                    expected: desc.size,
                    actual: n,
                });
            }
            if actual != desc.digest {
                return Err(ClientError::DigestMismatch {
                    expected: desc.digest.clone(),
                    actual,
                });
            }
            f.sync_all().await?;
            tokio::fs::rename(&tmp, &dst).await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    pub async fn push_manifest(
        &self,
        media_type: &str,
        bytes: Bytes,
        tag: Option<&str>,
    ) -> Result<Descriptor> {
        let parsed = zoll_oci::Manifest::parse(&bytes, Some(media_type))
            .map_err(|e| ClientError::ManifestInvalid(e.to_string()))?;
        if let Some(t) = tag {
            zoll_oci::Tag::parse(t).map_err(|e| ClientError::BadReference {
                input: t.to_owned(),
                reason: e.to_string(),
            })?;
        }
        let desc = crate::descriptor(media_type, &bytes);
        let body: ByteStream = Box::pin(futures_util::stream::iter([Ok(bytes.clone())]));
        self.push_blob(&desc, body).await?;
        if tag.is_none() && parsed.subject.is_none() {
            return Ok(desc); // a child of an index: reachable through its parent
        }
        let lock = index_lock(&self.dir);
        let _held = lock.lock().await;
        let mut index = self.read_index()?;
        let list = index["manifests"].as_array_mut().expect("checked on read");
        let mut entry = if tag.is_some() {
            serde_json::to_value(&desc).expect("serializable")
        } else {
            serde_json::to_value(referrer_descriptor(media_type, &bytes)?).expect("serializable")
        };
        match tag {
            Some(t) => {
                list.retain(|e| e["annotations"][REF_NAME].as_str() != Some(t));
                entry["annotations"] = json!({ REF_NAME: t });
            }
            None => list.retain(|e| e["digest"].as_str() != Some(desc.digest.as_str())),
        }
        list.push(entry);
        self.write_index(&index)?;
        Ok(desc)
    }

    pub async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let mut out = Vec::new();
        for entry in self.entries()? {
            let Ok(bytes) = self.read_manifest_blob(&entry.digest) else {
                continue;
            };
            let Ok(m) = zoll_oci::Manifest::parse(&bytes, Some(&entry.media_type)) else {
                continue;
            };
            if m.subject.as_ref().map(|s| &s.digest) != Some(subject) {
                continue;
            }
            let d = referrer_descriptor(&entry.media_type, &bytes)?;
            if artifact_type.is_none_or(|t| d.artifact_type.as_deref() == Some(t)) {
                out.push(d);
            }
        }
        Ok(out)
    }

    pub async fn tags(&self) -> Result<Vec<String>> {
        Ok(self
            .entries()?
            .into_iter()
            .filter_map(|d| d.annotations.and_then(|mut a| a.remove(REF_NAME)))
            .collect())
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
