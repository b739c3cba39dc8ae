//! How long work tells about itself: a [`Progress`] is told how many bytes there are to move
//! and how many have moved. Libraries take one (the store's backup and restore, image
//! encryption); the command line draws it as a progress bar, everything else passes
//! [`Silent`].

use std::io::Read;

/// Told about bytes of work as they become known and as they are done.
pub trait Progress: Send + Sync {
    /// `bytes` more are to be moved (the total may grow as work is discovered).
    fn grow(&self, bytes: u64);
    /// `bytes` more were moved.
    fn advance(&self, bytes: u64);
}

/// Tells nobody.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn grow(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// A reader that reports every byte it reads to a [`Progress`].
pub struct Counted<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<'a, R: Read> Counted<'a, R> {
    pub fn new(inner: R, progress: &'a dyn Progress) -> Self {
        Counted { inner, progress }
    }
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[derive(Default)]
    struct Tally(AtomicU64, AtomicU64);

    impl Progress for Tally {
        fn grow(&self, bytes: u64) {
            self.0.fetch_add(bytes, Ordering::SeqCst);
        }
        fn advance(&self, bytes: u64) {
            self.1.fetch_add(bytes, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_counted_reader_reports_what_it_read() {
        let t = Tally::default();
        t.grow(11);
        let mut out = Vec::new();
        Counted::new(&b"hello world"[..], &t)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(t.1.load(Ordering::SeqCst), 11);
    }
}
