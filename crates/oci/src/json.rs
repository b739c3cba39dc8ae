//! A cheap look at JSON nesting before parsing: serde_json bounds the recursion of what it
//! builds, but skips unknown fields of any depth, so a 2,000,000-level document was stored
//! as a manifest that no client could read back. [`too_deep`] scans bytes once, with no
//! allocation, and says whether arrays and objects nest deeper than a bound.

/// Nesting of arrays and objects that no manifest needs: the ceiling of every parse (a
/// registry may configure less).
pub const MAX_DEPTH: usize = 128;

/// Whether `json` nests arrays and objects deeper than `max` (strings are skipped, so
/// brackets inside them do not count). Malformed input is left to the parser.
pub fn too_deep(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_outside_strings() {
        let check = |json: &str, max: usize, expect: bool| {
            assert_eq!(too_deep(json.as_bytes(), max), expect, "{json} at {max}")
        };
        check("{}", 1, false);
        check("{}", 0, true);
        check(r#"{"a":[1,{"b":[]}]}"#, 4, false);
        check(r#"{"a":[1,{"b":[]}]}"#, 3, true);
        check(r#"{"a":"[[[[[[[[[["}"#, 1, false);
        check(r#"{"a":"\"[[[[[[[[[["}"#, 1, false);
        check(r#"{"a":"\\","b":[[]]}"#, 2, true);
        check("[[]][[]][[]]", 2, false);
        check(r#"{"a":"[[[[[[[[[[[[","b":[1]}"#, 2, false);
        let deep = "[".repeat(2_000_000);
        assert!(too_deep(deep.as_bytes(), MAX_DEPTH));
    }
}
