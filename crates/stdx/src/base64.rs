//! The two base64 flavours the formats use, strict on input: standard with padding (JSON
//! fields of Notation, cosign, DSSE) and URL-safe without padding (JWS, RFC 7515 §2).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

pub fn encode_url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Padding or stray characters are refused.
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn strict_flavours() {
        assert_eq!(super::encode(b"\xfb\xff"), "+/8=");
        assert_eq!(super::encode_url(b"\xfb\xff"), "-_8");
        assert_eq!(super::decode_url("-_8").unwrap(), b"\xfb\xff");
        assert!(super::decode_url("-_8=").is_none());
        assert!(super::decode("+/8").is_none());
    }
}
