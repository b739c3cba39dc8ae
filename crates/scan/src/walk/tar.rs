//! A streaming tar reader with bounds on every header-driven allocation.
//!
//! Our own rather than the `tar` crate because that one reads GNU long names and PAX headers
//! whole into memory whatever size they claim; here each is capped before a byte is buffered.
//! Understands ustar, GNU (long names `L`/`K`, base-256 sizes) and PAX (`x` per entry, `g`
//! global, ignored). Sparse entries are surfaced as [`EntryKind::Other`] and their data skipped.

use std::io::{self, Read};

const BLOCK: usize = 512;
/// Bytes of a PAX extended header or a GNU long name we accept.
const MAX_EXTENSION: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    HardLink,
    Symlink,
    Dir,
    /// Devices, FIFOs, sparse files and unknown types: recorded, never read.
    Other,
}

#[derive(Debug, Clone)]
pub struct Header {
    pub path: String,
    pub link: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// For `dir:` targets: the file on the host, read in place instead of spooled.
    pub host: Option<std::path::PathBuf>,
}

/// Why a tar stream cannot be read further.
#[derive(Debug)]
pub enum TarError {
    Io(io::Error),
    Malformed(String),
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        TarError::Io(e)
    }
}

pub struct TarReader<R> {
    inner: R,
    /// Data bytes of the current entry not yet read by the caller.
    remaining: u64,
    /// Padding after the current entry's data.
    padding: u64,
    done: bool,
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            remaining: 0,
            padding: 0,
            done: false,
        }
    }

    /// The next entry's header; its data is then read with [`TarReader::data`] (unread data is
    /// skipped by the next call). `None` at the end-of-archive marker or a clean EOF.
    pub fn next_header(&mut self) -> Result<Option<Header>, TarError> {
        self.skip_rest()?;
        let mut long_path: Option<String> = None;
        let mut long_link: Option<String> = None;
        let mut pax_path: Option<String> = None;
        let mut pax_link: Option<String> = None;
        let mut pax_size: Option<u64> = None;
        let mut pax_uid: Option<u64> = None;
        let mut pax_gid: Option<u64> = None;
        loop {
            if self.done {
                return Ok(None);
            }
            let mut block = [0u8; BLOCK];
            if !read_block(&mut self.inner, &mut block)? {
                self.done = true;
                return Ok(None);
            }
            if block.iter().all(|&b| b == 0) {
                self.done = true;
                return Ok(None);
            }
            verify_checksum(&block)?;
            let size = parse_number(&block[124..136])?;
            let typeflag = block[156];
            match typeflag {
                b'L' | b'K' | b'x' | b'g' => {
                    if size > MAX_EXTENSION {
                        return Err(TarError::Malformed(format!(
                            "extension header of {size} bytes (limit {MAX_EXTENSION})"
                        )));
                    }
                    let data = self.read_extension(size)?;
                    match typeflag {
                        b'L' => long_path = Some(c_string(&data)),
                        b'K' => long_link = Some(c_string(&data)),
                        b'x' => {
                            for (key, value) in parse_pax(&data)? {
                                match key.as_str() {
                                    "path" => pax_path = Some(value),
                                    "linkpath" => pax_link = Some(value),
                                    "size" => pax_size = value.parse().ok(),
                                    "uid" => pax_uid = value.parse().ok(),
                                    "gid" => pax_gid = value.parse().ok(),
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                    continue;
                }
                _ => {}
            }
            let ustar = &block[257..263] == b"ustar\0";
            let mut path = c_string(&block[0..100]);
            if ustar && block[345] != 0 {
                path = format!("{}/{}", c_string(&block[345..500]), path);
            }
            let path = pax_path.or(long_path).unwrap_or(path);
            let link = pax_link
                .or(long_link)
                .unwrap_or_else(|| c_string(&block[157..257]));
            let size = pax_size.unwrap_or(size);
            let kind = match typeflag {
                b'0' | 0 | b'7' => EntryKind::File,
                b'1' => EntryKind::HardLink,
                b'2' => EntryKind::Symlink,
                b'5' => EntryKind::Dir,
                _ => EntryKind::Other,
            };
            // Links, directories and devices carry no data whatever their size field says,
            // except in archives that are broken anyway; trust the field for skipping.
            self.remaining = size;
            self.padding = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
            return Ok(Some(Header {
                path,
                link,
                kind,
                mode: parse_number(&block[100..108]).unwrap_or(0) as u32,
                uid: pax_uid.unwrap_or_else(|| parse_number(&block[108..116]).unwrap_or(0)),
                gid: pax_gid.unwrap_or_else(|| parse_number(&block[116..124]).unwrap_or(0)),
                size,
                host: None,
            }));
        }
    }

    /// The current entry's data.
    pub fn data(&mut self) -> EntryData<'_, R> {
        EntryData { tar: self }
    }

    fn read_extension(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        let mut data = vec![0u8; size as usize];
        self.inner.read_exact(&mut data).map_err(truncated)?;
        let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        skip(&mut self.inner, pad)?;
        Ok(data)
    }

    fn skip_rest(&mut self) -> Result<(), TarError> {
        let n = self.remaining + self.padding;
        self.remaining = 0;
        self.padding = 0;
        skip(&mut self.inner, n)
    }
}

pub struct EntryData<'a, R> {
    tar: &'a mut TarReader<R>,
}

impl<R: Read> Read for EntryData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tar.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.tar.remaining.min(usize::MAX as u64) as usize);
        let n = self.tar.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tar entry data truncated",
            ));
        }
        self.tar.remaining -= n as u64;
        Ok(n)
    }
}

fn truncated(e: io::Error) -> TarError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        TarError::Malformed("archive ends inside an entry".into())
    } else {
        TarError::Io(e)
    }
}

fn read_block<R: Read>(r: &mut R, block: &mut [u8; BLOCK]) -> Result<bool, TarError> {
    let mut filled = 0;
    while filled < BLOCK {
        match r.read(&mut block[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(TarError::Malformed("archive ends inside a header".into())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

fn skip<R: Read>(r: &mut R, n: u64) -> Result<(), TarError> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied < n {
        return Err(TarError::Malformed("archive ends inside an entry".into()));
    }
    Ok(())
}

fn verify_checksum(block: &[u8; BLOCK]) -> Result<(), TarError> {
    let stored = parse_number(&block[148..156])?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || stored as i64 == signed {
        Ok(())
    } else {
        Err(TarError::Malformed("header checksum mismatch".into()))
    }
}

/// Octal (NUL/space padded) or GNU base-256 (high bit of the first byte set).
fn parse_number(field: &[u8]) -> Result<u64, TarError> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        if field[0] & 0x40 != 0 {
            return Err(TarError::Malformed("negative base-256 number".into()));
        }
        let mut n: u64 = u64::from(field[0] & 0x3f);
        for &b in &field[1..] {
            n = n
                .checked_mul(256)
                .and_then(|n| n.checked_add(u64::from(b)))
                .ok_or_else(|| TarError::Malformed("base-256 number overflows".into()))?;
        }
        return Ok(n);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| *b != 0 && *b != b' ')
        .collect();
    if text.is_empty() {
        return Ok(0);
    }
    let s =
        std::str::from_utf8(&text).map_err(|_| TarError::Malformed("non-ASCII number".into()))?;
    u64::from_str_radix(s, 8).map_err(|_| TarError::Malformed(format!("bad octal number {s:?}")))
}

fn c_string(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// PAX records: `"<len> <key>=<value>\n"`, `len` counting the whole record.
fn parse_pax(data: &[u8]) -> Result<Vec<(String, String)>, TarError> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() && rest[0] != 0 {
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| TarError::Malformed("PAX record without length".into()))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&l| l > space + 1 && l <= rest.len())
            .ok_or_else(|| TarError::Malformed("bad PAX record length".into()))?;
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((
                String::from_utf8_lossy(&record[..eq]).into_owned(),
                String::from_utf8_lossy(&record[eq + 1..]).into_owned(),
            ));
        }
        rest = &rest[len..];
    }
    Ok(out)
}

impl<R: Read> TarReader<R> {
    /// The underlying stream, positioned after the last header read.
    pub fn into_inner(self) -> R {
        self.inner
    }
}
