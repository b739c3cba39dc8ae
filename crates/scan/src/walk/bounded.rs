//! Byte counting and the size / ratio bounds of one layer's decompressed stream.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use crate::limits::Limits;

/// Why a bounded stream stopped; carried inside an `io::Error` through the tar reader.
#[derive(Debug)]
pub enum LimitHit {
    Bytes(u64),
    Ratio(u64),
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitHit::Bytes(n) => write!(f, "decompressed size passed {n} bytes"),
            LimitHit::Ratio(r) => write!(f, "decompression ratio above {r}:1"),
        }
    }
}

impl std::error::Error for LimitHit {}

/// Counts the compressed bytes read.
pub struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R> Counted<R> {
    pub fn new(inner: R) -> Self {
        Counted {
            inner,
            count: Rc::new(Cell::new(0)),
        }
    }

    pub fn counter(&self) -> Rc<Cell<u64>> {
        self.count.clone()
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Fails the decompressed stream once it passes the size limit, or the ratio limit against the
/// compressed bytes read so far (past a floor, so that small, very compressible layers pass).
pub struct Bounded<R> {
    inner: R,
    compressed: Rc<Cell<u64>>,
    total: u64,
    max_bytes: u64,
    max_ratio: u64,
    ratio_floor: u64,
}

impl<R> Bounded<R> {
    pub fn new(inner: R, compressed: Rc<Cell<u64>>, limits: &Limits) -> Self {
        Bounded {
            inner,
            compressed,
            total: 0,
            max_bytes: limits.max_layer_bytes,
            max_ratio: limits.max_ratio,
            ratio_floor: limits.ratio_floor,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        if self.total > self.max_bytes {
            return Err(io::Error::other(LimitHit::Bytes(self.max_bytes)));
        }
        if self.total > self.ratio_floor
            && self.total > self.compressed.get().max(1).saturating_mul(self.max_ratio)
        {
            return Err(io::Error::other(LimitHit::Ratio(self.max_ratio)));
        }
        Ok(n)
    }
}
