//! Hashing an upload beside its write instead of in its way.
//!
//! An upload's SHA-256 and chunk table (see [`ContentHash`]) used to be computed on the task
//! that receives the body, between reading a piece from the socket and handing it to the
//! writer: 39 % of a 1 GiB push's CPU ran there in series with receiving. Here the body passes
//! through unchanged while its pieces, gathered into batches of about 1 MiB, are hashed on a
//! blocking thread, one batch behind the one being received. A batch's hashing is awaited
//! only when the next batch is ready, so receiving, hashing and writing overlap; and no
//! thread is held between batches, so a client that sends slowly parks no thread while it
//! dawdles.
//!
//! The hash arrives once the body has ended (the backend polled it to `None`). A body that
//! fails, is dropped or whose hashing thread panicked delivers none: the caller then has no
//! running hash, and the upload is hashed again from its staged bytes at finish, as after a
//! restart.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::integrity::ContentHash;

/// Bytes hashed per hand-off to a blocking thread (one spawn per MiB is noise beside hashing
/// the MiB, ~0.6 ms at 1.7 GB/s).
const BATCH_BYTES: usize = 1 << 20;

pub(crate) type Body<'a> =
    std::pin::Pin<Box<dyn Stream<Item = std::result::Result<Bytes, String>> + Send + 'a>>;

/// `body` unchanged, and the hash of everything it yielded, which arrives once it ended.
pub(crate) fn hash_ahead(
    body: Body<'_>,
    hash: ContentHash,
) -> (Body<'_>, oneshot::Receiver<ContentHash>) {
    let (done, hashed) = oneshot::channel();
    let tee = Tee {
        body,
        idle: Some(hash),
        busy: None,
        batch: Vec::new(),
        batch_len: 0,
        done: Some(done),
    };
    let stream = futures_util::stream::unfold(tee, |mut tee| async move {
        match tee.body.next().await {
            Some(Ok(piece)) => {
                tee.batch_len += piece.len();
                tee.batch.push(piece.clone());
                if tee.batch_len >= BATCH_BYTES {
                    tee.hand_off().await;
                }
                Some((Ok(piece), tee))
            }
            Some(Err(e)) => {
                tee.done = None; // the body failed: no hash
                Some((Err(e), tee))
            }
            None => {
                tee.finish().await;
                None
            }
        }
    });
    (Box::pin(stream), hashed)
}

struct Tee<'a> {
    body: Body<'a>,
    /// The hash when no thread works on it.
    idle: Option<ContentHash>,
    /// The thread hashing the previous batch; it gives the hash back.
    busy: Option<JoinHandle<ContentHash>>,
    batch: Vec<Bytes>,
    batch_len: usize,
    /// Where the final hash goes; `None` once the body failed.
    done: Option<oneshot::Sender<ContentHash>>,
}

impl Tee<'_> {
    /// The hash, once the previous batch is in it; `None` if its thread panicked.
    async fn take_hash(&mut self) -> Option<ContentHash> {
        match self.busy.take() {
            Some(thread) => thread.await.ok(),
            None => self.idle.take(),
        }
    }

    async fn hand_off(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        self.batch_len = 0;
        let Some(mut hash) = self.take_hash().await else {
            return; // lost: nothing more to hash into
        };
        self.busy = Some(tokio::task::spawn_blocking(move || {
            for piece in &batch {
                hash.update(piece);
            }
            hash
        }));
    }

    /// Hashes what is left (under one batch, here on the async side) and delivers the hash.
    async fn finish(&mut self) {
        let Some(mut hash) = self.take_hash().await else {
            return;
        };
        for piece in self.batch.drain(..) {
            hash.update(&piece);
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(hash); // the caller may have stopped waiting
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoll_oci::Algorithm;

    fn body(pieces: Vec<std::result::Result<Bytes, String>>) -> Body<'static> {
        Box::pin(futures_util::stream::iter(pieces))
    }

    fn expected(bytes: &[u8]) -> (zoll_oci::Digest, String) {
        let mut h = ContentHash::new(Algorithm::Sha256);
        h.update(bytes);
        let (d, t) = h.finish();
        (d, t.to_text())
    }

    #[tokio::test]
    async fn the_body_passes_unchanged_and_its_hash_arrives_at_the_end() {
        // Pieces of odd sizes across several batches and chunk-table boundaries.
        let mut all = Vec::new();
        let mut pieces = Vec::new();
        for i in 0..40u32 {
            let piece: Vec<u8> = (0..(70_001 + i * 9_973))
                .map(|j| (j.wrapping_mul(31) ^ i) as u8)
                .collect();
            all.extend_from_slice(&piece);
            pieces.push(Ok(Bytes::from(piece)));
        }
        let (out, hashed) = hash_ahead(body(pieces), ContentHash::new(Algorithm::Sha256));
        let passed: Vec<Bytes> = out.map(|p| p.unwrap()).collect().await;
        assert_eq!(passed.concat(), all);
        let (digest, table) = hashed.await.expect("hash delivered").finish();
        assert_eq!((digest, table.to_text()), expected(&all));
    }

    #[tokio::test]
    async fn a_failed_or_abandoned_body_delivers_no_hash() {
        let big = Bytes::from(vec![7u8; 3 << 20]);
        let (out, hashed) = hash_ahead(
            body(vec![Ok(big.clone()), Err("client went away".into())]),
            ContentHash::new(Algorithm::Sha256),
        );
        let results: Vec<_> = out.collect().await;
        assert!(results[1].is_err());
        assert!(hashed.await.is_err(), "a failed body must not yield a hash");

        let (mut out, hashed) = hash_ahead(
            body(vec![Ok(big.clone()), Ok(big)]),
            ContentHash::new(Algorithm::Sha256),
        );
        out.next().await.unwrap().unwrap();
        drop(out); // the backend stopped reading (e.g. over its limit)
        assert!(
            hashed.await.is_err(),
            "an unfinished body must not yield a hash"
        );
    }
}
