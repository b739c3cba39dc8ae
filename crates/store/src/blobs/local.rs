//! Blobs on local disk: `blobs/<alg>/<2 hex>/<hex>` for published content and
//! `uploads/<id>` for staging. Publishing is fsync(file) → rename → fsync(dir), so a crash
//! leaves either no blob or the whole, verified blob.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};
use tokio_util::io::ReaderStream;
use zoll_oci::Digest;

use super::ByteStream;
use crate::error::{Result, StoreError};

const WRITE_BUFFER: usize = 1 << 20;
const READ_CHUNK: usize = 256 << 10;

pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    pub fn new(root: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(root.join("blobs"))?;
        std::fs::create_dir_all(root.join("uploads"))?;
        Ok(LocalBlobs { root })
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        let hex = d.hex();
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    pub async fn stat(&self, d: &Digest) -> Result<Option<u64>> {
        match fs::metadata(self.blob_path(d)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn open(&self, d: &Digest, start: u64, len: u64) -> Result<ByteStream> {
        let mut file = match fs::File::open(self.blob_path(d)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::BlobUnknown(d.clone()))
            }
            Err(e) => return Err(e.into()),
        };
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await?;
        }
        Ok(Box::pin(ReaderStream::with_capacity(
            file.take(len),
            READ_CHUNK,
        )))
    }

    pub async fn create_upload(&self, id: &str) -> Result<()> {
        fs::File::create(self.upload_path(id)).await?;
        Ok(())
    }

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
        let path = self.upload_path(id);
        let mut file = match fs::OpenOptions::new().write(true).open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::UploadUnknown(id.to_owned()))
            }
            Err(e) => return Err(e.into()),
        };
        let on_disk = file.metadata().await?.len();
        if on_disk < offset {
            // Metadata acknowledged bytes the disk no longer has (e.g. power loss before
            // the page cache reached the disk): the session cannot be resumed honestly.
            return Err(StoreError::UploadInvalid(id.to_owned()));
        }
        if on_disk > offset {
            file.set_len(offset).await?;
        }
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut total = offset;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| StoreError::Body(e.to_string()))?;
            total += chunk.len() as u64;
            if total > limit {
                return Err(StoreError::TooLarge {
                    what: "blob upload",
                    limit,
                });
            }
            inspect(&chunk);
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        Ok(total)
    }

    pub async fn read_upload(&self, id: &str, len: u64) -> Result<ByteStream> {
        let file = match fs::File::open(self.upload_path(id)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::UploadUnknown(id.to_owned()))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Box::pin(ReaderStream::with_capacity(
            file.take(len),
            READ_CHUNK,
        )))
    }

    pub async fn publish(&self, id: &str, d: &Digest) -> Result<()> {
        let src = self.upload_path(id);
        let dst = self.blob_path(d);
        let dir = dst.parent().expect("blob path has a parent").to_owned();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::File::open(&src)?.sync_all()?;
            std::fs::create_dir_all(&dir)?;
            std::fs::rename(&src, &dst)?;
            sync_dir(&dir)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(())
    }

    pub async fn delete_upload(&self, id: &str) -> Result<()> {
        match fs::remove_file(self.upload_path(id)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    pub async fn list_uploads(&self) -> Result<Vec<(String, SystemTime)>> {
        let mut out = Vec::new();
        let mut dir = fs::read_dir(self.root.join("uploads")).await?;
        while let Some(entry) = dir.next_entry().await? {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let modified = entry.metadata().await?.modified()?;
            out.push((name, modified));
        }
        Ok(out)
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
