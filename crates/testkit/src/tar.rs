//! Writes tar archives (ustar, with PAX records for long names) for test layers, including
//! the whiteouts and odd entries that image tooling must handle.

/// What one archive entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

impl TarEntry {
    pub fn file(path: &str, content: impl Into<Vec<u8>>) -> Self {
        Self::new(path, EntryKind::File(content.into()), 0o644)
    }

    pub fn dir(path: &str) -> Self {
        Self::new(path, EntryKind::Dir, 0o755)
    }

    pub fn symlink(path: &str, target: &str) -> Self {
        Self::new(path, EntryKind::Symlink(target.into()), 0o777)
    }

    pub fn hardlink(path: &str, target: &str) -> Self {
        Self::new(path, EntryKind::Hardlink(target.into()), 0o644)
    }

    /// `.wh.<name>` next to `path`: deletes `path` from lower layers.
    pub fn whiteout(path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let p = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        Self::file(&p, Vec::new())
    }

    /// `.wh..wh..opq` in `dir`: hides everything lower layers put there.
    pub fn opaque(dir: &str) -> Self {
        Self::file(
            &format!("{}/.wh..wh..opq", dir.trim_end_matches('/')),
            Vec::new(),
        )
    }

    pub fn new(path: &str, kind: EntryKind, mode: u32) -> Self {
        TarEntry {
            path: path.into(),
            kind,
            mode,
            uid: 0,
            gid: 0,
        }
    }

    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

fn octal(field: &mut [u8], value: u64) {
    let s = format!("{value:0width$o}", width = field.len() - 1);
    field[..s.len()].copy_from_slice(s.as_bytes());
}

fn header(name: &[u8], size: u64, typeflag: u8, link: &[u8], e: &TarEntry) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], u64::from(e.mode));
    octal(&mut h[108..116], e.uid);
    octal(&mut h[116..124], e.gid);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = typeflag;
    h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

/// One PAX record `"<len> key=value\n"`, where len counts the whole record.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

/// The archive of `entries`, in order, ended by two zero blocks.
pub fn tar(entries: &[TarEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let (typeflag, data, link): (u8, &[u8], &str) = match &e.kind {
            EntryKind::File(d) => (b'0', d, ""),
            EntryKind::Dir => (b'5', &[], ""),
            EntryKind::Symlink(t) => (b'2', &[], t),
            EntryKind::Hardlink(t) => (b'1', &[], t),
        };
        let mut name = e.path.clone();
        if matches!(e.kind, EntryKind::Dir) && !name.ends_with('/') {
            name.push('/');
        }
        if name.len() > 100 || link.len() > 100 {
            let mut pax = pax_record("path", &name);
            if !link.is_empty() {
                pax.push_str(&pax_record("linkpath", link));
            }
            out.extend_from_slice(&header(b"PaxHeader", pax.len() as u64, b'x', b"", e));
            out.extend_from_slice(pax.as_bytes());
            pad(&mut out);
        }
        out.extend_from_slice(&header(
            name.as_bytes(),
            data.len() as u64,
            typeflag,
            link.as_bytes(),
            e,
        ));
        out.extend_from_slice(data);
        pad(&mut out);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Wraps `data` in a gzip stream of stored (uncompressed) deflate blocks: valid gzip that
/// every reader accepts, written without a compression library. skopeo compresses layers it
/// sniffs as uncompressed when pushing, so byte-identical round trips need gzip layers.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = chunk.len() as u16;
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}
