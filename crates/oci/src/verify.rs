//! A byte stream checked against a descriptor while it flows: it fails as soon as more bytes
//! arrive than expected, and it withholds the final chunk until the digest matched, so wrong
//! bytes never complete as a valid transfer. Used for blobs the store serves and blobs a
//! client fetches.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use crate::digest::{Digest, Hasher};

/// Wraps `inner`, which must yield exactly `expected_len` bytes hashing to `expected`.
pub struct VerifiedStream<S> {
    inner: S,
    hasher: Option<Hasher>,
    expected: Digest,
    expected_len: u64,
    seen: u64,
    held: Option<Bytes>,
}

impl<S> VerifiedStream<S> {
    pub fn new(inner: S, expected: Digest, expected_len: u64) -> Self {
        VerifiedStream {
            inner,
            hasher: Some(Hasher::new(expected.algorithm())),
            expected,
            expected_len,
            seen: 0,
            held: None,
        }
    }

    fn fail(&mut self, why: String) -> Poll<Option<std::io::Result<Bytes>>> {
        self.hasher = None;
        self.held = None;
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("blob {} failed verification: {why}", self.expected),
        ))))
    }
}

impl<S> Stream for VerifiedStream<S>
where
    S: Stream<Item = std::io::Result<Bytes>> + Unpin,
{
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let Some(hasher) = this.hasher.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    this.hasher = None;
                    this.held = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    hasher.update(&chunk);
                    this.seen += chunk.len() as u64;
                    if this.seen > this.expected_len {
                        let why = format!("more than the expected {} bytes", this.expected_len);
                        return this.fail(why);
                    }
                    if let Some(prev) = this.held.replace(chunk) {
                        return Poll::Ready(Some(Ok(prev)));
                    }
                }
                Poll::Ready(None) => {
                    let actual = this.hasher.take().expect("checked above").finish();
                    if this.seen != this.expected_len {
                        let why = format!("{} of {} bytes", this.seen, this.expected_len);
                        return this.fail(why);
                    }
                    if actual != this.expected {
                        return this.fail(format!("the bytes hash to {actual}"));
                    }
                    return Poll::Ready(this.held.take().map(Ok));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]], expected: &[u8]) -> Result<Vec<u8>, String> {
        let items: Vec<std::io::Result<Bytes>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let inner = Iter(items.into_iter());
        let mut s = VerifiedStream::new(inner, Digest::sha256(expected), expected.len() as u64);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        loop {
            match Pin::new(&mut s).poll_next(&mut cx) {
                Poll::Ready(Some(Ok(b))) => out.extend_from_slice(&b),
                Poll::Ready(Some(Err(e))) => return Err(e.to_string()),
                Poll::Ready(None) => return Ok(out),
                Poll::Pending => unreachable!("the test stream is always ready"),
            }
        }
    }

    struct Iter(std::vec::IntoIter<std::io::Result<Bytes>>);
    impl Stream for Iter {
        type Item = std::io::Result<Bytes>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.next())
        }
    }

    #[test]
    fn verification_outcomes() {
        assert_eq!(run(&[b"ab", b"c"], b"abc"), Ok(b"abc".to_vec()));
        assert_eq!(run(&[], b""), Ok(Vec::new()));
        let flipped = run(&[b"ab", b"d"], b"abc").unwrap_err();
        assert!(flipped.contains("hash to"), "{flipped}");
        let short = run(&[b"ab"], b"abc").unwrap_err();
        assert!(short.contains("2 of 3 bytes"), "{short}");
        let long = run(&[b"ab", b"cd"], b"abc").unwrap_err();
        assert!(long.contains("more than the expected 3"), "{long}");
    }
}
