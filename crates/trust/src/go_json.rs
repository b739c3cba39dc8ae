//! JSON the way Go's `encoding/json` writes it (sorted map keys, HTML-safe escapes), which
//! Notation's reference implementation and cosign produce and their vectors pin down.

/// Serializes like Go's `json.Marshal`: compact, and `<`, `>`, `&`, U+2028, U+2029 escaped.
/// Those characters can only occur inside strings, so escaping after serde is exact.
pub fn marshal<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let text = serde_json::to_string(value).expect("JSON values serialize");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_html() {
        assert_eq!(
            super::marshal(&"a<b>&"),
            br#""a\u003cb\u003e\u0026""#.to_vec()
        );
    }
}
