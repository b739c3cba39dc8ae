//! Recognises the Distribution API paths. Repository names contain slashes, so the path is
//! split at the last endpoint keyword rather than by a router pattern.

/// A `/v2/...` endpoint, with its raw (not yet validated) parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    Base,
    Catalog,
    Tags { name: &'a str },
    Manifest { name: &'a str, reference: &'a str },
    Blob { name: &'a str, digest: &'a str },
    UploadStart { name: &'a str },
    Upload { name: &'a str, id: &'a str },
    Referrers { name: &'a str, digest: &'a str },
}

impl Route<'_> {
    /// A low-cardinality name for metrics.
    pub(crate) fn endpoint(&self) -> &'static str {
        match self {
            Route::Base => "base",
            Route::Catalog => "catalog",
            Route::Tags { .. } => "tags",
            Route::Manifest { .. } => "manifest",
            Route::Blob { .. } => "blob",
            Route::UploadStart { .. } | Route::Upload { .. } => "upload",
            Route::Referrers { .. } => "referrers",
        }
    }
}

/// `name` + `/keyword/` + a last segment without slashes.
fn split<'a>(rest: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let (name, tail) = rest.rsplit_once(keyword)?;
    (!name.is_empty() && !tail.contains('/')).then_some((name, tail))
}

impl<'a> Route<'a> {
    pub(crate) fn parse(path: &'a str) -> Option<Route<'a>> {
        let rest = path.strip_prefix("/v2")?;
        if rest.is_empty() || rest == "/" {
            return Some(Route::Base);
        }
        let rest = rest.strip_prefix('/')?;
        if rest == "_catalog" {
            return Some(Route::Catalog);
        }
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return Some(Route::Tags { name });
        }
        if let Some(name) = rest
            .strip_suffix("/blobs/uploads/")
            .or_else(|| rest.strip_suffix("/blobs/uploads"))
        {
            return Some(Route::UploadStart { name });
        }
        if let Some((name, id)) = split(rest, "/blobs/uploads/") {
            return Some(Route::Upload { name, id });
        }
        if let Some((name, digest)) = split(rest, "/blobs/") {
            return Some(Route::Blob { name, digest });
        }
        if let Some((name, reference)) = split(rest, "/manifests/") {
            return Some(Route::Manifest { name, reference });
        }
        if let Some((name, digest)) = split(rest, "/referrers/") {
            return Some(Route::Referrers { name, digest });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::Route::{self, *};

    #[test]
    fn paths() {
        let cases: &[(&str, Option<Route>)] = &[
            ("/v2/", Some(Base)),
            ("/v2", Some(Base)),
            ("/v2/_catalog", Some(Catalog)),
            ("/v2/a/b/tags/list", Some(Tags { name: "a/b" })),
            ("/v2/a/blobs/uploads/", Some(UploadStart { name: "a" })),
            (
                "/v2/a/blobs/uploads/xyz",
                Some(Upload {
                    name: "a",
                    id: "xyz",
                }),
            ),
            (
                "/v2/blobs/blobs/sha256:1",
                Some(Blob {
                    name: "blobs",
                    digest: "sha256:1",
                }),
            ),
            (
                "/v2/m/manifests/x/manifests/v1",
                Some(Manifest {
                    name: "m/manifests/x",
                    reference: "v1",
                }),
            ),
            (
                "/v2/r/referrers/sha256:2",
                Some(Referrers {
                    name: "r",
                    digest: "sha256:2",
                }),
            ),
            ("/v2/manifests/v1", None),
            ("/v2/a/unknown", None),
            ("/v3/", None),
        ];
        for (path, expect) in cases {
            assert_eq!(&Route::parse(path), expect, "{path}");
        }
    }
}
