//! The RPM header structure stored as a blob per package in rpmdb.sqlite: a count of index
//! entries, the size of the data store, 16-byte entries (tag, type, offset, count), then data.

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

pub struct RpmHeader<'a> {
    entries: Vec<(u32, u32, usize, u32)>,
    data: &'a [u8],
}

impl<'a> RpmHeader<'a> {
    pub fn parse(blob: &'a [u8]) -> Result<Self, &'static str> {
        // Blobs from the database have no 8-byte magic; headers from .rpm files do.
        let blob = if blob.starts_with(&[0x8e, 0xad, 0xe8, 0x01]) {
            &blob[8..]
        } else {
            blob
        };
        if blob.len() < 8 {
            return Err("short header");
        }
        let count = be32(&blob[0..4]) as usize;
        let size = be32(&blob[4..8]) as usize;
        let index_end = count
            .checked_mul(16)
            .and_then(|n| n.checked_add(8))
            .ok_or("overflow")?;
        let data_end = index_end.checked_add(size).ok_or("overflow")?;
        if data_end > blob.len() || count > 100_000 {
            return Err("header sizes exceed the blob");
        }
        let data = &blob[index_end..data_end];
        let entries = (0..count)
            .map(|i| {
                let e = &blob[8 + i * 16..8 + i * 16 + 16];
                (
                    be32(&e[0..4]),
                    be32(&e[4..8]),
                    be32(&e[8..12]) as usize,
                    be32(&e[12..16]),
                )
            })
            .collect();
        Ok(RpmHeader { entries, data })
    }

    fn entry(&self, tag: u32) -> Option<(u32, usize, u32)> {
        self.entries
            .iter()
            .find(|e| e.0 == tag)
            .map(|e| (e.1, e.2, e.3))
    }

    pub fn string(&self, tag: u32) -> Option<String> {
        let (ty, off, _) = self.entry(tag)?;
        if !matches!(ty, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return None;
        }
        let rest = self.data.get(off..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        Some(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    pub fn int(&self, tag: u32) -> Option<u32> {
        let (ty, off, count) = self.entry(tag)?;
        if ty != TYPE_INT32 || count == 0 {
            return None;
        }
        self.data.get(off..off + 4).map(be32)
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
