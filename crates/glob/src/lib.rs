//! zoll's one pattern dialect. Every place that matches names against patterns uses it:
//! trust policies (`repositories`, `registries`), admission exemptions (namespaces),
//! approval keys, robot permissions, immutable-tag rules and retention's `keep_tags`.
//!
//! - `*` matches any run of characters within one path segment (no `/`), the empty run
//!   included;
//! - `**` matches any run of characters, `/` included, the empty run included; it may stand
//!   anywhere, also inside a segment (`app**` matches `app`, `app-x` and `app/x/y`);
//! - `?` matches one character other than `/`;
//! - everything else is literal; there are no classes and no escapes (names cannot contain
//!   `*` or `?`);
//! - the whole text must match (anchored at both ends), case-sensitively.
//!
//! So `prod/*` matches `prod/app` but not `prod/team/app`; `prod/**` matches both, and
//! `prod/**/app` matches `prod/x/app` but not `prod/app` (the two slashes are literal).
//!
//! Until schema version 8 the registry's own patterns (robots, immutable tags, retention)
//! had a dialect of their own in which `*` crossed `/`; [`legacy`] keeps its matcher for
//! tests and the rewrite that the migration applies to stored patterns.

#![forbid(unsafe_code)]

pub mod legacy;

/// A validated pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    One,
    /// `*`
    Segment,
    /// `**`
    Any,
}

/// Longest pattern accepted (repository names are at most 255 characters).
pub const MAX_PATTERN: usize = 512;

impl Glob {
    /// A pattern; the empty one is refused (it would match nothing anyone can name).
    pub fn parse(text: &str) -> Result<Glob, String> {
        if text.is_empty() {
            return Err("an empty pattern matches nothing".into());
        }
        Glob::parse_relative(text)
    }

    /// A pattern relative to a project (robot permissions, immutable-tag rules), where the
    /// empty pattern means the project itself: it matches the empty name only.
    pub fn parse_relative(text: &str) -> Result<Glob, String> {
        if text.len() > MAX_PATTERN {
            return Err(format!("pattern longer than {MAX_PATTERN} characters"));
        }
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' if chars.peek() == Some(&'*') => {
                    chars.next();
                    if chars.peek() == Some(&'*') {
                        return Err(format!("{text:?}: use * or **, not ***"));
                    }
                    Token::Any
                }
                '*' => Token::Segment,
                '?' => Token::One,
                c => Token::Literal(c),
            });
        }
        Ok(Glob {
            text: text.to_owned(),
            tokens,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `s` matches the whole pattern.
    pub fn matches(&self, s: &str) -> bool {
        self.match_counting(s).0
    }

    /// The match, and the steps it took. Dynamic programming over (token, position):
    /// O(tokens × length) steps whatever the pattern, never backtracking.
    fn match_counting(&self, s: &str) -> (bool, usize) {
        let s: Vec<char> = s.chars().collect();
        let mut steps = 0;
        // reach[j]: the tokens so far can consume exactly s[..j].
        let mut reach = vec![false; s.len() + 1];
        reach[0] = true;
        for token in &self.tokens {
            let mut next = vec![false; s.len() + 1];
            match token {
                Token::Literal(c) => {
                    for j in 0..s.len() {
                        next[j + 1] = reach[j] && s[j] == *c;
                    }
                }
                Token::One => {
                    for j in 0..s.len() {
                        next[j + 1] = reach[j] && s[j] != '/';
                    }
                }
                Token::Segment | Token::Any => {
                    let crosses = matches!(token, Token::Any);
                    for j in 0..=s.len() {
                        next[j] =
                            reach[j] || (j > 0 && next[j - 1] && (crosses || s[j - 1] != '/'));
                    }
                }
            }
            steps += s.len() + 1;
            reach = next;
        }
        (reach[s.len()], steps)
    }

    /// The literal characters the pattern starts with, and the tokens after them.
    fn literal_prefix(&self) -> (String, &[Token]) {
        let prefix: String = self
            .tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) => Some(*c),
                _ => None,
            })
            .collect();
        let rest = &self.tokens[prefix.chars().count()..];
        (prefix, rest)
    }

    /// Whether every name `inner` matches is also matched by `self`: the test for granting
    /// (a robot may hand out a permission only on names it holds itself). Conservative: true
    /// only for shapes it can prove, false otherwise —
    /// the same pattern; `**`; a literal prefix then `**` over a pattern that starts with
    /// that prefix; a literal prefix then `*` over a pattern that starts with that prefix
    /// and continues without `/` or `**`; any pattern over a literal name it matches.
    pub fn covers(&self, inner: &Glob) -> bool {
        if self.text == inner.text {
            return true;
        }
        if inner.tokens.iter().all(|t| matches!(t, Token::Literal(_))) {
            return self.matches(&inner.text);
        }
        let (prefix, rest) = self.literal_prefix();
        let Some(rest_of_inner) = inner.text.strip_prefix(&prefix) else {
            return false;
        };
        match rest {
            [Token::Any] => true,
            [Token::Segment] => !rest_of_inner.contains('/') && !rest_of_inner.contains("**"),
            _ => false,
        }
    }
}

impl std::fmt::Display for Glob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests;
