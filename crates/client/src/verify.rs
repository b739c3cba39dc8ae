//! Collecting a (verified) blob stream into memory, for small documents only.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::ByteStream;
use crate::error::Result;

/// Reads `stream` whole; the caller has already bounded `size`, and the stream itself fails
/// on more bytes than the descriptor announced.
pub(crate) async fn collect(mut stream: ByteStream, size: u64) -> Result<Bytes> {
    let mut out = BytesMut::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out.freeze())
}
