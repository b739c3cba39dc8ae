//! Images behind `zoll-client` references (`host/repo:tag`, `oci:DIR[:tag]`): the
//! [`ImageSource`] / [`ImageSink`] of [`crate::image`] over a [`Repository`], and [`run`],
//! which resolves the source, transforms and tags the result.
//!
//! The crypto pipeline is synchronous (threads); the client is async. Blob bytes cross
//! through a small bridge on the pipeline's own threads. For an OCI layout destination, new
//! blobs are staged inside the layout's `blobs/<alg>/` directory and renamed into place
//! (the pipeline has already hashed them), which saves a copy of every layer; layout blobs
//! are read straight from their files and verified by the pipeline.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::runtime::Handle;
use zoll_client::{ByteStream, ClientConfig, ImageRef, Location, Repository};
use zoll_oci::Reference;
use zoll_stdx::progress::{Counted, Progress, Silent};

use crate::error::{CryptError, Result};
use crate::image::{self, Descriptor, ImageSink, ImageSource, Operation, Report, Selection};

const CHUNK: usize = 1 << 20;

fn to_oci(d: &Descriptor) -> zoll_oci::Descriptor {
    zoll_oci::Descriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        artifact_type: None,
        annotations: None,
        urls: None,
    }
}

fn layout_dir(r: &ImageRef) -> Option<PathBuf> {
    match &r.location {
        Location::Layout { dir } => Some(dir.clone()),
        Location::Registry { .. } => None,
    }
}

fn blob_path(dir: &std::path::Path, d: &zoll_oci::Digest) -> PathBuf {
    dir.join("blobs").join(d.algorithm().as_str()).join(d.hex())
}

/// Reads an async byte stream from a thread outside the runtime.
struct StreamRead {
    stream: ByteStream,
    handle: Handle,
    current: Bytes,
}

impl Read for StreamRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(chunk) => self.current = chunk?,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

struct Source<'p> {
    repo: Arc<Repository>,
    layout: Option<PathBuf>,
    handle: Handle,
    progress: &'p dyn Progress,
}

impl ImageSource for Source<'_> {
    fn manifest(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>> {
        if desc.size > limit {
            return Err(CryptError::Limit(format!(
                "manifest {} is larger than {limit} bytes",
                desc.digest
            )));
        }
        let r = Reference::Digest(desc.digest.clone());
        let (_, bytes) = self.handle.block_on(self.repo.fetch_manifest(&r))?;
        Ok(bytes.to_vec())
    }

    fn blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>> {
        if let Some(dir) = &self.layout {
            // The pipeline verifies digest and size; the client would hash a second time.
            let path = blob_path(dir, &desc.digest);
            let file = std::fs::File::open(&path).map_err(|e| {
                CryptError::Io(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", path.display()),
                ))
            })?;
            self.progress.grow(desc.size);
            return Ok(Box::new(Counted::new(file, self.progress)));
        }
        let stream = self.handle.block_on(self.repo.fetch_blob(&to_oci(desc)))?;
        self.progress.grow(desc.size);
        let read = StreamRead {
            stream,
            handle: self.handle.clone(),
            current: Bytes::new(),
        };
        Ok(Box::new(Counted::new(read, self.progress)))
    }
}

struct Sink<'p> {
    repo: Arc<Repository>,
    layout: Option<PathBuf>,
    handle: Handle,
    staging: PathBuf,
    progress: &'p dyn Progress,
}

impl Sink<'_> {
    /// Streams `reader` into the repository as blob `desc` (the client verifies it).
    fn push(&self, desc: &Descriptor, reader: impl Read) -> Result<()> {
        self.progress.grow(desc.size);
        let mut reader = Counted::new(reader, self.progress);
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
        let repo = Arc::clone(&self.repo);
        let oci = to_oci(desc);
        let push = self.handle.spawn(async move {
            let body: ByteStream =
                Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|item| (item, rx))
                }));
            repo.push_blob(&oci, body).await
        });
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::new(e.kind(), e.to_string())));
                    return Err(e.into());
                }
            };
            if n == 0 {
                break;
            }
            buf.truncate(n);
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                break; // the push ended early; its result says why
            }
        }
        drop(tx);
        self.handle
            .block_on(push)
            .map_err(|e| CryptError::Io(std::io::Error::other(e.to_string())))??;
        Ok(())
    }
}

impl ImageSink for Sink<'_> {
    fn staging_dir(&self) -> PathBuf {
        self.staging.clone()
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool> {
        Ok(self.handle.block_on(self.repo.blob_exists(&desc.digest))?)
    }

    fn publish_blob(&self, desc: &Descriptor, staged: tempfile::NamedTempFile) -> Result<()> {
        let staged = match &self.layout {
            Some(dir) => {
                let target = blob_path(dir, &desc.digest);
                std::fs::create_dir_all(target.parent().expect("blob path has a parent"))?;
                // Staging files are private (0600); published blobs are readable like the rest.
                std::fs::set_permissions(
                    staged.path(),
                    std::os::unix::fs::PermissionsExt::from_mode(0o644),
                )?;
                match staged.persist(&target) {
                    Ok(_) => return Ok(()),
                    // Another file system: copy through the client instead.
                    Err(e) => e.file,
                }
            }
            None => staged,
        };
        let file = staged.reopen()?;
        self.push(desc, file)
    }

    fn copy_blob(&self, desc: &Descriptor, src: &dyn ImageSource) -> Result<()> {
        let reader = src.blob(desc)?;
        self.push(desc, reader)
    }

    fn put_manifest(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let d = self.handle.block_on(self.repo.push_manifest(
            media_type,
            Bytes::copy_from_slice(bytes),
            None,
        ))?;
        Ok(Descriptor {
            media_type: d.media_type,
            digest: d.digest,
            size: d.size,
            annotations: Default::default(),
        })
    }
}

/// Applies `op` to the image `src` names and stores the result as `dst` (its tag; without
/// one, the source's tag). Returns the new image's descriptor and what was done.
pub fn run(
    src: &ImageRef,
    dst: &ImageRef,
    config: &ClientConfig,
    op: &Operation<'_>,
    selection: &Selection,
) -> Result<(zoll_oci::Descriptor, Report)> {
    run_with(src, dst, config, op, selection, &Silent)
}

/// [`run`], telling `progress` about the blob bytes read from the source and written to the
/// destination (known as each blob is opened).
pub fn run_with(
    src: &ImageRef,
    dst: &ImageRef,
    config: &ClientConfig,
    op: &Operation<'_>,
    selection: &Selection,
    progress: &dyn Progress,
) -> Result<(zoll_oci::Descriptor, Report)> {
    let tag = match (&dst.reference, &src.reference) {
        (Some(Reference::Tag(t)), _) => Some(t.to_string()),
        (Some(Reference::Digest(_)), _) => {
            return Err(CryptError::InvalidSpec {
                spec: dst.to_string(),
                reason: "the destination must be a tag, not a digest".into(),
            });
        }
        (None, Some(Reference::Tag(t))) => Some(t.to_string()),
        (None, _) => None,
    };
    // Not current-thread: the pipeline's threads call `handle.block_on`, which drives I/O
    // and timers only where a worker thread runs them.
    let runtime = zoll_stdx::rt::single_worker()?;
    let handle = runtime.handle().clone();
    let src_repo = Arc::new(Repository::open(src, config)?);
    let dst_repo = Arc::new(Repository::open(dst, config)?);
    let root = handle.block_on(src_repo.resolve(src.reference.as_ref()))?;
    let dst_layout = layout_dir(dst);
    // On the destination's file system, so publishing is a rename; a layout that does not
    // exist yet is not created before everything verified.
    let staging = match &dst_layout {
        Some(dir) if dir.join("blobs").is_dir() => {
            let d = dir.join("blobs").join("sha256");
            std::fs::create_dir_all(&d)?;
            d
        }
        Some(dir) => match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
        None => std::env::temp_dir(),
    };
    let source = Source {
        repo: Arc::clone(&src_repo),
        layout: layout_dir(src),
        handle: handle.clone(),
        progress,
    };
    let sink = Sink {
        repo: Arc::clone(&dst_repo),
        layout: dst_layout,
        handle: handle.clone(),
        staging,
        progress,
    };
    let root = Descriptor {
        media_type: root.media_type,
        digest: root.digest,
        size: root.size,
        annotations: root.annotations.unwrap_or_default(),
    };
    let (new_root, bytes, report) = image::transform(&source, &sink, &root, op, selection)?;
    let pushed = handle.block_on(dst_repo.push_manifest(
        &new_root.media_type,
        Bytes::from(bytes),
        tag.as_deref(),
    ))?;
    Ok((pushed, report))
}
