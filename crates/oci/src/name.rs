//! Repository names and tags, validated by the grammar of the OCI distribution spec.

use std::fmt;

use crate::digest::{Digest, DigestError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("repository name is empty")]
    Empty,
    #[error("repository name is longer than {max} characters")]
    TooLong { max: usize },
    #[error("repository name component {0:?} does not match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*")]
    Component(String),
    #[error("tag {0:?} does not match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    Tag(String),
    #[error("invalid digest reference: {0}")]
    Digest(#[from] DigestError),
}

/// A repository name such as `library/alpine`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    /// Validates `s` against the spec grammar and the configured length limit.
    pub fn parse(s: &str, max_len: usize) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > max_len {
            return Err(NameError::TooLong { max: max_len });
        }
        for component in s.split('/') {
            if !valid_component(component) {
                return Err(NameError::Component(component.to_owned()));
            }
        }
        Ok(RepoName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One path component: alphanumeric runs joined by `.`, `_`, `__` or any number of `-`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &b[start..i];
        let ok = sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|&x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoName({})", self.0)
    }
}

/// A tag such as `v1.2.3`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let b = s.as_bytes();
        let first_ok = b
            .first()
            .is_some_and(|&x| x.is_ascii_alphanumeric() || x == b'_');
        let rest_ok = b[1.min(b.len())..]
            .iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-');
        if !first_ok || !rest_ok || b.len() > 128 {
            return Err(NameError::Tag(s.to_owned()));
        }
        Ok(Tag(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({})", self.0)
    }
}

/// The `<reference>` of a manifest URL: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    /// A reference containing ':' is a digest; anything else must be a tag.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            Ok(Reference::Tag(Tag::parse(s)?))
        }
    }

    /// `repo:tag` or `repo@digest`, as people and tools write an image reference (a digest
    /// after `:` reads as a tag named like a digest).
    pub fn in_repository(&self, repo: &impl fmt::Display) -> String {
        match self {
            Reference::Tag(t) => format!("{repo}:{t}"),
            Reference::Digest(d) => format!("{repo}@{d}"),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_join_their_repository_as_people_write_them() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            Reference::parse("v1").unwrap().in_repository(&"team/app"),
            "team/app:v1"
        );
        assert_eq!(
            Reference::parse(&digest)
                .unwrap()
                .in_repository(&"team/app"),
            format!("team/app@{digest}")
        );
    }

    #[test]
    fn names_follow_the_spec_grammar() {
        let cases = [
            ("library/alpine", true),
            ("a", true),
            ("a/b/c", true),
            ("a.b_c__d---e", true),
            ("a___b", false),
            ("a..b", false),
            ("A", false),
            ("-a", false),
            ("a-", false),
            ("a//b", false),
            ("/a", false),
            ("a/", false),
            ("", false),
        ];
        for (name, ok) in cases {
            assert_eq!(RepoName::parse(name, 255).is_ok(), ok, "{name}");
        }
        assert_eq!(
            RepoName::parse("abc", 2),
            Err(NameError::TooLong { max: 2 })
        );
    }

    #[test]
    fn tags_follow_the_spec_grammar() {
        let long = "a".repeat(128);
        let too_long = "a".repeat(129);
        for (tag, ok) in [
            ("latest", true),
            ("_x", true),
            ("v1.0-rc_1", true),
            (long.as_str(), true),
            (too_long.as_str(), false),
            (".x", false),
            ("-x", false),
            ("", false),
            ("a/b", false),
        ] {
            assert_eq!(Tag::parse(tag).is_ok(), ok, "{tag}");
        }
    }
}
