//! Repository and registry patterns: `*` matches within one path segment, `**` across
//! segments (slashes included), `?` one character other than `/`. Everything else is
//! literal. `prod/*` matches `prod/app` but not `prod/team/app`; `prod/**` matches both.

/// A validated pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
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
const MAX_PATTERN: usize = 512;

impl Glob {
    pub fn parse(text: &str) -> Result<Glob, String> {
        if text.is_empty() {
            return Err("an empty pattern matches nothing".into());
        }
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

    /// Whether `s` matches the whole pattern. Dynamic programming over (token, position):
    /// O(tokens × length), no backtracking blow-up.
    pub fn matches(&self, s: &str) -> bool {
        let s: Vec<char> = s.chars().collect();
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
            reach = next;
        }
        reach[s.len()]
    }

    /// How specific the pattern is (literal characters): for ordering explanations only.
    pub fn literal_len(&self) -> usize {
        self.tokens
            .iter()
            .filter(|t| matches!(t, Token::Literal(_)))
            .count()
    }
}

impl std::fmt::Display for Glob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}
