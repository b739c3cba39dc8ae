//! What keeps a damaged byte from being served without re-hashing every blob on every read.
//!
//! Every blob has a chunk table: a CRC32 of each 1 MiB chunk (the last one shorter),
//! computed while the upload is hashed anyway and stored in its metadata row
//! (`blobs.crc32_1mib`, eight hex digits per chunk). A read fetches the entries of the chunks
//! it touches, reads those chunks whole and lets a chunk leave only after its CRC matched; a
//! chunk that fails (or bytes that end early or cannot be read) stops the response, and the
//! blob is re-verified against its SHA-256 in the background and quarantined when that fails
//! too. A range that avoids the damaged chunk is served: every byte in it was checked.
//!
//! Why CRC32 and not SHA-256 per chunk: this is a check against damage (bit rot, torn or
//! truncated writes, a file or object replaced by mistake), at the cost of the page cache
//! (CRC32 runs at over 50 GB/s here, SHA-256 at 1.7). It is no defence against someone who
//! can write the blob storage and forge CRC collisions on purpose; against that stand the
//! SHA-256 identity, which every client checks after a pull and scrub re-checks, and
//! signatures.
//!
//! Blobs stored before chunk tables existed get theirs from scrub or on their first read,
//! which then verifies the whole blob against its digest before serving any byte of it.

use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use zoll_oci::{Algorithm, Digest, Hasher};

use crate::blobs::{ByteStream, Piece, PieceStream};

/// Bytes per chunk-table entry.
pub(crate) const CHUNK: u64 = 1 << 20;
/// Text per entry: eight hex digits.
const ENTRY_TEXT: usize = 8;

/// Index of the chunk holding byte `offset`.
pub(crate) fn chunk_of(offset: u64) -> u64 {
    offset / CHUNK
}

/// Number of chunks of a blob of `size` bytes.
pub(crate) fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK)
}

/// CRC32s of consecutive chunks (starting at some chunk index the holder knows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChunkTable(Vec<u32>);

impl ChunkTable {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The stored form: eight lowercase hex digits per chunk.
    pub(crate) fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.0.len() * ENTRY_TEXT);
        for c in &self.0 {
            s.push_str(&format!("{c:08x}"));
        }
        s
    }

    /// Parses the stored form; `None` for anything malformed.
    pub(crate) fn from_text(text: &str) -> Option<ChunkTable> {
        if !text.len().is_multiple_of(ENTRY_TEXT) || !text.is_ascii() {
            return None;
        }
        (0..text.len() / ENTRY_TEXT)
            .map(|i| u32::from_str_radix(&text[i * ENTRY_TEXT..(i + 1) * ENTRY_TEXT], 16).ok())
            .collect::<Option<Vec<u32>>>()
            .map(ChunkTable)
    }

    /// Entries `first..first + count` (fewer if the table is shorter).
    pub(crate) fn entries(&self, first: u64, count: u64) -> ChunkTable {
        let from = usize::try_from(first)
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        let to = from
            .saturating_add(usize::try_from(count).unwrap_or(usize::MAX))
            .min(self.0.len());
        ChunkTable(self.0[from..to].to_vec())
    }

    /// Where entry `index` starts in the stored text, 1-based (SQL `substr`).
    pub(crate) fn text_position(index: u64) -> u64 {
        index * ENTRY_TEXT as u64 + 1
    }

    /// Text length of `count` entries.
    pub(crate) fn text_len(count: u64) -> u64 {
        count * ENTRY_TEXT as u64
    }
}

/// Builds a chunk table from bytes fed in order.
#[derive(Default)]
pub(crate) struct ChunkSums {
    done: Vec<u32>,
    current: crc32fast::Hasher,
    filled: u64,
}

impl ChunkSums {
    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = usize::try_from(CHUNK - self.filled).unwrap_or(usize::MAX);
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.current.update(now);
            self.filled += now.len() as u64;
            bytes = rest;
            if self.filled == CHUNK {
                self.done.push(std::mem::take(&mut self.current).finalize());
                self.filled = 0;
            }
        }
    }

    pub(crate) fn finish(mut self) -> ChunkTable {
        if self.filled > 0 {
            self.done.push(self.current.finalize());
        }
        ChunkTable(self.done)
    }
}

/// The identity digest and the chunk table of the same bytes, computed in one pass.
pub(crate) struct ContentHash {
    digest: Hasher,
    chunks: ChunkSums,
}

impl ContentHash {
    pub(crate) fn new(algorithm: Algorithm) -> Self {
        ContentHash {
            digest: Hasher::new(algorithm),
            chunks: ChunkSums::default(),
        }
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.digest.algorithm()
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
        self.chunks.update(bytes);
    }

    pub(crate) fn finish(self) -> (Digest, ChunkTable) {
        (self.digest.finish(), self.chunks.finish())
    }
}

/// Why a verified read stopped; the store re-verifies the blob when it hears of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadFault {
    /// A chunk's bytes do not match their CRC, or the bytes ended early.
    Damaged,
    /// The backend failed to deliver the bytes.
    Unreadable,
}

/// Called once when a verified read stops on a fault.
pub(crate) type FaultReport = Arc<dyn Fn(ReadFault) + Send + Sync>;

/// What a verified read serves: `len` bytes from `start` of a blob of `size` bytes, whose
/// chunks `first..` the table `sums` describes (it covers every chunk the range touches).
pub(crate) struct ReadPlan {
    pub digest: Digest,
    pub size: u64,
    pub start: u64,
    pub len: u64,
    pub sums: ChunkTable,
}

impl ReadPlan {
    /// Index of the first chunk the range touches.
    pub(crate) fn first_chunk(&self) -> u64 {
        chunk_of(self.start)
    }

    /// Chunks the range touches.
    pub(crate) fn chunk_span(&self) -> u64 {
        if self.len == 0 {
            return 0;
        }
        chunk_of(self.start + self.len - 1) - self.first_chunk() + 1
    }

    /// The byte range of the whole chunks to read: `(offset, len)`.
    pub(crate) fn read_span(&self) -> (u64, u64) {
        let from = self.first_chunk() * CHUNK;
        let to = ((self.first_chunk() + self.chunk_span()) * CHUNK).min(self.size);
        (from, to.saturating_sub(from))
    }
}

/// Serves `plan` from `whole_chunks`, a stream of the plan's `read_span` bytes (in pieces of
/// any size; pieces of exactly one chunk pass without a copy, and their CRC is taken from
/// the piece when the backend computed it). Each chunk is checked against its recorded CRC
/// before any byte of it is yielded; the first fault ends the stream with an error and is
/// reported once.
pub(crate) fn verified(
    plan: ReadPlan,
    whole_chunks: PieceStream,
    report: FaultReport,
) -> ByteStream {
    let state = Verifier {
        inner: whole_chunks,
        carry: Bytes::new(),
        next: 0,
        plan,
        report,
    };
    Box::pin(futures_util::stream::unfold(
        Some(state),
        |state| async move {
            let mut v = state?;
            if v.next >= v.plan.chunk_span() {
                return None;
            }
            match v.next_chunk().await {
                Ok(bytes) => Some((Ok(bytes), Some(v))),
                Err((fault, e)) => {
                    (v.report)(fault);
                    Some((Err(e), None))
                }
            }
        },
    ))
}

struct Verifier {
    inner: PieceStream,
    /// Bytes of the next chunk that arrived with the previous one.
    carry: Bytes,
    /// Chunks checked so far (relative to the plan's first chunk).
    next: u64,
    plan: ReadPlan,
    report: FaultReport,
}

impl Verifier {
    async fn next_chunk(&mut self) -> std::result::Result<Bytes, (ReadFault, std::io::Error)> {
        let index = self.plan.first_chunk() + self.next;
        let chunk_start = index * CHUNK;
        let want = usize::try_from((self.plan.size - chunk_start).min(CHUNK)).unwrap_or(0);
        let (chunk, crc) = self.assemble(want).await?;
        let expected = self.plan.sums.0[usize::try_from(self.next).unwrap_or(usize::MAX)];
        if crc.unwrap_or_else(|| crc32fast::hash(&chunk)) != expected {
            let why = format!(
                "blob {} failed verification: chunk {index} (bytes {chunk_start}..{}) does not \
                 match its checksum",
                self.plan.digest,
                chunk_start + want as u64
            );
            let e = std::io::Error::new(std::io::ErrorKind::InvalidData, why);
            return Err((ReadFault::Damaged, e));
        }
        self.next += 1;
        // The part of the chunk the range asked for.
        let end = self.plan.start + self.plan.len;
        let from = self.plan.start.saturating_sub(chunk_start);
        let to = (end - chunk_start).min(want as u64);
        Ok(chunk.slice(usize::try_from(from).unwrap_or(0)..usize::try_from(to).unwrap_or(0)))
    }

    /// The next `want` bytes of the stream, as one buffer, with their CRC when the backend
    /// delivered them as one piece with it.
    async fn assemble(
        &mut self,
        want: usize,
    ) -> std::result::Result<(Bytes, Option<u32>), (ReadFault, std::io::Error)> {
        let mut piece = std::mem::take(&mut self.carry);
        if piece.is_empty() {
            let whole = self.pull_piece().await?;
            if whole.bytes.len() == want {
                return Ok((whole.bytes, whole.crc32));
            }
            piece = whole.bytes;
        }
        if piece.len() == want {
            return Ok((piece, None));
        }
        let mut buf = BytesMut::with_capacity(want);
        loop {
            let take = piece.len().min(want - buf.len());
            buf.extend_from_slice(&piece[..take]);
            if buf.len() == want {
                self.carry = piece.slice(take..);
                return Ok((buf.freeze(), None));
            }
            piece = self.pull_piece().await?.bytes;
        }
    }

    async fn pull_piece(&mut self) -> std::result::Result<Piece, (ReadFault, std::io::Error)> {
        match Pin::new(&mut self.inner).next().await {
            Some(Ok(piece)) => Ok(piece),
            Some(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Err((ReadFault::Damaged, e))
            }
            Some(Err(e)) => Err((ReadFault::Unreadable, e)),
            None => {
                let why = format!("blob {} ended early", self.plan.digest);
                let e = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, why);
                Err((ReadFault::Damaged, e))
            }
        }
    }
}

/// The verdict on a blob's stored bytes after reading them all.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// They hash to the digest; this is their chunk table.
    Intact(ChunkTable),
    /// Missing, of the wrong length, or hashing to something else.
    Damaged(String),
    /// Could not be read (an I/O or network error): no verdict.
    Unreadable(std::io::Error),
}

/// Reads a whole stored blob and judges it against `digest`.
pub(crate) async fn judge(digest: &Digest, size: u64, bytes: ByteStream) -> Verdict {
    let mut hash = ContentHash::new(digest.algorithm());
    let mut seen = 0u64;
    let mut bytes = bytes;
    while let Some(piece) = bytes.next().await {
        match piece {
            Ok(p) => {
                seen += p.len() as u64;
                hash.update(&p);
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Verdict::Damaged(format!("bytes end early: {e}"));
            }
            Err(e) => return Verdict::Unreadable(e),
        }
    }
    if seen != size {
        return Verdict::Damaged(format!("{seen} bytes stored, {size} expected"));
    }
    let (actual, table) = hash.finish();
    if &actual == digest {
        Verdict::Intact(table)
    } else {
        Verdict::Damaged(format!("bytes hash to {actual}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(pieces: Vec<Vec<u8>>) -> ByteStream {
        Box::pin(futures_util::stream::iter(
            pieces.into_iter().map(|p| Ok(Bytes::from(p))),
        ))
    }

    fn blob(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn table_of(data: &[u8]) -> ChunkTable {
        let mut s = ChunkSums::default();
        // Fed in odd pieces: the table must not depend on how the bytes arrive.
        for piece in data.chunks(300_007) {
            s.update(piece);
        }
        s.finish()
    }

    async fn read(
        data: &[u8],
        stored: &[u8],
        start: u64,
        len: u64,
        piece: usize,
    ) -> (Vec<u8>, Option<ReadFault>, bool) {
        let table = table_of(data);
        let plan_probe = ReadPlan {
            digest: Digest::sha256(data),
            size: data.len() as u64,
            start,
            len,
            sums: ChunkTable::default(),
        };
        let first = plan_probe.first_chunk() as usize;
        let span = plan_probe.chunk_span() as usize;
        let (from, n) = plan_probe.read_span();
        let plan = ReadPlan {
            sums: ChunkTable(table.0[first..first + span].to_vec()),
            ..plan_probe
        };
        let end = (from + n).min(stored.len() as u64) as usize;
        let slice = stored[from as usize..end].to_vec();
        // Pieces of one chunk carry their CRC, as the local backend delivers them.
        let pieces: Vec<_> = slice
            .chunks(piece)
            .map(|c| {
                let crc32 = (piece == CHUNK as usize).then(|| crc32fast::hash(c));
                Ok(Piece {
                    bytes: Bytes::copy_from_slice(c),
                    crc32,
                })
            })
            .collect();
        let fault = Arc::new(std::sync::Mutex::new(None));
        let f = fault.clone();
        let report: FaultReport = Arc::new(move |x| *f.lock().unwrap() = Some(x));
        let mut out = Vec::new();
        let mut failed = false;
        let mut s = verified(plan, Box::pin(futures_util::stream::iter(pieces)), report);
        while let Some(p) = s.next().await {
            match p {
                Ok(b) => out.extend_from_slice(&b),
                Err(_) => failed = true,
            }
        }
        let fault = *fault.lock().unwrap();
        (out, fault, failed)
    }

    #[test]
    fn tables_survive_their_text_form() {
        let t = table_of(&blob(3 * CHUNK as usize + 5));
        assert_eq!(t.len(), 4);
        assert_eq!(ChunkTable::from_text(&t.to_text()), Some(t));
        assert_eq!(ChunkTable::from_text("0123456"), None);
        assert_eq!(ChunkTable::from_text("0123456z"), None);
        assert_eq!(table_of(&[]).len(), 0);
    }

    #[tokio::test]
    async fn intact_reads_return_exactly_the_range() {
        let data = blob(3 * CHUNK as usize + 1000);
        let size = data.len() as u64;
        for (start, len) in [
            (0, size),
            (5, 10),
            (CHUNK - 1, 2),
            (CHUNK, CHUNK),
            (size - 1, 1),
            (2 * CHUNK + 17, size - 2 * CHUNK - 17),
        ] {
            for piece in [CHUNK as usize, 65536, 999_983] {
                let (out, fault, failed) = read(&data, &data, start, len, piece).await;
                let want = &data[start as usize..(start + len) as usize];
                assert!(!failed && fault.is_none(), "{start}+{len}");
                assert_eq!(out, want, "{start}+{len} in pieces of {piece}");
            }
        }
    }

    #[tokio::test]
    async fn a_damaged_chunk_is_never_yielded() {
        let data = blob(3 * CHUNK as usize + 1000);
        let size = data.len() as u64;
        for flip in [0, CHUNK as usize, CHUNK as usize + 500_000, data.len() - 1] {
            let mut bad = data.clone();
            bad[flip] ^= 0x01;
            let damaged = chunk_of(flip as u64);
            let reads = [(0, size), (flip as u64, 1), (0, CHUNK), (size - 10, 10)];
            for ((start, len), piece) in reads
                .into_iter()
                .flat_map(|r| [(r, 65536), (r, CHUNK as usize)])
            {
                let (out, fault, failed) = read(&data, &bad, start, len, piece).await;
                let touches = chunk_of(start) <= damaged && damaged <= chunk_of(start + len - 1);
                if touches {
                    assert!(failed, "flip at {flip}, range {start}+{len}");
                    assert_eq!(fault, Some(ReadFault::Damaged));
                    // Only chunks before the damaged one were delivered.
                    let served_to = start + out.len() as u64;
                    assert!(
                        served_to <= (damaged * CHUNK).max(start),
                        "served past the damage"
                    );
                    assert_eq!(out, &data[start as usize..served_to as usize]);
                } else {
                    assert!(!failed && fault.is_none(), "flip {flip}, {start}+{len}");
                    assert_eq!(out, &data[start as usize..(start + len) as usize]);
                }
            }
        }
    }

    #[tokio::test]
    async fn bytes_that_end_early_are_damage() {
        let data = blob(2 * CHUNK as usize + 10);
        let short = &data[..data.len() - 3];
        let (out, fault, failed) = read(&data, short, 0, data.len() as u64, 65536).await;
        assert!(failed);
        assert_eq!(fault, Some(ReadFault::Damaged));
        assert_eq!(out.len() as u64, 2 * CHUNK);
    }

    #[tokio::test]
    async fn judging_a_whole_blob() {
        let data = blob(CHUNK as usize + 3);
        let d = Digest::sha256(&data);
        let size = data.len() as u64;
        match judge(&d, size, stream_of(vec![data.clone()])).await {
            Verdict::Intact(t) => assert_eq!(t, table_of(&data)),
            other => panic!("{other:?}"),
        }
        let mut bad = data.clone();
        bad[7] ^= 1;
        assert!(matches!(
            judge(&d, size, stream_of(vec![bad])).await,
            Verdict::Damaged(_)
        ));
        assert!(matches!(
            judge(&d, size, stream_of(vec![data[..9].to_vec()])).await,
            Verdict::Damaged(_)
        ));
    }
}
