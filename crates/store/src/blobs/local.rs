//! Blobs on local disk: `blobs/<alg>/<2 hex>/<hex>` for published content and
//! `uploads/<id>` for staging. Publishing is fsync(file) → rename → fsync(dir), so a crash
//! leaves either no blob or the whole, verified blob.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use std::io::Seek;

use bytes::Bytes;
use futures_util::Stream;
use tokio::fs;
use zoll_oci::Digest;

use super::{ByteStream, PieceStream, file_io};
use crate::error::{Result, StoreError};

pub(crate) struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    pub(crate) fn new(root: PathBuf) -> Result<Self> {
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

    pub(crate) async fn stat(&self, d: &Digest) -> Result<Option<u64>> {
        match fs::metadata(self.blob_path(d)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn open(&self, d: &Digest, start: u64, len: u64) -> Result<ByteStream> {
        Ok(file_io::read_stream(self.open_file(d)?, start, len))
    }

    pub(crate) fn open_pieces(&self, d: &Digest, start: u64, len: u64) -> Result<PieceStream> {
        Ok(file_io::read_pieces(self.open_file(d)?, start, len, true))
    }

    fn open_file(&self, d: &Digest) -> Result<std::fs::File> {
        match std::fs::File::open(self.blob_path(d)) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::BlobUnknown(d.clone()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn create_upload(&self, id: &str) -> Result<()> {
        fs::File::create(self.upload_path(id)).await?;
        Ok(())
    }

    pub(crate) async fn append<S, E>(
        &self,
        id: &str,
        offset: u64,
        body: S,
        limit: u64,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let path = self.upload_path(id);
        let positioned = tokio::task::spawn_blocking(move || -> Result<std::fs::File> {
            let mut file = match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(StoreError::UploadUnknown(String::new()));
                }
                Err(e) => return Err(e.into()),
            };
            // Held until the writer thread lets go of this file. An append whose request was
            // dropped (client gone, shutdown) leaves its writer draining what was queued; the
            // next append of the session waits here for it instead of truncating under it.
            file.lock()?;
            // The staging file may have been published (renamed into the blob store) or
            // removed while this request waited for the lock: it must not touch that inode.
            if !same_file(&file, &path) {
                return Err(StoreError::UploadUnknown(String::new()));
            }
            let on_disk = file.metadata()?.len();
            if on_disk < offset {
                // Metadata acknowledged bytes the disk no longer has (e.g. power loss before
                // the page cache reached the disk): the session cannot be resumed honestly.
                return Err(StoreError::UploadInvalid(String::new()));
            }
            if on_disk > offset {
                file.set_len(offset)?; // bytes of an append that failed half-way
            }
            file.seek(std::io::SeekFrom::Start(offset))?;
            Ok(file)
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        let file = positioned.map_err(|e| match e {
            StoreError::UploadUnknown(_) => StoreError::UploadUnknown(id.to_owned()),
            StoreError::UploadInvalid(_) => StoreError::UploadInvalid(id.to_owned()),
            other => other,
        })?;
        let room = limit.saturating_sub(offset);
        let written = file_io::write_stream(file, body, room)
            .await
            .map_err(|e| match e {
                StoreError::TooLarge { what, .. } => StoreError::TooLarge { what, limit },
                other => other,
            })?;
        Ok(offset + written)
    }

    pub(crate) async fn read_upload(&self, id: &str, len: u64) -> Result<ByteStream> {
        let file = match std::fs::File::open(self.upload_path(id)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::UploadUnknown(id.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(file_io::read_stream(file, 0, len))
    }

    /// Makes the staged bytes durable (before the publishing transaction starts).
    pub(crate) async fn sync_upload(&self, id: &str) -> Result<()> {
        let src = self.upload_path(id);
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&src)?;
            file.lock()?; // after any writer of a dropped append (see `append`)
            file.sync_all()
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
        Ok(())
    }

    /// Moves synced staged bytes into place atomically and makes the rename durable. The
    /// staging file is locked from the length check through the rename, so no writer of the
    /// session can change what was verified before it is published.
    pub(crate) async fn publish(&self, id: &str, d: &Digest, len: u64) -> Result<()> {
        let src = self.upload_path(id);
        let dst = self.blob_path(d);
        let dir = dst.parent().expect("blob path has a parent").to_owned();
        let digest = d.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let file = std::fs::File::open(&src)?;
            file.lock()?;
            if !same_file(&file, &src) || file.metadata()?.len() != len {
                return Err(StoreError::UploadInvalid(format!(
                    "staged bytes of {digest} changed before publishing"
                )));
            }
            std::fs::create_dir_all(&dir)?;
            std::fs::rename(&src, &dst)?;
            sync_dir(&dir)?;
            Ok(())
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
    }

    /// Removes a blob's bytes (garbage collection); absent bytes are not an error.
    pub(crate) async fn delete(&self, d: &Digest) -> Result<()> {
        match fs::remove_file(self.blob_path(d)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Moves a damaged blob's bytes to `quarantine/` for inspection (scrub).
    pub(crate) async fn quarantine(&self, d: &Digest) -> Result<()> {
        let dst =
            self.root
                .join("quarantine")
                .join(format!("{}-{}", d.algorithm().as_str(), d.hex()));
        match move_durably(self.blob_path(d), dst).await {
            Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    pub(crate) async fn delete_upload(&self, id: &str) -> Result<()> {
        match fs::remove_file(self.upload_path(id)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    pub(crate) async fn list_uploads(&self) -> Result<Vec<(String, SystemTime)>> {
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

/// Whether `path` still names the open `file` (same device and inode).
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// rename(2) into a directory created on demand, then fsync of that directory.
async fn move_durably(src: PathBuf, dst: PathBuf) -> Result<()> {
    let dir = dst.parent().expect("blob path has a parent").to_owned();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        std::fs::rename(&src, &dst)?;
        sync_dir(&dir)
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))??;
    Ok(())
}
