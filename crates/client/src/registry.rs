//! One repository in a registry, over the Distribution API.

use std::sync::Mutex;

use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LINK, LOCATION};
use reqwest::{Method, Response, StatusCode};
use zoll_oci::{Descriptor, Digest, Reference, RepoName, VerifiedStream};

use crate::auth::Auth;
use crate::error::{ClientError, Result};
use crate::{
    ByteStream, ClientConfig, MANIFEST_ACCEPT, declared_media_type, descriptor, referrer_descriptor,
};

/// Largest error body read to report what the registry said.
const MAX_ERROR_BODY: usize = 64 << 10;
/// Blobs up to this size are uploaded in one request by `push_small_blob`.
pub(crate) const SMALL_BLOB: usize = 1 << 20;
/// Page size asked for when listing tags.
const PAGE: usize = 1000;

/// Most pages of one list followed: 100 full pages are `max_list_entries` by default, and
/// a registry paging in tens still lists thousands.
const MAX_PAGES: usize = 1000;

pub struct RegistryRepo {
    http: reqwest::Client,
    base: reqwest::Url,
    repo: RepoName,
    auth: Auth,
    max_manifest: usize,
    max_list: usize,
    /// Learned on first use: does the registry answer the referrers API?
    referrers_api: Mutex<Option<bool>>,
}

/// Reads at most `limit` bytes of a response body; more is an error.
/// The body of `resp`, refused once it exceeds `limit` bytes (announced or as it arrives):
/// every response zoll reads from a server it does not control goes through this.
pub async fn read_limited(resp: Response, limit: usize) -> Result<Bytes> {
    if let Some(n) = resp.content_length()
        && n > limit as u64
    {
        return Err(ClientError::TooLarge {
            what: "response",
            limit: limit as u64,
        });
    }
    let mut out = BytesMut::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(ClientError::TooLarge {
                what: "response",
                limit: limit as u64,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// The header zoll's pull gate sends with a refusal, its reason (`zoll_registry::gate`).
const GATE_REASON_HEADER: &str = "zoll-denied-reason";

/// The registry's complaint as an error: OCI error JSON when it sent one.
async fn refusal(what: String, resp: Response) -> ClientError {
    let status = resp.status();
    // zoll's pull gate names its reason in a header too (a `HEAD` has no body).
    let gate_reason = header(resp.headers(), GATE_REASON_HEADER).map(str::to_owned);
    let body = read_limited(resp, MAX_ERROR_BODY).await.unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<OneError>,
    }
    #[derive(serde::Deserialize)]
    struct OneError {
        code: String,
        #[serde(default)]
        message: String,
    }
    let first = serde_json::from_slice::<Errors>(&body)
        .ok()
        .and_then(|e| e.errors.into_iter().next());
    if status == StatusCode::NOT_FOUND
        && first.as_ref().is_none_or(|e| e.code.ends_with("_UNKNOWN"))
    {
        return ClientError::NotFound(what);
    }
    if let (StatusCode::FORBIDDEN, Some(header_reason)) = (status, gate_reason) {
        let reason = first
            .map(|e| e.message)
            .filter(|m| !m.is_empty())
            .unwrap_or(header_reason);
        return ClientError::Gate { what, reason };
    }
    let (code, message) = match first {
        Some(e) => (e.code, e.message),
        None => (
            String::new(),
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        ),
    };
    ClientError::Registry {
        what,
        status: status.as_u16(),
        code,
        message,
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The `rel="next"` target of a `Link` header.
fn next_link(h: &HeaderMap) -> Option<String> {
    let v = header(h, LINK.as_str())?;
    v.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

/// The referrers tag of the OCI 1.1 tag schema for `d`: `<alg>-<hex>`.
pub(crate) fn referrers_tag(d: &Digest) -> String {
    let alg: String = d.algorithm().as_str().chars().take(32).collect();
    let enc: String = d.hex().chars().take(64).collect();
    format!("{alg}-{enc}")
}

impl RegistryRepo {
    pub fn new(registry: &str, repo: RepoName, config: &ClientConfig) -> Result<RegistryRepo> {
        let base = crate::http::base_url(registry, config.plain_http)?;
        Ok(RegistryRepo {
            http: crate::http::http_client(config)?,
            base,
            auth: Auth::new(registry, config),
            repo,
            max_manifest: config.max_manifest_bytes,
            max_list: config.max_list_entries,
            referrers_api: Mutex::new(None),
        })
    }

    fn url(&self, tail: &str) -> reqwest::Url {
        self.base
            .join(&format!("v2/{}/{tail}", self.repo))
            .expect("validated name and path")
    }

    fn pull_scope(&self) -> String {
        format!("repository:{}:pull", self.repo)
    }

    fn push_scope(&self) -> String {
        format!("repository:{}:pull,push", self.repo)
    }

    async fn send(
        &self,
        scope: &str,
        method: Method,
        url: reqwest::Url,
        headers: &[(&str, &str)],
    ) -> Result<Response> {
        self.auth
            .send(&self.http, scope, || {
                let mut req = self.http.request(method.clone(), url.clone());
                for (k, v) in headers {
                    req = req.header(*k, *v);
                }
                req
            })
            .await
    }

    pub async fn resolve(&self, reference: Option<&Reference>) -> Result<Descriptor> {
        let latest = Reference::Tag(zoll_oci::Tag::parse("latest").expect("valid"));
        let reference = reference.unwrap_or(&latest);
        let url = self.url(&format!("manifests/{reference}"));
        let scope = self.pull_scope();
        let resp = self
            .send(&scope, Method::HEAD, url, &[("Accept", MANIFEST_ACCEPT)])
            .await?;
        if !resp.status().is_success() {
            return Err(refusal(
                format!("manifest {}", reference.in_repository(&self.repo)),
                resp,
            )
            .await);
        }
        let h = resp.headers();
        let digest = header(h, "Docker-Content-Digest").and_then(|d| d.parse::<Digest>().ok());
        let media_type = header(h, CONTENT_TYPE.as_str())
            .map(|c| c.split(';').next().unwrap_or("").trim().to_owned());
        let size = header(h, CONTENT_LENGTH.as_str()).and_then(|n| n.parse::<u64>().ok());
        match (reference, digest, media_type, size) {
            (Reference::Digest(want), Some(got), _, _) if &got != want => {
                Err(ClientError::DigestMismatch {
                    expected: want.clone(),
                    actual: got,
                })
            }
            (_, Some(digest), Some(media_type), Some(size))
                if zoll_oci::ManifestKind::of_media_type(&media_type).is_some() =>
            {
                Ok(Descriptor {
                    media_type,
                    digest,
                    size,
                    artifact_type: None,
                    annotations: None,
                    urls: None,
                })
            }
            // The HEAD answer was incomplete: read the manifest itself.
            _ => Ok(self.fetch_manifest(reference).await?.0),
        }
    }

    pub async fn fetch_manifest(&self, reference: &Reference) -> Result<(Descriptor, Bytes)> {
        let url = self.url(&format!("manifests/{reference}"));
        let scope = self.pull_scope();
        let resp = self
            .send(&scope, Method::GET, url, &[("Accept", MANIFEST_ACCEPT)])
            .await?;
        if !resp.status().is_success() {
            return Err(refusal(
                format!("manifest {}", reference.in_repository(&self.repo)),
                resp,
            )
            .await);
        }
        let header_digest =
            header(resp.headers(), "Docker-Content-Digest").and_then(|d| d.parse::<Digest>().ok());
        let content_type = header(resp.headers(), CONTENT_TYPE.as_str())
            .map(|c| c.split(';').next().unwrap_or("").trim().to_owned());
        let bytes = read_limited(resp, self.max_manifest).await?;
        let expected = match reference {
            Reference::Digest(d) => Some(d.clone()),
            Reference::Tag(_) => header_digest,
        };
        let digest = match &expected {
            Some(want) => {
                let got = Digest::of(want.algorithm(), &bytes);
                if &got != want {
                    return Err(ClientError::DigestMismatch {
                        expected: want.clone(),
                        actual: got,
                    });
                }
                got
            }
            None => Digest::sha256(&bytes),
        };
        let media_type = content_type
            .filter(|c| zoll_oci::ManifestKind::of_media_type(c).is_some())
            .or_else(|| declared_media_type(&bytes))
            .ok_or_else(|| ClientError::ManifestInvalid("no media type".into()))?;
        let mut desc = descriptor(&media_type, &bytes);
        desc.digest = digest;
        Ok((desc, bytes))
    }

    pub async fn fetch_blob(&self, desc: &Descriptor) -> Result<ByteStream> {
        let url = self.url(&format!("blobs/{}", desc.digest));
        let scope = self.pull_scope();
        let resp = self.send(&scope, Method::GET, url, &[]).await?;
        if !resp.status().is_success() {
            return Err(refusal(format!("blob {}@{}", self.repo, desc.digest), resp).await);
        }
        if let Some(n) = resp.content_length()
            && n != desc.size
        {
            return Err(ClientError::SizeMismatch {
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: n,
            });
        }
        let body = resp.bytes_stream().map_err(std::io::Error::other).boxed();
        Ok(Box::pin(VerifiedStream::new(
            body,
            desc.digest.clone(),
            desc.size,
        )))
    }

    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        let url = self.url(&format!("blobs/{digest}"));
        let scope = self.pull_scope();
        let resp = self.send(&scope, Method::HEAD, url, &[]).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(refusal(format!("blob {}@{digest}", self.repo), resp).await),
        }
    }

    pub async fn push_blob(&self, desc: &Descriptor, body: ByteStream) -> Result<()> {
        if self.blob_exists(&desc.digest).await? {
            return Ok(());
        }
        let scope = self.push_scope();
        let start = self.url("blobs/uploads/");
        let resp = self.send(&scope, Method::POST, start, &[]).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(refusal(format!("upload to {}", self.repo), resp).await);
        }
        let location = header(resp.headers(), LOCATION.as_str())
            .ok_or_else(|| ClientError::Http("upload started without a Location".into()))?;
        let mut url = self
            .base
            .join(location)
            .map_err(|e| ClientError::Http(format!("bad upload Location {location:?}: {e}")))?;
        url.query_pairs_mut()
            .append_pair("digest", desc.digest.as_str());
        let checked = VerifiedStream::new(body, desc.digest.clone(), desc.size);
        let req = self
            .http
            .put(url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, desc.size)
            .body(reqwest::Body::wrap_stream(checked));
        let resp = self.auth.send_once(&scope, req).await?;
        if resp.status() != StatusCode::CREATED {
            return Err(refusal(format!("blob {}@{}", self.repo, desc.digest), resp).await);
        }
        Ok(())
    }

    /// Uploads a small blob held in memory: one monolithic `POST ?digest=` where the
    /// registry supports it (201), else the `PUT` to the session it opened (202).
    pub async fn push_small_blob(&self, desc: &Descriptor, bytes: Bytes) -> Result<()> {
        let scope = self.push_scope();
        let mut start = self.url("blobs/uploads/");
        start
            .query_pairs_mut()
            .append_pair("digest", desc.digest.as_str());
        let resp = self
            .auth
            .send(&self.http, &scope, || {
                self.http
                    .post(start.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(bytes.clone())
            })
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(()),
            StatusCode::ACCEPTED => {
                let location = header(resp.headers(), LOCATION.as_str())
                    .ok_or_else(|| ClientError::Http("upload started without a Location".into()))?;
                let mut url = self.base.join(location).map_err(|e| {
                    ClientError::Http(format!("bad upload Location {location:?}: {e}"))
                })?;
                url.query_pairs_mut()
                    .append_pair("digest", desc.digest.as_str());
                let req = self
                    .http
                    .put(url)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(bytes);
                let resp = self.auth.send_once(&scope, req).await?;
                if resp.status() != StatusCode::CREATED {
                    return Err(refusal(format!("blob {}@{}", self.repo, desc.digest), resp).await);
                }
                Ok(())
            }
            _ => Err(refusal(format!("blob {}@{}", self.repo, desc.digest), resp).await),
        }
    }

    pub async fn push_manifest(
        &self,
        media_type: &str,
        bytes: Bytes,
        tag: Option<&str>,
    ) -> Result<Descriptor> {
        if bytes.len() > self.max_manifest {
            return Err(ClientError::TooLarge {
                what: "manifest",
                limit: self.max_manifest as u64,
            });
        }
        let parsed = zoll_oci::Manifest::parse(&bytes, Some(media_type))
            .map_err(|e| ClientError::ManifestInvalid(e.to_string()))?;
        let desc = descriptor(media_type, &bytes);
        let reference = tag.map_or_else(|| desc.digest.to_string(), str::to_owned);
        let resp = self
            .put_manifest(&reference, media_type, bytes.clone())
            .await?;
        if let Some(d) = header(resp.headers(), "Docker-Content-Digest")
            && d != desc.digest.as_str()
        {
            return Err(ClientError::Http(format!(
                "the registry stored the manifest as {d}, expected {}",
                desc.digest
            )));
        }
        if let Some(subject) = &parsed.subject {
            let answered = resp.headers().contains_key("OCI-Subject");
            if !answered {
                // No referrers API: maintain the referrers tag ourselves.
                *self.referrers_api.lock().expect("poisoned") = Some(false);
                let entry = referrer_descriptor(media_type, &bytes)?;
                self.add_to_referrers_tag(&subject.digest, entry).await?;
            }
        }
        Ok(desc)
    }

    async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Response> {
        let url = self.url(&format!("manifests/{reference}"));
        let scope = self.push_scope();
        let resp = self
            .auth
            .send(&self.http, &scope, || {
                self.http
                    .put(url.clone())
                    .header(CONTENT_TYPE, media_type)
                    .body(bytes.clone())
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            // `reference` is the URL's: a tag, or a digest when pushed by digest.
            let shown = Reference::parse(reference).map_or_else(
                |_| format!("{}:{reference}", self.repo),
                |r| r.in_repository(&self.repo),
            );
            return Err(refusal(format!("manifest {shown}"), resp).await);
        }
        Ok(resp)
    }

    async fn add_to_referrers_tag(&self, subject: &Digest, entry: Descriptor) -> Result<()> {
        let tag = referrers_tag(subject);
        let mut list = self.referrers_from_tag(subject).await?;
        if list.iter().any(|d| d.digest == entry.digest) {
            return Ok(());
        }
        list.push(entry);
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": zoll_oci::media_types::OCI_INDEX,
            "manifests": list,
        });
        let bytes = Bytes::from(serde_json::to_vec(&index).expect("serializable"));
        self.put_manifest(&tag, zoll_oci::media_types::OCI_INDEX, bytes)
            .await?;
        Ok(())
    }

    async fn referrers_from_tag(&self, subject: &Digest) -> Result<Vec<Descriptor>> {
        let tag = Reference::Tag(zoll_oci::Tag::parse(&referrers_tag(subject)).expect("valid tag"));
        match self.fetch_manifest(&tag).await {
            Ok((_, bytes)) => index_entries(&bytes),
            Err(ClientError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    pub async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        self.referrers_until(subject, artifact_type, None).await
    }

    /// The referrers of `subject`, reading pages only until `limit` are found (at least
    /// `limit` when there are that many; the caller judges a longer list) or, without a
    /// limit, the whole list up to `max_list_entries`.
    pub async fn referrers_until(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Descriptor>> {
        let known = *self.referrers_api.lock().expect("poisoned");
        let mut found = match known {
            Some(false) => self.referrers_from_tag(subject).await?,
            _ => match self
                .referrers_from_api(subject, artifact_type, limit)
                .await?
            {
                Some(list) => list,
                None => {
                    *self.referrers_api.lock().expect("poisoned") = Some(false);
                    self.referrers_from_tag(subject).await?
                }
            },
        };
        if let Some(t) = artifact_type {
            found.retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        Ok(found)
    }

    /// `None` when the registry has no referrers API (404), per the spec's fallback rule.
    async fn referrers_from_api(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Option<Vec<Descriptor>>> {
        let mut url = self.url(&format!("referrers/{subject}"));
        if let Some(t) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", t);
        }
        let what = format!("referrers of {subject}");
        let found = self
            .paged(
                url,
                zoll_oci::media_types::OCI_INDEX,
                &what,
                limit,
                index_entries,
            )
            .await?;
        if found.is_some() {
            *self.referrers_api.lock().expect("poisoned") = Some(true);
        }
        Ok(found)
    }

    pub async fn tags(&self) -> Result<Vec<String>> {
        let mut url = self.url("tags/list");
        url.query_pairs_mut().append_pair("n", &PAGE.to_string());
        let what = format!("tags of {}", self.repo);
        let found = self
            .paged(url, "application/json", &what, None, |bytes| {
                #[derive(serde::Deserialize)]
                struct TagList {
                    tags: Option<Vec<String>>,
                }
                let list: TagList = serde_json::from_slice(bytes)
                    .map_err(|e| ClientError::Http(format!("bad tags list: {e}")))?;
                Ok(list.tags.unwrap_or_default())
            })
            .await?;
        Ok(found.unwrap_or_default())
    }

    /// Collects a list over `Link: <…>; rel="next"` pages; `None` on 404. Stops after the
    /// page that brings it to `limit` entries; refuses a list longer than `max_list` or
    /// spread over more than [`MAX_PAGES`] pages (a registry answering empty pages, each
    /// linking to the next, would otherwise be followed forever).
    async fn paged<T>(
        &self,
        mut url: reqwest::Url,
        accept: &str,
        what: &str,
        limit: Option<usize>,
        parse: impl Fn(&[u8]) -> Result<Vec<T>>,
    ) -> Result<Option<Vec<T>>> {
        let scope = self.pull_scope();
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self
                .send(&scope, Method::GET, url.clone(), &[("Accept", accept)])
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !resp.status().is_success() {
                return Err(refusal(what.to_owned(), resp).await);
            }
            let next = next_link(resp.headers());
            let bytes = read_limited(resp, self.max_manifest).await?;
            out.extend(parse(&bytes)?);
            if out.len() > self.max_list {
                return Err(ClientError::TooLarge {
                    what: "list",
                    limit: self.max_list as u64,
                });
            }
            if limit.is_some_and(|l| out.len() >= l) {
                return Ok(Some(out));
            }
            match next {
                Some(n) => {
                    url = self
                        .base
                        .join(&n)
                        .map_err(|e| ClientError::Http(e.to_string()))?
                }
                None => return Ok(Some(out)),
            }
        }
        Err(ClientError::TooLarge {
            what: "list (pages)",
            limit: MAX_PAGES as u64,
        })
    }

    /// Deletes a manifest by digest (and with it every tag pointing at it).
    pub async fn delete_manifest(&self, digest: &Digest) -> Result<()> {
        let url = self.url(&format!("manifests/{digest}"));
        let scope = format!("repository:{}:delete", self.repo);
        let resp = self.send(&scope, Method::DELETE, url, &[]).await?;
        if !resp.status().is_success() {
            return Err(refusal(format!("manifest {}@{digest}", self.repo), resp).await);
        }
        Ok(())
    }
}

/// The `manifests` of an image index.
pub(crate) fn index_entries(bytes: &[u8]) -> Result<Vec<Descriptor>> {
    #[derive(serde::Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<Descriptor>,
    }
    let index: Index = serde_json::from_slice(bytes)
        .map_err(|e| ClientError::ManifestInvalid(format!("bad image index: {e}")))?;
    Ok(index.manifests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrers_tags() {
        let d: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        assert_eq!(referrers_tag(&d), format!("sha256-{}", "a".repeat(64)));
        let d: Digest = format!("sha512:{}", "b".repeat(128)).parse().unwrap();
        assert_eq!(referrers_tag(&d), format!("sha512-{}", "b".repeat(64)));
    }

    #[test]
    fn link_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            "</v2/r/tags/list?n=2&last=b>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("/v2/r/tags/list?n=2&last=b"));
    }
}
