//! Builds tar layers byte by byte, including the malformed and hostile ones no tar tool writes.

use std::io::Write;

pub enum Member<'a> {
    File(&'a str, &'a [u8]),
    FileMode(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    /// A file of `n` zero bytes, streamed (never held in memory).
    Zeros(&'a str, u64),
    /// A header that claims `size` bytes but is followed by `actual` bytes only.
    Claims(&'a str, u64, usize),
}

pub fn header(name: &str, link: &str, typeflag: u8, size: u64, mode: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let (name_field, long) = if name.len() > 100 {
        (&name[..100], true)
    } else {
        (name, false)
    };
    if long || link.len() > 100 {
        // GNU long names for what does not fit.
        if long {
            out.extend(raw_header(
                "././@LongLink",
                "",
                b'L',
                name.len() as u64 + 1,
                0o644,
            ));
            out.extend(pad(&[name.as_bytes(), b"\0"].concat()));
        }
        if link.len() > 100 {
            out.extend(raw_header(
                "././@LongLink",
                "",
                b'K',
                link.len() as u64 + 1,
                0o644,
            ));
            out.extend(pad(&[link.as_bytes(), b"\0"].concat()));
        }
    }
    let link_field = if link.len() > 100 { &link[..100] } else { link };
    out.extend(raw_header(name_field, link_field, typeflag, size, mode));
    out
}

fn raw_header(name: &str, link: &str, typeflag: u8, size: u64, mode: u32) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    put_octal(&mut h[100..108], u64::from(mode));
    put_octal(&mut h[108..116], 0);
    put_octal(&mut h[116..124], 0);
    if size >= 0o77777777777 {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    } else {
        put_octal(&mut h[124..136], size);
    }
    put_octal(&mut h[136..148], 0);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

fn put_octal(field: &mut [u8], v: u64) {
    let s = format!("{:0width$o}\0", v, width = field.len() - 1);
    field.copy_from_slice(s.as_bytes());
}

fn pad(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    v.resize(data.len().div_ceil(512) * 512, 0);
    v
}

/// Writes the members as one tar stream into `out`.
pub fn write_tar<W: Write>(out: &mut W, members: &[Member]) -> std::io::Result<()> {
    for m in members {
        match m {
            Member::File(n, d) => {
                out.write_all(&header(n, "", b'0', d.len() as u64, 0o644))?;
                out.write_all(&pad(d))?;
            }
            Member::FileMode(n, d, mode) => {
                out.write_all(&header(n, "", b'0', d.len() as u64, *mode))?;
                out.write_all(&pad(d))?;
            }
            Member::Dir(n) => out.write_all(&header(n, "", b'5', 0, 0o755))?,
            Member::Symlink(n, l) => out.write_all(&header(n, l, b'2', 0, 0o777))?,
            Member::HardLink(n, l) => out.write_all(&header(n, l, b'1', 0, 0o644))?,
            Member::Zeros(n, size) => {
                out.write_all(&header(n, "", b'0', *size, 0o644))?;
                let chunk = vec![0u8; 1 << 16];
                let mut left = size.div_ceil(512) * 512;
                while left > 0 {
                    let k = left.min(chunk.len() as u64) as usize;
                    out.write_all(&chunk[..k])?;
                    left -= k as u64;
                }
            }
            Member::Claims(n, size, actual) => {
                out.write_all(&header(n, "", b'0', *size, 0o644))?;
                out.write_all(&vec![0x41u8; *actual])?;
                return Ok(()); // nothing may follow a lie about the size
            }
        }
    }
    out.write_all(&[0u8; 1024])
}

pub fn tar(members: &[Member]) -> Vec<u8> {
    let mut v = Vec::new();
    write_tar(&mut v, members).expect("in-memory write");
    v
}

pub fn gzip(members: &[Member]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    write_tar(&mut enc, members).expect("in-memory write");
    enc.finish().expect("in-memory gzip")
}
