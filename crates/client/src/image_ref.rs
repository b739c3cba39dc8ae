//! Image references as users type them: `host[:port]/repo[:tag|@digest]` for a registry and
//! `oci:DIR[:tag|@digest]` for an OCI image layout (skopeo's spelling).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use zoll_oci::{Reference, RepoName, Tag};

use crate::error::ClientError;

/// Where a repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `registry` is `host[:port]`.
    Registry {
        registry: String,
        repo: RepoName,
    },
    Layout {
        dir: PathBuf,
    },
}

/// A repository plus a tag or digest in it. A registry reference without either means
/// `latest`; a layout reference without either names the layout's only image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub location: Location,
    pub reference: Option<Reference>,
}

const MAX_NAME: usize = 255;

fn bad(input: &str, reason: impl Into<String>) -> ClientError {
    ClientError::BadReference {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

/// Splits `rest` at a trailing `@digest` or `:tag` (a tag never contains `/`).
fn split_reference<'a>(
    input: &str,
    rest: &'a str,
) -> Result<(&'a str, Option<Reference>), ClientError> {
    if let Some((head, digest)) = rest.split_once('@') {
        let d = digest.parse().map_err(|e| bad(input, format!("{e}")))?;
        return Ok((head, Some(Reference::Digest(d))));
    }
    if let Some((head, tag)) = rest.rsplit_once(':')
        && !tag.contains('/')
    {
        let t = Tag::parse(tag).map_err(|e| bad(input, e.to_string()))?;
        return Ok((head, Some(Reference::Tag(t))));
    }
    Ok((rest, None))
}

fn looks_like_host(s: &str) -> bool {
    s.contains('.') || s.contains(':') || s == "localhost" || s.starts_with('[')
}

impl FromStr for ImageRef {
    type Err = ClientError;

    fn from_str(input: &str) -> Result<Self, ClientError> {
        if let Some(rest) = input.strip_prefix("oci:") {
            let (dir, reference) = split_reference(input, rest)?;
            if dir.is_empty() {
                return Err(bad(input, "the layout directory is missing"));
            }
            return Ok(ImageRef {
                location: Location::Layout { dir: dir.into() },
                reference,
            });
        }
        if let Some(scheme) = input.split_once("://").map(|x| x.0) {
            return Err(bad(
                input,
                format!("drop the {scheme}:// prefix: write host[:port]/repository:tag"),
            ));
        }
        let Some((host, path)) = input.split_once('/') else {
            return Err(bad(input, "expected host[:port]/repository[:tag|@digest]"));
        };
        if !looks_like_host(host) {
            return Err(bad(
                input,
                format!("{host:?} is not a registry host; write host[:port]/repository:tag"),
            ));
        }
        let (repo, reference) = split_reference(input, path)?;
        let repo = RepoName::parse(repo, MAX_NAME).map_err(|e| bad(input, e.to_string()))?;
        Ok(ImageRef {
            location: Location::Registry {
                registry: host.to_owned(),
                repo,
            },
            reference: Some(
                reference.unwrap_or_else(|| Reference::Tag(Tag::parse("latest").expect("valid"))),
            ),
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Registry { registry, repo } => write!(f, "{registry}/{repo}")?,
            Location::Layout { dir } => write!(f, "oci:{}", dir.display())?,
        }
        match &self.reference {
            Some(Reference::Tag(t)) => write!(f, ":{t}"),
            Some(Reference::Digest(d)) => write!(f, "@{d}"),
            None => Ok(()),
        }
    }
}

impl ImageRef {
    /// The same repository, pinned to `digest`.
    pub fn with_digest(&self, digest: zoll_oci::Digest) -> ImageRef {
        ImageRef {
            location: self.location.clone(),
            reference: Some(Reference::Digest(digest)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    fn check(input: &str, expect: Result<&str, &str>) {
        match (input.parse::<ImageRef>(), expect) {
            (Ok(r), Ok(shown)) => assert_eq!(r.to_string(), shown, "{input}"),
            (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "{input}: {e}"),
            (got, want) => panic!("{input}: got {got:?}, expected {want:?}"),
        }
    }

    #[test]
    fn references() {
        check("localhost:5000/a/b:v1", Ok("localhost:5000/a/b:v1"));
        check("127.0.0.1:5000/a", Ok("127.0.0.1:5000/a:latest"));
        check(
            &format!("reg.example/a@{D}"),
            Ok(&format!("reg.example/a@{D}")),
        );
        check("oci:/tmp/x:v2", Ok("oci:/tmp/x:v2"));
        check("oci:/tmp/x", Ok("oci:/tmp/x"));
        check("oci:rel/dir", Ok("oci:rel/dir"));
        check(&format!("oci:/tmp/x@{D}"), Ok(&format!("oci:/tmp/x@{D}")));
        check("library/alpine:3", Err("not a registry host"));
        check("alpine", Err("expected host"));
        check("https://reg.example/a:v1", Err("drop the https:// prefix"));
        check("reg.example/A:v1", Err("does not match"));
        check("reg.example/a:bad tag", Err("tag"));
        check("reg.example/a@sha256:12", Err("digest"));
        check("oci::v1", Err("directory is missing"));
    }
}
