//! Streaming file I/O. Writes go to a blocking thread: chunks cross a bounded channel as
//! `Bytes`, so a request body is written to disk without intermediate copies, receiving (on
//! the async side) overlaps with writing (on the blocking side), and memory stays bounded by
//! the channel. Reads are served from the page cache on the task that sends them, and go to
//! a blocking thread only when they would wait for the disk (see [`read_pieces`]).

use std::fs::File;
use std::io::{IoSliceMut, Write};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{ByteStream, Piece, PieceStream};
use crate::error::{Result, StoreError};

/// Chunks travel to the writer thread in batches of about this many bytes: a request body
/// arrives in pieces of ~64 KiB, and waking the writer for each piece cost more CPU than
/// the writing (on two cores that CPU is taken from the client that is sending).
const BATCH_BYTES: usize = 1 << 20;
/// Batches queued; with the one being written and the one being filled, an upload holds
/// about 4 MiB of buffers.
const CHANNEL_BATCHES: usize = 2;
/// Pieces of reads: one chunk of the chunk table, so that a verified read checks each piece
/// as it is, without assembling it.
const READ_CHUNK: u64 = crate::integrity::CHUNK;
/// Start writing dirty pages back after this many bytes, so that the fsync at publish time
/// only has the tail left to flush. Measured with skopeo pushing 200 MiB: every 4-16 MiB
/// ~0.85 s, 32 MiB ~0.89 s, 64 MiB ~0.90 s, never (one fsync of everything at the end) 1.07 s.
const WRITEBACK_EVERY: u64 = 8 << 20;

fn join_error(e: tokio::task::JoinError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Writes `body` to `file` (positioned by the caller).
/// Returns the number of bytes written; fails with `TooLarge` once more than `room` arrive.
pub(super) async fn write_stream<S, E>(file: File, body: S, room: u64) -> Result<u64>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let (tx, mut rx) = mpsc::channel::<Vec<Bytes>>(CHANNEL_BATCHES);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut file = file;
        let mut since_writeback = 0u64;
        let mut writeback: Option<JoinHandle<()>> = None;
        while let Some(batch) = rx.blocking_recv() {
            for chunk in &batch {
                file.write_all(chunk)?;
                since_writeback += chunk.len() as u64;
            }
            let idle = writeback.as_ref().is_none_or(|w| w.is_finished());
            if since_writeback >= WRITEBACK_EVERY && idle {
                since_writeback = 0;
                let clone = file.try_clone()?;
                writeback = Some(tokio::task::spawn_blocking(move || {
                    let _ = clone.sync_data();
                }));
            }
        }
        Ok(())
    });
    let mut written = 0u64;
    let mut body = std::pin::pin!(body);
    let mut outcome = Ok(());
    let mut batch = Vec::new();
    let mut batch_len = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                outcome = Err(StoreError::Body(e.to_string()));
                break;
            }
        };
        written += chunk.len() as u64;
        if written > room {
            outcome = Err(StoreError::TooLarge {
                what: "blob upload",
                limit: room,
            });
            break;
        }
        batch_len += chunk.len();
        batch.push(chunk);
        if batch_len >= BATCH_BYTES {
            batch_len = 0;
            if tx.send(std::mem::take(&mut batch)).await.is_err() {
                break; // the writer failed; its error is reported below
            }
        }
    }
    if outcome.is_ok() && !batch.is_empty() {
        let _ = tx.send(batch).await; // a failed writer reports its error below
    }
    drop(tx);
    writer.await.map_err(join_error)??;
    outcome.map(|()| written)
}

/// Streams `len` bytes of `file` from `start`, in pieces of [`READ_CHUNK`] (the last one
/// shorter).
pub(super) fn read_stream(file: File, start: u64, len: u64) -> ByteStream {
    Box::pin(read_pieces(file, start, len, false).map_ok(|p| p.bytes))
}

/// Streams `len` bytes of `file` from `start`, in pieces of [`READ_CHUNK`] (the last one
/// shorter): aligned with the chunk table when `start` is. With `crc`, each piece's CRC32 is
/// computed right after it was read, while the piece is still in that core's cache.
///
/// A piece whose bytes are all in the page cache is read right here, on the task that sends
/// it (`preadv2` with `RWF_NOWAIT`, which copies what is cached and never waits for the
/// disk): handing each MiB to a blocking thread and back cost two wake-ups and two context
/// switches, which perf put at ~7 % of the server's CPU on eight concurrent reads. Only
/// what is not cached is read on a blocking thread, which is given back as soon as the
/// piece is read, so a client that reads slowly holds no thread while it dawdles (a parked
/// reader thread per slow download could otherwise take every blocking thread the server
/// has). Buffers are reused (see [`ReadBuffer`]).
pub(super) fn read_pieces(file: File, start: u64, len: u64, crc: bool) -> PieceStream {
    struct Next {
        file: Arc<File>,
        at: u64,
        left: u64,
        crc: bool,
        /// The file system refused `RWF_NOWAIT`: every piece goes to a blocking thread.
        no_nowait: bool,
    }
    let first = Next {
        file: Arc::new(file),
        at: start,
        left: len,
        crc,
        no_nowait: false,
    };
    Box::pin(futures_util::stream::unfold(first, |mut next| async move {
        if next.left == 0 {
            return None;
        }
        let want = usize::try_from(next.left.min(READ_CHUNK)).unwrap_or(usize::MAX);
        let mut buf = ReadBuffer::take();
        if !next.no_nowait {
            match read_cached(&next.file, next.at, &mut buf, want) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) => {
                    next.no_nowait = true
                }
                Err(e) => return Some((Err(e), Next { left: 0, ..next })),
            }
        }
        if buf.len < want {
            let (file, at) = (next.file.clone(), next.at);
            let read = tokio::task::spawn_blocking(move || {
                read_uncached(&file, at, &mut buf, want).map(|()| buf)
            });
            buf = match read.await {
                Ok(Ok(buf)) => buf,
                Ok(Err(e)) => return Some((Err(e), Next { left: 0, ..next })),
                Err(e) => return Some((Err(join_error(e)), Next { left: 0, ..next })),
            };
        }
        let crc32 = next.crc.then(|| crc32fast::hash(buf.as_ref()));
        let piece = Piece {
            bytes: Bytes::from_owner(buf),
            crc32,
        };
        next.at += want as u64;
        next.left -= want as u64;
        Some((Ok(piece), next))
    }))
}

/// Fills `buf` up to `want` bytes from `at` with what the page cache holds, without waiting
/// for the disk (`EOPNOTSUPP` where the file system cannot tell); stops early, leaving the
/// rest to [`read_uncached`], at the first byte that is not cached and at the end of the file.
fn read_cached(file: &File, at: u64, buf: &mut ReadBuffer, want: usize) -> std::io::Result<()> {
    use rustix::io::{ReadWriteFlags, preadv2};
    while buf.len < want {
        let dest = &mut buf.bytes[buf.len..want];
        let offset = at + buf.len as u64;
        match preadv2(
            file,
            &mut [IoSliceMut::new(dest)],
            offset,
            ReadWriteFlags::NOWAIT,
        ) {
            Ok(0) => return Ok(()), // the end of the file: the blocking read reports it
            Ok(n) => buf.len += n,
            Err(e) if e == rustix::io::Errno::AGAIN => return Ok(()),
            Err(e) if e == rustix::io::Errno::INTR => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Fills `buf` up to `want` bytes from `at`, waiting for the disk; a file that ends first is
/// an `UnexpectedEof` error.
fn read_uncached(file: &File, at: u64, buf: &mut ReadBuffer, want: usize) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let offset = at + buf.len as u64;
    match file.read_exact_at(&mut buf.bytes[buf.len..want], offset) {
        Ok(()) => {
            buf.len = want;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "blob file ended early",
        )),
        Err(e) => Err(e),
    }
}

/// Read buffers kept for the next piece once the response has sent theirs. A fresh 1 MiB
/// allocation is a fresh mapping from the allocator, and filling it page-faults 256 times:
/// measured with perf on 8 concurrent 1 GiB reads, faults and their accounting were ~12 % of
/// the server's CPU. Process-wide because buffers outlive the read that filled them (they
/// are freed when the socket write is done).
static SPARE_BUFFERS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
/// Spare buffers kept at most (MiB of memory held while reads are idle).
const MAX_SPARE_BUFFERS: usize = 16;

/// A read buffer of [`READ_CHUNK`] bytes, of which the first `len` were read; it goes back to
/// the spares when dropped. Its bytes are initialised once, when it is first allocated
/// (zeroed pages from the kernel), and reused as they are after that.
struct ReadBuffer {
    bytes: Vec<u8>,
    len: usize,
}

impl ReadBuffer {
    fn take() -> ReadBuffer {
        let spare = SPARE_BUFFERS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        ReadBuffer {
            bytes: spare.unwrap_or_else(|| vec![0; READ_CHUNK as usize]),
            len: 0,
        }
    }
}

impl AsRef<[u8]> for ReadBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.bytes);
        let mut spares = SPARE_BUFFERS.lock().unwrap_or_else(|p| p.into_inner());
        if spares.len() < MAX_SPARE_BUFFERS && buf.len() == READ_CHUNK as usize {
            spares.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const MIB: usize = 1 << 20;

    fn file_of(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.sync_all().unwrap();
        f
    }

    /// Asks the kernel to drop the file's pages from the page cache (they are clean after
    /// the sync), so that reads of them would have to wait for the disk.
    fn evict(f: &File) {
        rustix::fs::fadvise(f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    }

    async fn pieces(f: File, start: u64, len: u64) -> Vec<std::io::Result<Piece>> {
        read_pieces(f, start, len, true).collect().await
    }

    fn joined(got: &[std::io::Result<Piece>]) -> Vec<u8> {
        got.iter()
            .flat_map(|p| {
                let p = p.as_ref().unwrap();
                assert_eq!(
                    p.crc32,
                    Some(crc32fast::hash(&p.bytes)),
                    "CRC of the piece read"
                );
                p.bytes.to_vec()
            })
            .collect()
    }

    #[tokio::test]
    async fn cached_uncached_and_partly_cached_files_read_the_same() {
        let content = zoll_oci::Digest::sha256(b"seed")
            .to_string()
            .repeat(120_000);
        let content = &content.as_bytes()[..3 * MIB + 12_345];
        // In the page cache (just written).
        let got = pieces(file_of(content), 0, content.len() as u64).await;
        assert_eq!(got.len(), 4);
        assert_eq!(joined(&got), content);
        // Evicted: every piece goes to a blocking thread.
        let f = file_of(content);
        evict(&f);
        assert_eq!(joined(&pieces(f, 0, content.len() as u64).await), content);
        // Partly cached, without read-ahead: the second piece's first 300 kB are cached and
        // the rest is not, so it is read partly here and partly on a blocking thread.
        let f = file_of(content);
        evict(&f);
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::Random).unwrap();
        let mut cached = vec![0u8; 300_000];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut cached, MIB as u64).unwrap();
        assert_eq!(joined(&pieces(f, 0, content.len() as u64).await), content);
        // A range from an unaligned start.
        let f = file_of(content);
        let got = pieces(f, 1_000_001, 2 * MIB as u64).await;
        assert_eq!(joined(&got), &content[1_000_001..1_000_001 + 2 * MIB]);
    }

    #[tokio::test]
    async fn a_file_that_ends_early_is_an_error_cached_or_not() {
        let content = vec![7u8; MIB + 100];
        for cached in [true, false] {
            let f = file_of(&content);
            if !cached {
                evict(&f);
            }
            let got = pieces(f, 0, 2 * MIB as u64).await;
            assert!(got[0].is_ok());
            let e = got[1].as_ref().err().expect("short file");
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof,
                "cached: {cached}"
            );
            assert_eq!(got.len(), 2, "the stream ends after the error");
        }
    }
}
