//! Streaming file I/O on blocking threads. Chunks cross a bounded channel as `Bytes`, so a
//! request body is written to disk without intermediate copies, receiving (on the async side)
//! overlaps with writing (on the blocking side), and memory stays bounded by the channel.

use std::fs::File;
use std::io::Write;

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
pub async fn write_stream<S, E>(file: File, body: S, room: u64) -> Result<u64>
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
pub fn read_stream(file: File, start: u64, len: u64) -> ByteStream {
    Box::pin(read_pieces(file, start, len, false).map_ok(|p| p.bytes))
}

/// Streams `len` bytes of `file` from `start`, in pieces of [`READ_CHUNK`] (the last one
/// shorter): aligned with the chunk table when `start` is. With `crc`, each piece's CRC32 is
/// computed right after it was read, on the same thread, while the piece is still in that
/// core's cache (on the async side it often was not: perf showed the CRC at 10 % of the
/// server's CPU there). Each piece is read on a blocking thread that is given back as soon
/// as the piece is read, one piece ahead of the one being sent, so a client that reads
/// slowly holds no thread while it dawdles (a parked reader thread per slow download could
/// otherwise take every blocking thread the server has). Buffers are filled by `read`, never
/// zeroed first, and reused (see [`ReadBuffer`]).
pub fn read_pieces(file: File, start: u64, len: u64, crc: bool) -> PieceStream {
    struct Ahead {
        read: Option<JoinHandle<(File, std::io::Result<Piece>)>>,
        left: u64,
        crc: bool,
    }
    fn spawn(file: File, seek_to: Option<u64>, left: u64, crc: bool) -> Ahead {
        let want = left.min(READ_CHUNK);
        let read = tokio::task::spawn_blocking(move || {
            let mut file = file;
            let got = read_piece(&mut file, seek_to, want).map(|bytes| Piece {
                crc32: crc.then(|| crc32fast::hash(&bytes)),
                bytes,
            });
            (file, got)
        });
        Ahead {
            read: Some(read),
            left: left - want,
            crc,
        }
    }
    let done = Ahead {
        read: None,
        left: 0,
        crc,
    };
    let first = if len == 0 {
        done
    } else {
        spawn(file, Some(start), len, crc)
    };
    Box::pin(futures_util::stream::unfold(first, |ahead| async move {
        let finished = Ahead {
            read: None,
            left: 0,
            crc: ahead.crc,
        };
        let (file, got) = match ahead.read?.await {
            Ok(done) => done,
            Err(e) => return Some((Err(join_error(e)), finished)),
        };
        let next = match &got {
            Ok(_) if ahead.left > 0 => spawn(file, None, ahead.left, ahead.crc),
            _ => finished,
        };
        Some((got, next))
    }))
}

/// The next `want` bytes of `file` (after seeking to `seek_to`, if given); a file that ends
/// first is an `UnexpectedEof` error.
fn read_piece(file: &mut File, seek_to: Option<u64>, want: u64) -> std::io::Result<Bytes> {
    use std::io::{Read, Seek};
    if let Some(at) = seek_to {
        file.seek(std::io::SeekFrom::Start(at))?;
    }
    let mut buf = ReadBuffer::take();
    file.take(want).read_to_end(&mut buf.0)?;
    if (buf.0.len() as u64) < want {
        let eof = std::io::ErrorKind::UnexpectedEof;
        return Err(std::io::Error::new(eof, "blob file ended early"));
    }
    Ok(Bytes::from_owner(buf))
}

/// Read buffers kept for the next piece once the response has sent theirs. A fresh 1 MiB
/// allocation is a fresh mapping from the allocator, and filling it page-faults 256 times:
/// measured with perf on 8 concurrent 1 GiB reads, faults and their accounting were ~12 % of
/// the server's CPU. Process-wide because buffers outlive the read that filled them (they
/// are freed when the socket write is done).
static SPARE_BUFFERS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
/// Spare buffers kept at most (MiB of memory held while reads are idle).
const MAX_SPARE_BUFFERS: usize = 16;

/// A read buffer of [`READ_CHUNK`] capacity that goes back to the spares when dropped.
struct ReadBuffer(Vec<u8>);

impl ReadBuffer {
    fn take() -> ReadBuffer {
        let spare = SPARE_BUFFERS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        ReadBuffer(spare.unwrap_or_else(|| Vec::with_capacity(READ_CHUNK as usize)))
    }
}

impl AsRef<[u8]> for ReadBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        buf.clear();
        let mut spares = SPARE_BUFFERS.lock().unwrap_or_else(|p| p.into_inner());
        if spares.len() < MAX_SPARE_BUFFERS {
            spares.push(buf);
        }
    }
}
