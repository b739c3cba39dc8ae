//! Just enough ELF to find a named section in a spooled file, with every offset checked.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

/// A section's place in the file.
pub struct Section {
    pub offset: u64,
    pub size: u64,
}

const MAX_SECTIONS: u64 = 65_535;
const MAX_SHSTRTAB: u64 = 1 << 20;

/// Whether the file is ELF with a readable section header table (so a missing section is really
/// missing, not hidden by a stripped table).
pub fn has_section_table(file: &mut File) -> bool {
    find_section(file, "").is_some() || find_section(file, ".shstrtab").is_some()
}

/// Finds section `name`; `None` for non-ELF files, files without section headers and malformed
/// headers.
pub fn find_section(file: &mut File, name: &str) -> Option<Section> {
    let len = file.metadata().ok()?.len();
    let mut ident = [0u8; 64];
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_exact(&mut ident).ok()?;
    if &ident[0..4] != b"\x7fELF" {
        return None;
    }
    let is64 = match ident[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let le = match ident[5] {
        1 => true,
        2 => false,
        _ => return None,
    };
    let u16_at = |b: &[u8], o: usize| -> u64 {
        let v = [b[o], b[o + 1]];
        u64::from(if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        })
    };
    let u32_at = |b: &[u8], o: usize| -> u64 {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        u64::from(if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        })
    };
    let u64_at = |b: &[u8], o: usize| -> u64 {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[o..o + 8]);
        if le {
            u64::from_le_bytes(v)
        } else {
            u64::from_be_bytes(v)
        }
    };
    let (shoff, shentsize, shnum, shstrndx) = if is64 {
        (
            u64_at(&ident, 0x28),
            u16_at(&ident, 0x3a),
            u16_at(&ident, 0x3c),
            u16_at(&ident, 0x3e),
        )
    } else {
        (
            u32_at(&ident, 0x20),
            u16_at(&ident, 0x2e),
            u16_at(&ident, 0x30),
            u16_at(&ident, 0x32),
        )
    };
    let min_entsize = if is64 { 64 } else { 40 };
    if shoff == 0
        || shnum == 0
        || shnum > MAX_SECTIONS
        || shentsize < min_entsize
        || shstrndx >= shnum
    {
        return None;
    }
    let table_len = shentsize.checked_mul(shnum)?;
    if shoff.checked_add(table_len)? > len {
        return None;
    }
    let mut table = vec![0u8; table_len as usize];
    file.seek(SeekFrom::Start(shoff)).ok()?;
    file.read_exact(&mut table).ok()?;
    let entry = |i: u64| -> (u64, u64, u64) {
        let e = &table[(i * shentsize) as usize..];
        if is64 {
            (u32_at(e, 0), u64_at(e, 0x18), u64_at(e, 0x20))
        } else {
            (u32_at(e, 0), u32_at(e, 0x10), u32_at(e, 0x14))
        }
    };
    let (_, str_off, str_size) = entry(shstrndx);
    if str_size > MAX_SHSTRTAB || str_off.checked_add(str_size)? > len {
        return None;
    }
    let mut names = vec![0u8; str_size as usize];
    file.seek(SeekFrom::Start(str_off)).ok()?;
    file.read_exact(&mut names).ok()?;
    for i in 0..shnum {
        let (name_off, offset, size) = entry(i);
        let Some(rest) = names.get(name_off as usize..) else {
            continue;
        };
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        if &rest[..end] == name.as_bytes() {
            if offset.checked_add(size)? > len {
                return None;
            }
            return Some(Section { offset, size });
        }
    }
    None
}

/// Reads `len` bytes at `offset`.
pub fn read_at(file: &mut File, offset: u64, len: u64) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    file.seek(SeekFrom::Start(offset)).ok()?;
    file.read_exact(&mut buf).ok()?;
    Some(buf)
}
