//! DER reading and writing with single-byte tags and definite, minimal lengths: what keys,
//! certificates, CMS EnvelopedData and ECDSA signatures need. The reader never recurses (a
//! nested element is read by a new `Reader` over its content) and every length is checked
//! against the bytes at hand before anything is sliced or allocated, so hostile input can
//! neither exhaust the stack nor ask for memory it does not bring.

use crate::error::{Result, malformed};

pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// Context-specific tag `[n]`, constructed or primitive.
pub const fn context(n: u8, constructed: bool) -> u8 {
    0x80 | if constructed { 0x20 } else { 0 } | n
}

/// Object identifiers, as the content octets of their DER encoding.
pub mod oid {
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    pub const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    pub const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
    pub const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    pub const ENVELOPED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
    pub const AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
    pub const AES192_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16];
    pub const AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
    pub const AES128_GCM: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x06];
    pub const AES256_GCM: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2e];
    pub const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
    pub const PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
    pub const HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
    pub const HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
    pub const HMAC_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0a];
    pub const HMAC_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0b];
}

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    /// The whole encoding, tag and length included.
    pub raw: &'a [u8],
}

/// Reads consecutive elements from a byte slice. `what` names the structure in errors.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { rest: bytes, what }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    pub fn read(&mut self) -> Result<Tlv<'a>> {
        let bytes = self.rest;
        let bad = |reason: &str| malformed(self.what, reason);
        let (&tag, after_tag) = bytes
            .split_first()
            .ok_or_else(|| bad("unexpected end of DER"))?;
        if tag & 0x1f == 0x1f {
            return Err(bad("multi-byte DER tags are not supported"));
        }
        let (&first, mut after_len) = after_tag
            .split_first()
            .ok_or_else(|| bad("DER length missing"))?;
        let len = if first < 0x80 {
            first as usize
        } else if first == 0x80 {
            return Err(bad("BER indefinite length is not DER"));
        } else {
            // Four length octets reach 4 GiB, far past anything read here; DER wants the
            // shortest form, so a leading zero octet or a long form under 128 is refused.
            let n = (first & 0x7f) as usize;
            if n > 4 || after_len.len() < n {
                return Err(bad("bad DER length"));
            }
            if after_len[0] == 0 {
                return Err(bad("non-minimal DER length"));
            }
            let len = after_len[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | b as usize);
            if len < 0x80 {
                return Err(bad("non-minimal DER length"));
            }
            after_len = &after_len[n..];
            len
        };
        if after_len.len() < len {
            return Err(bad("DER element longer than its input"));
        }
        let header = bytes.len() - after_len.len();
        let tlv = Tlv {
            tag,
            content: &after_len[..len],
            raw: &bytes[..header + len],
        };
        self.rest = &after_len[len..];
        Ok(tlv)
    }

    /// Reads an element that must have `tag`, returning its content.
    pub fn expect(&mut self, tag: u8) -> Result<&'a [u8]> {
        let tlv = self.read()?;
        if tlv.tag != tag {
            return Err(malformed(
                self.what,
                format!("expected DER tag 0x{tag:02x}, found 0x{:02x}", tlv.tag),
            ));
        }
        Ok(tlv.content)
    }

    /// Reads an element with `tag` if it is next.
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>> {
        if self.peek_tag() == Some(tag) {
            self.expect(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A reader over the content of the next element, which must have `tag`.
    pub fn nested(&mut self, tag: u8) -> Result<Reader<'a>> {
        let what = self.what;
        self.expect(tag).map(|c| Reader::new(c, what))
    }

    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(malformed(self.what, "trailing bytes after DER element"))
        }
    }
}

/// Reads exactly one element with `tag` that fills all of `bytes`.
pub fn single<'a>(bytes: &'a [u8], tag: u8, what: &'static str) -> Result<Reader<'a>> {
    let mut r = Reader::new(bytes, what);
    let inner = r.nested(tag)?;
    r.finish()?;
    Ok(inner)
}

/// Parses an AlgorithmIdentifier: (OID content, parameters element if any).
pub fn algorithm_identifier<'a>(r: &mut Reader<'a>) -> Result<(&'a [u8], Option<Tlv<'a>>)> {
    let mut alg = r.nested(SEQUENCE)?;
    let oid = alg.expect(OID)?;
    let params = if alg.is_empty() {
        None
    } else {
        Some(alg.read()?)
    };
    Ok((oid, params))
}

/// Encodes one element.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Encodes a constructed element from already-encoded parts.
pub fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    constructed(SEQUENCE, parts)
}

/// A DER INTEGER from unsigned big-endian bytes: leading zeros dropped, one zero put back
/// where the high bit would make it negative. The empty input is zero.
pub fn uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed = unsigned(bytes);
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(INTEGER, &content)
}

/// A small non-negative INTEGER.
pub fn small_integer(value: u8) -> Vec<u8> {
    uint(&[value])
}

/// A BIT STRING with no unused bits.
pub fn bit_string(bytes: &[u8]) -> Vec<u8> {
    tlv(BIT_STRING, &[&[0u8][..], bytes].concat())
}

/// An AlgorithmIdentifier with optional encoded parameters.
pub fn algorithm(oid_content: &[u8], params: Option<&[u8]>) -> Vec<u8> {
    let oid = tlv(OID, oid_content);
    match params {
        Some(p) => sequence(&[&oid, p]),
        None => sequence(&[&oid]),
    }
}

/// Big-endian unsigned integer content without the zeros DER adds in front (one byte kept,
/// so zero stays `[0]`).
pub fn unsigned(content: &[u8]) -> &[u8] {
    let skip = content
        .iter()
        .take_while(|&&b| b == 0)
        .count()
        .min(content.len().saturating_sub(1));
    &content[skip..]
}

/// The content of a BIT STRING whose bits fill whole octets (keys and signatures always do).
pub fn octet_aligned_bits<'a>(content: &'a [u8], what: &'static str) -> Result<&'a [u8]> {
    match content.split_first() {
        Some((0, bits)) => Ok(bits),
        Some(_) => Err(malformed(what, "BIT STRING with unused bits")),
        None => Err(malformed(what, "empty BIT STRING")),
    }
}
