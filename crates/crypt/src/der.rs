//! The little DER this crate needs: reading keys, certificates and CMS EnvelopedData, and
//! writing EnvelopedData and PKCS#8 wrappers. Single-byte tags only; definite lengths only
//! (BER indefinite lengths are refused with a clear error).

use crate::error::{malformed, Result};

pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;

/// Context-specific tag `[n]`, constructed or primitive.
pub const fn context(n: u8, constructed: bool) -> u8 {
    0x80 | if constructed { 0x20 } else { 0 } | n
}

/// Object identifiers, as the content octets of their DER encoding.
pub mod oid {
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
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
}

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    /// The whole encoding, tag and length included.
    pub raw: &'a [u8],
}

/// Reads consecutive elements from a byte slice.
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
        let (&tag, after_tag) = bytes
            .split_first()
            .ok_or_else(|| malformed(self.what, "unexpected end of DER"))?;
        if tag & 0x1f == 0x1f {
            return Err(malformed(
                self.what,
                "multi-byte DER tags are not supported",
            ));
        }
        let (&first, mut after_len) = after_tag
            .split_first()
            .ok_or_else(|| malformed(self.what, "DER length missing"))?;
        let len = if first < 0x80 {
            first as usize
        } else if first == 0x80 {
            return Err(malformed(self.what, "BER indefinite length is not DER"));
        } else {
            let n = (first & 0x7f) as usize;
            if n > 4 || after_len.len() < n {
                return Err(malformed(self.what, "bad DER length"));
            }
            let len = after_len[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | b as usize);
            after_len = &after_len[n..];
            len
        };
        if after_len.len() < len {
            return Err(malformed(self.what, "DER element longer than its input"));
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
}

/// Parses an AlgorithmIdentifier: (OID content, raw parameters element if any).
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
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// Encodes a constructed element from already-encoded parts.
pub fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// A small non-negative INTEGER.
pub fn small_integer(value: u8) -> Vec<u8> {
    if value < 0x80 {
        tlv(INTEGER, &[value])
    } else {
        tlv(INTEGER, &[0, value])
    }
}

pub fn algorithm(oid_content: &[u8], params: Option<&[u8]>) -> Vec<u8> {
    let oid = tlv(OID, oid_content);
    match params {
        Some(p) => constructed(SEQUENCE, &[&oid, p]),
        None => constructed(SEQUENCE, &[&oid]),
    }
}

/// Big-endian unsigned integer content without the sign padding DER adds.
pub fn unsigned(content: &[u8]) -> &[u8] {
    let skip = content
        .iter()
        .take_while(|&&b| b == 0)
        .count()
        .min(content.len().saturating_sub(1));
    &content[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let enc = tlv(OCTET_STRING, &content);
            let mut r = Reader::new(&enc, "test");
            let got = r.read().unwrap();
            assert_eq!(got.content.len(), len);
            assert_eq!(got.raw.len(), enc.len());
            assert!(r.is_empty());
        }
    }

    #[test]
    fn refuses_indefinite_and_overlong() {
        assert!(Reader::new(&[0x30, 0x80, 0, 0], "t").read().is_err());
        assert!(Reader::new(&[0x04, 0x05, 1], "t").read().is_err());
        assert!(Reader::new(&[0x04, 0x85, 1, 1, 1, 1, 1], "t")
            .read()
            .is_err());
    }
}
