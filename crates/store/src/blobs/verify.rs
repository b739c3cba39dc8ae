//! A read stream that re-hashes a whole blob while it is sent and withholds the final chunk
//! until the digest matched, so corrupted bytes never complete as a valid response.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use zoll_oci::{Digest, Hasher};

use super::ByteStream;

pub struct VerifiedStream {
    inner: ByteStream,
    hasher: Option<Hasher>,
    expected: Digest,
    expected_len: u64,
    seen: u64,
    held: Option<Bytes>,
}

impl VerifiedStream {
    pub fn new(inner: ByteStream, expected: Digest, expected_len: u64) -> Self {
        VerifiedStream {
            inner,
            hasher: Some(Hasher::new(expected.algorithm())),
            expected,
            expected_len,
            seen: 0,
            held: None,
        }
    }
}

impl Stream for VerifiedStream {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            let Some(hasher) = this.hasher.as_mut() else {
                return Poll::Ready(None);
            };
            match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    this.hasher = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    hasher.update(&chunk);
                    this.seen += chunk.len() as u64;
                    if let Some(prev) = this.held.replace(chunk) {
                        return Poll::Ready(Some(Ok(prev)));
                    }
                }
                Poll::Ready(None) => {
                    let actual = this.hasher.take().expect("checked above").finish();
                    if actual != this.expected || this.seen != this.expected_len {
                        tracing::error!(digest = %this.expected, %actual, bytes = this.seen,
                            "stored blob failed verification while being served");
                        return Poll::Ready(Some(Err(std::io::Error::other(format!(
                            "stored blob {} failed verification",
                            this.expected
                        )))));
                    }
                    return Poll::Ready(this.held.take().map(Ok));
                }
            }
        }
    }
}
