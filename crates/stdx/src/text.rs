//! Text that reaches a person's terminal or an approver's eyes: what may not be in it, and
//! how to show what a server sent without letting it steer the terminal.

/// Characters that change how text looks rather than what it says: every Unicode control
/// character (C0, DEL, C1; ESC starts terminal sequences, NEL and CR move lines), the line
/// and paragraph separators, and the bidirectional overrides and isolates that reorder
/// what is shown (Trojan Source).
pub fn is_presentation_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Whether `s` holds none of [`is_presentation_control`]'s characters.
pub fn is_plain(s: &str) -> bool {
    !s.chars().any(is_presentation_control)
}

/// `s` with each presentation-control character written as a visible escape (`\u{1b}`),
/// so that text from a server prints as what it is.
pub fn shown(s: &str) -> String {
    if is_plain(s) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if is_presentation_control(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_seen_and_escaped() {
        assert!(is_plain("stage=release, tag v1.0 ü"));
        for bad in [
            "a\nb",
            "x\u{1b}[4A",
            "\u{85}",
            "\u{7f}",
            "\u{2028}",
            "\u{202E}abc",
            "\u{2067}",
        ] {
            assert!(!is_plain(bad), "{bad:?}");
        }
        assert_eq!(shown("ok"), "ok");
        assert_eq!(shown("x\u{1b}[2K"), "x\\u{1b}[2K");
        assert_eq!(shown("a\nb"), "a\\u{a}b");
    }
}
