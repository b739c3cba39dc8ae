//! Lowercase hex, the form digests, ids and stored keys take everywhere in zoll.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push(&mut out, bytes);
    out
}

/// Appends `bytes` as lowercase hex, for callers building a longer string (`sha256:<hex>`)
/// in one allocation. Inlined because digests are hashed on the push path.
#[inline]
pub fn push(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

/// Hex of either case to bytes; `None` for an odd length or any character outside
/// `[0-9a-fA-F]`. Written by hand rather than with `u8::from_str_radix`, which also takes a
/// leading `+` (`"+f"` would decode to 0x0f).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        let text = encode(&all);
        assert_eq!(text.len(), 512);
        assert!(text.starts_with("000102"));
        assert!(text.ends_with("fdfeff"));
        assert_eq!(decode(&text).unwrap(), all);
        assert_eq!(decode(&text.to_uppercase()).unwrap(), all);
        assert_eq!(encode(&[]), "");
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
        let mut s = String::from("sha256:");
        push(&mut s, &[0xab, 0x01]);
        assert_eq!(s, "sha256:ab01");
    }

    #[test]
    fn rejects() {
        for bad in [
            "+f", "+f00", "0", "abc", "0g", "g0", " 0", "0 ", "-1", "0x", "é0", "é", "00\n",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
