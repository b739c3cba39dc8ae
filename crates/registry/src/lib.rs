//! zoll's HTTP server: the OCI Distribution API (v1.1) on `/v2/`.
//!
//! Layering: `route` recognises the endpoint, the handler modules (`blobs`, `uploads`,
//! `manifests`, `listing`) translate HTTP into store calls, and `error` is the single place
//! where failures become OCI error JSON. Handlers hold no state between requests: everything
//! a later request needs is in the store.

#![forbid(unsafe_code)]

mod blobs;
mod error;
mod listing;
mod manifests;
mod route;
mod serve;
mod uploads;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use zoll_oci::{Digest, RepoName};
use zoll_store::Store;

pub use error::{ApiError, ApiResult};
pub use serve::{serve, ServeOptions, TlsFiles};

use route::Route;

/// Limits on what clients may send; all configurable.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_manifest_bytes: usize,
    pub max_name_len: usize,
    /// Largest page a tags list or catalog returns, whatever `n` asks for.
    pub max_page: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 4 << 20,
            max_name_len: 255,
            max_page: 10_000,
        }
    }
}

/// Shared state of the HTTP layer.
pub struct App {
    pub store: Arc<Store>,
    pub limits: Limits,
}

const API_VERSION: &str = "registry/2.0";

/// The full router: `/v2/` and everything below it.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .fallback(dispatch)
        .with_state(app)
        .layer(axum::middleware::map_response(add_api_version))
}

async fn add_api_version(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static(API_VERSION),
    );
    resp
}

async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let resp = match Route::parse(&path) {
        Some(route) => handle(&app, route, &parts, body)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        None => {
            ApiError::new(StatusCode::NOT_FOUND, "UNSUPPORTED", "no such endpoint").into_response()
        }
    };
    let status = resp.status();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if method == Method::GET || method == Method::HEAD {
        tracing::debug!(%method, %path, status = status.as_u16(), ms, "request");
    } else {
        tracing::info!(%method, %path, status = status.as_u16(), ms, "request");
    }
    resp
}

async fn handle(
    app: &App,
    route: Route<'_>,
    parts: &axum::http::request::Parts,
    body: Body,
) -> ApiResult {
    let m = &parts.method;
    let q = query(&parts.uri);
    let h = &parts.headers;
    let is = |x: &Method| m == x;
    match route {
        Route::Base if is(&Method::GET) || is(&Method::HEAD) => {
            Ok(axum::Json(serde_json::json!({})).into_response())
        }
        Route::Catalog if is(&Method::GET) => listing::catalog(app, &q).await,
        Route::Tags { name } if is(&Method::GET) => listing::tags(app, &app.repo(name)?, &q).await,
        Route::Referrers { name, digest } if is(&Method::GET) => {
            listing::referrers(app, &app.repo(name)?, &parse_digest(digest)?, &q).await
        }
        Route::Manifest { name, reference } => {
            let repo = app.repo(name)?;
            let reference = zoll_oci::Reference::parse(reference).map_err(reference_error)?;
            match *m {
                Method::GET => manifests::get(app, &repo, &reference, h, false).await,
                Method::HEAD => manifests::get(app, &repo, &reference, h, true).await,
                Method::PUT => {
                    let tags = query_all(&parts.uri, "tag");
                    manifests::put(app, &repo, &reference, &tags, h, body).await
                }
                Method::DELETE => manifests::delete(app, &repo, &reference).await,
                _ => Err(ApiError::unsupported("method not allowed on manifests")),
            }
        }
        Route::Blob { name, digest } => {
            let repo = app.repo(name)?;
            let digest = parse_digest(digest)?;
            match *m {
                Method::GET => blobs::get(app, &repo, &digest, h, false).await,
                Method::HEAD => blobs::get(app, &repo, &digest, h, true).await,
                Method::DELETE => blobs::delete(app, &repo, &digest).await,
                _ => Err(ApiError::unsupported("method not allowed on blobs")),
            }
        }
        Route::UploadStart { name } if is(&Method::POST) => {
            uploads::start(app, &app.repo(name)?, &q, body).await
        }
        Route::Upload { name, id } => {
            let repo = app.repo(name)?;
            match *m {
                Method::GET => uploads::status(app, &repo, id).await,
                Method::PATCH => uploads::patch(app, &repo, id, h, body).await,
                Method::PUT => uploads::finish(app, &repo, id, &q, h, body).await,
                Method::DELETE => uploads::cancel(app, &repo, id).await,
                _ => Err(ApiError::unsupported("method not allowed on uploads")),
            }
        }
        _ => Err(ApiError::unsupported(format!(
            "method {m} not allowed on this endpoint"
        ))),
    }
}

impl App {
    fn repo(&self, name: &str) -> ApiResult<RepoName> {
        RepoName::parse(name, self.limits.max_name_len).map_err(ApiError::name_invalid)
    }
}

fn parse_digest(s: &str) -> ApiResult<Digest> {
    s.parse().map_err(ApiError::digest_invalid)
}

/// A malformed digest reference is DIGEST_INVALID; a malformed tag is MANIFEST_INVALID
/// (the name itself is fine), matching what clients and the conformance suite expect.
fn reference_error(e: zoll_oci::NameError) -> ApiError {
    match e {
        zoll_oci::NameError::Digest(d) => ApiError::digest_invalid(d),
        other => ApiError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            other.to_string(),
        ),
    }
}

fn query(uri: &axum::http::Uri) -> HashMap<String, String> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// Every value of a repeatable query parameter (`?tag=a&tag=b`).
fn query_all(uri: &axum::http::Uri, key: &str) -> Vec<String> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| {
            q.0.into_iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v)
                .collect()
        })
        .unwrap_or_default()
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A header value from text we produced ourselves (digests, paths made of validated names).
fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("validated header text")
}
