//! Image references as Kubernetes writes them (the Docker reference grammar):
//! `[host[:port]/]path[:tag][@digest]`. A name without a host is on Docker Hub
//! (`nginx` is `docker.io/library/nginx`); a name without tag or digest means `:latest`.

use zoll_oci::{Digest, Reference, RepoName, Tag};

/// Longest image reference considered (Kubernetes has no limit of its own; registries
/// refuse repository names over 255 bytes).
pub const MAX_IMAGE_LEN: usize = 1024;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// The registry host as written (or `docker.io` when none was).
    pub registry: String,
    pub repository: RepoName,
    pub tag: Option<Tag>,
    pub digest: Option<Digest>,
    /// The reference exactly as written in the pod spec.
    pub written: String,
}

impl ImageName {
    pub fn parse(s: &str) -> Result<ImageName, String> {
        if s.is_empty() {
            return Err("the image is empty".into());
        }
        if s.len() > MAX_IMAGE_LEN {
            return Err(format!("longer than {MAX_IMAGE_LEN} bytes"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(
                    d.parse::<Digest>()
                        .map_err(|e| format!("digest {d:?}: {e}"))?,
                ),
            ),
            None => (s, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (
                name,
                Some(Tag::parse(tag).map_err(|e| format!("tag {tag:?}: {e}"))?),
            ),
            _ => (rest, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((host, path))
                if host.contains('.') || host.contains(':') || host == "localhost" =>
            {
                (host.to_owned(), path.to_owned())
            }
            Some(_) => ("docker.io".to_owned(), name.to_owned()),
            None => ("docker.io".to_owned(), format!("library/{name}")),
        };
        let repository = RepoName::parse(&path, 255).map_err(|e| format!("{path:?}: {e}"))?;
        Ok(ImageName {
            // Hosts are case-insensitive: compare them in one spelling.
            registry: registry.to_ascii_lowercase(),
            repository,
            tag,
            digest,
            written: s.to_owned(),
        })
    }

    /// What to resolve: the digest when one is written (it wins over a tag), else the tag
    /// (`latest` when none is written).
    pub fn reference(&self) -> Reference {
        match (&self.digest, &self.tag) {
            (Some(d), _) => Reference::Digest(d.clone()),
            (None, Some(t)) => Reference::Tag(t.clone()),
            (None, None) => Reference::Tag(Tag::parse("latest").expect("a valid tag")),
        }
    }

    /// The reference pinned to `digest`, keeping the name and tag as written
    /// (`host/repo:tag@sha256:…`; container runtimes pull by the digest).
    pub fn pinned(&self, digest: &Digest) -> String {
        format!("{}@{digest}", self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

    fn check(input: &str, expect: Result<(&str, &str, Option<&str>, bool), &str>) {
        match (ImageName::parse(input), expect) {
            (Ok(n), Ok((registry, repo, tag, digest))) => {
                assert_eq!(n.registry, registry, "{input}");
                assert_eq!(n.repository.as_str(), repo, "{input}");
                assert_eq!(n.tag.as_ref().map(|t| t.as_str()), tag, "{input}");
                assert_eq!(n.digest.is_some(), digest, "{input}");
            }
            (Err(e), Err(msg)) => assert!(e.contains(msg), "{input}: {e}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn docker_reference_grammar() {
        check("nginx", Ok(("docker.io", "library/nginx", None, false)));
        check(
            "nginx:1.27",
            Ok(("docker.io", "library/nginx", Some("1.27"), false)),
        );
        check(
            "bitnami/redis:7",
            Ok(("docker.io", "bitnami/redis", Some("7"), false)),
        );
        check(
            "zoll.example.com/prod/app:v1",
            Ok(("zoll.example.com", "prod/app", Some("v1"), false)),
        );
        check(
            "127.0.0.1:5000/prod/app",
            Ok(("127.0.0.1:5000", "prod/app", None, false)),
        );
        check(
            &format!("localhost/app:v1@{D}"),
            Ok(("localhost", "app", Some("v1"), true)),
        );
        check(
            &format!("Zoll.Example.com:443/a/b@{D}"),
            Ok(("zoll.example.com:443", "a/b", None, true)),
        );
        check("", Err("empty"));
        check("UPPER/case", Err("UPPER/case"));
        check("app@sha256:xyz", Err("digest"));
        check("app:bad tag", Err("tag"));
        check(&"a".repeat(2000), Err("longer than"));
    }

    #[test]
    fn pinning_keeps_what_was_written() {
        let n = ImageName::parse("zoll.example.com/prod/app:v1").unwrap();
        let d: Digest = D.parse().unwrap();
        assert_eq!(n.pinned(&d), format!("zoll.example.com/prod/app:v1@{D}"));
        assert_eq!(n.reference().to_string(), "v1");
    }
}
