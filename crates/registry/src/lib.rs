//! zoll's HTTP server: the OCI Distribution API (v1.1) on `/v2/`.
//!
//! Layering: `route` recognises the endpoint, `auth` says who is asking and `access` what
//! they may do, the handler modules (`blobs`, `uploads`, `manifests`, `listing`, and `api`
//! for the management API) translate HTTP into store calls, `audit` and `events` record
//! what happened, and `error` is the single place where failures become OCI error JSON.
//! Handlers hold no state between requests: everything a later request needs is in the
//! store.

#![forbid(unsafe_code)]
#![warn(unreachable_pub, unused_must_use)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod access;
mod api;
pub mod approvals;
mod audit;
pub mod auth;
mod blobs;
pub mod connections;
mod error;
pub mod events;
pub mod export;
pub mod gate;
mod listing;
mod manifests;
mod metrics;
pub mod outbound;
pub mod push_rules;
mod ratelimit;
pub mod retention;
mod route;
pub mod scan_gate;
pub mod scanner;
mod serve;
mod stall;
pub mod ui;
mod uploads;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

pub use api::account_json;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use zoll_oci::{Digest, RepoName};
use zoll_store::{Store, StoreError};

pub use auth::{Auth, AuthSettings, Identity};
pub use error::{ApiError, ApiResult};
pub use events::HookSettings;
pub use metrics::{ConnectionStats, Metrics, ReaderToken};
pub use serve::{ServeOptions, TlsFiles, serve};

use access::{Action, Decision};

/// Parsers of request input the fuzz targets drive (`cargo afl build` sets `--cfg fuzzing`).
#[cfg(fuzzing)]
pub mod fuzzing {
    use axum::http::HeaderMap;

    /// Every header parser a request reaches before a handler: the route of the path, Basic
    /// credentials, `Range` for a blob of `size` and an upload's `Content-Range`.
    pub fn request(path: &str, headers: &HeaderMap, size: u64) {
        let _ = crate::route::Route::parse(path);
        let _ = crate::auth::basic_credentials(headers);
        let _ = crate::blobs::byte_range(headers, size);
        let _ = crate::uploads::content_range(headers);
    }
}
use route::Route;

/// Limits on what clients may send; all configurable.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_manifest_bytes: usize,
    pub max_name_len: usize,
    /// Largest page a tags list or catalog returns, whatever `n` asks for.
    pub max_page: u64,
    /// A request body from which no byte arrived for this long fails (0: never).
    pub body_timeout: std::time::Duration,
    /// Deepest nesting of arrays and objects in a manifest or API document (at most
    /// [`zoll_oci::json::MAX_DEPTH`]).
    pub max_json_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: 4 << 20,
            max_name_len: 255,
            max_page: 10_000,
            body_timeout: std::time::Duration::from_secs(60),
            max_json_depth: 64,
        }
    }
}

/// Shared state of the HTTP layer. Nothing in it changes with requests except the metrics
/// counters and the wake-up of the webhook sender.
pub struct App {
    pub store: Arc<Store>,
    pub limits: Limits,
    pub auth: Auth,
    pub hooks: HookSettings,
    /// Record every manifest pull in the audit trail.
    pub audit_pulls: bool,
    /// Log every request at info (method, path, status, duration, user, source, bytes);
    /// off: only changes at info, reads at debug.
    pub access_log: bool,
    /// The audit trail's group-commit writer (`audit.rs`).
    pub(crate) audit_log: audit::Writer,
    pub metrics: Metrics,
    /// The dedicated scraper's token for `/metrics` (`[metrics] token_file`); `None`: only
    /// system administrators read metrics.
    pub metrics_reader: Option<ReaderToken>,
    pub hook_wakeup: tokio::sync::Notify,
    /// The trust-policy pull gate (`gate.rs`); `None`: manifests are served ungated.
    pub pull_gate: Option<Arc<zoll_policy::Engine>>,
    /// This registry's name as Notation trust-policy scopes write it (`[policy] registry`).
    pub pull_gate_registry: String,
    /// Quorum-approved signing (`approvals.rs`); `None`: no quorum keys configured.
    pub approvals: Option<Arc<zoll_approval::Approvals>>,
    pub scanner: scanner::Scanner,
    /// One backup snapshot read at a time (`api/backup.rs`): each holds every metadata row in
    /// memory until its stream is sent.
    pub(crate) backup_reads: Arc<tokio::sync::Semaphore>,
    /// Who makes a missing project by pushing into it (`[projects] create_on_push`).
    pub create_projects_on_push: push_rules::CreateOnPush,
    /// The web console (`/ui/`).
    pub ui: ui::UiSettings,
}

impl App {
    /// The registry over `store`; loads (on first start: creates) the token-signing key.
    pub async fn new(
        store: Arc<Store>,
        limits: Limits,
        auth: AuthSettings,
    ) -> Result<App, StoreError> {
        let auth = Auth::load(&store, auth).await?;
        let audit_log = audit::Writer::start(&store);
        Ok(App {
            store,
            limits,
            auth,
            hooks: HookSettings::default(),
            audit_pulls: true,
            access_log: true,
            audit_log,
            metrics: Metrics::default(),
            backup_reads: Arc::new(tokio::sync::Semaphore::new(1)),
            metrics_reader: None,
            hook_wakeup: tokio::sync::Notify::new(),
            pull_gate: None,
            pull_gate_registry: String::new(),
            approvals: None,
            scanner: scanner::Scanner::default(),
            create_projects_on_push: push_rules::CreateOnPush::default(),
            ui: ui::UiSettings::default(),
        })
    }
}

impl App {
    /// Writes the counts of refused attempts that were over their client's budget now
    /// rather than at the next minute (at shutdown, and for tests).
    pub async fn write_denial_summaries(&self) {
        self.audit_log.summarize_denials().await;
    }
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

/// Whether the request names a loopback host. Without authentication (`--no-auth`, which
/// serves on loopback only) a web page whose DNS name was rebound to 127.0.0.1 would
/// otherwise act on the registry with everyone's rights; its requests carry that name, not
/// a loopback one (review finding).
fn loopback_host(parts: &axum::http::request::Parts) -> bool {
    let Some(host) = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
    else {
        // HTTP/1.0 without Host: only a local client sends that.
        return true;
    };
    let bare = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_console(app: &App, path: &str) -> bool {
    app.ui.enabled && (path == "/ui" || path.starts_with("/ui/"))
}

/// A change (any method but `GET`, `HEAD`, `OPTIONS`) that a browser says a page of another
/// site sent (`Sec-Fetch-Site`), or whose `Origin` is not this server. Registry clients send
/// neither header; a browser holding cached Basic credentials for this registry sends both,
/// so a page elsewhere cannot act with them (the console checks its own forms). Review
/// finding: a cross-site form could post to `/api/v1/users` as a logged-in administrator.
fn cross_site_change(parts: &axum::http::request::Parts) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let h = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = h("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return true;
    }
    match (h("origin"), h("host")) {
        (None, _) => false,
        (Some(origin), Some(host)) => {
            let bare = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            bare != Some(host)
        }
        (Some(_), None) => true,
    }
}

async fn dispatch(State(app): State<Arc<App>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let body = stall::StallBody::wrap(body, app.limits.body_timeout);
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let source = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "-".into());
    let bytes_in = content_length(&parts.headers);
    let cross_site = !is_console(&app, &path) && cross_site_change(&parts);
    let rebound = !app.auth.settings.enabled && !loopback_host(&parts);
    let (endpoint, resp) = match path.as_str() {
        _ if rebound => (
            "refused",
            ApiError::new(
                StatusCode::FORBIDDEN,
                "DENIED",
                "without authentication this registry answers only requests addressed to a \
                 loopback name (localhost, 127.0.0.1, [::1])",
            )
            .into_response(),
        ),
        _ if cross_site => (
            "refused",
            ApiError::new(
                StatusCode::FORBIDDEN,
                "DENIED",
                "a change sent by a web page of another site is refused",
            )
            .into_response(),
        ),
        "/token" => (
            "token",
            auth::token_endpoint(&app, &parts, body, &source)
                .await
                .unwrap_or_else(IntoResponse::into_response),
        ),
        "/healthz" => ("health", (StatusCode::OK, "ok\n").into_response()),
        "/readyz" => ("health", readiness(&app).await),
        "/metrics" => ("metrics", api::metrics(&app, &parts, &source).await),
        p if p == "/api/v1" || p.starts_with("/api/v1/") => {
            ("api", api::handle(&app, &parts, body, &source).await)
        }
        p if is_console(&app, p) => ("ui", ui::handle(&app, &parts, body, &source).await),
        p => match Route::parse(p) {
            Some(route) => (
                route.endpoint(),
                v2(&app, route, &parts, body, &source).await,
            ),
            None => (
                "unknown",
                ApiError::new(StatusCode::NOT_FOUND, "UNSUPPORTED", "no such endpoint")
                    .into_response(),
            ),
        },
    };
    let status = resp.status();
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let bytes_out = content_length(resp.headers());
    app.metrics
        .observe(endpoint, &method, status.as_u16(), ms, bytes_in, bytes_out);
    let user = resp
        .extensions()
        .get::<AccessUser>()
        .map_or("-", |u| u.0.as_str());
    let status = status.as_u16();
    if app.access_log || !(method == Method::GET || method == Method::HEAD) {
        tracing::info!(%method, %path, status, ms, user, %source, bytes_in, bytes_out, "request");
    } else {
        tracing::debug!(%method, %path, status, ms, user, %source, bytes_in, bytes_out, "request");
    }
    resp
}

/// Who a response was for, as the access log names them: set by the handlers that
/// authenticated the request (the Distribution and management APIs).
#[derive(Clone)]
pub(crate) struct AccessUser(pub(crate) String);

fn content_length(h: &HeaderMap) -> u64 {
    header_str(h, header::CONTENT_LENGTH)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Ready when the metadata database answers.
async fn readiness(app: &App) -> Response {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "metadata database unavailable\n",
            )
                .into_response()
        }
    }
}

/// What a Distribution API request needs: an action on a repository, or (base, catalog)
/// just an authenticated caller.
fn requirement<'a>(route: &Route<'a>, m: &Method) -> Option<(Action, &'a str)> {
    let read = m == Method::GET || m == Method::HEAD;
    Some(match *route {
        Route::Base | Route::Catalog => return None,
        Route::Tags { name } | Route::Referrers { name, .. } => (Action::Pull, name),
        Route::Manifest { name, .. } | Route::Blob { name, .. } if read => (Action::Pull, name),
        Route::Manifest { name, .. } | Route::Blob { name, .. } if m == Method::DELETE => {
            (Action::Delete, name)
        }
        Route::Manifest { name, .. } | Route::Blob { name, .. } => (Action::Push, name),
        Route::UploadStart { name } | Route::Upload { name, .. } => (Action::Push, name),
    })
}

/// The token scope a client should ask for to do `action` on `name`.
fn scope(action: Action, name: &str) -> String {
    let actions = match action {
        Action::Push => "pull,push",
        other => other.as_str(),
    };
    format!("repository:{name}:{actions}")
}

async fn v2(
    app: &App,
    route: Route<'_>,
    parts: &axum::http::request::Parts,
    body: Body,
    source: &str,
) -> Response {
    let identity = match admit(app, &route, parts, source).await {
        Ok(identity) => identity,
        Err(refusal) => return drain_then(refusal, &parts.headers, body).await,
    };
    let mut resp = handle(app, &identity, route.clone(), parts, body, source)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    resp.extensions_mut()
        .insert(AccessUser(identity.name().to_owned()));
    record_v2(
        app,
        &identity,
        &route,
        parts,
        source,
        resp.status(),
        resp.headers(),
    )
    .await;
    resp
}

/// The scope a 401 asks for: the route's, and for a cross-repository mount the source's
/// pull too (a client following a challenge that named only the target would never get a
/// token that allows the mount).
fn challenge_scope(
    app: &App,
    route: &Route<'_>,
    need: Option<(Action, &str)>,
    uri: &axum::http::Uri,
) -> Option<String> {
    let (action, name) = need?;
    let mut s = scope(action, name);
    if matches!(route, Route::UploadStart { .. }) {
        let q = query(uri);
        if let (Some(_), Some(from)) = (q.get("mount"), q.get("from"))
            && app.repo(from).is_ok()
            && from != name
        {
            s.push(' ');
            s.push_str(&scope(Action::Pull, from));
        }
    }
    Some(s)
}

/// Who is asking, if they may do what the route needs; otherwise the refusal (401 with a
/// challenge, 403, 429).
async fn admit(
    app: &App,
    route: &Route<'_>,
    parts: &axum::http::request::Parts,
    source: &str,
) -> Result<Identity, Response> {
    let h = &parts.headers;
    let need = requirement(route, &parts.method);
    // A name outside the grammar is refused before anything is looked up, recorded or
    // announced with it.
    if let Some((_, name)) = need {
        app.repo(name).map_err(IntoResponse::into_response)?;
    }
    let wanted_scope = challenge_scope(app, route, need, &parts.uri);
    let identity = match app.auth.authenticate(&app.store, h, source).await {
        Ok(i) => i,
        Err(refused) => {
            let who = auth::basic_credentials(h)
                .and_then(Result::ok)
                .map(|(u, _)| u)
                .unwrap_or_else(|| "unknown".into());
            let target = audit::v2_target(route, parts.uri.query());
            audit::record(app, &who, source, "login", &target, "denied", refused.why()).await;
            return Err(app
                .auth
                .refusal(h, wanted_scope.as_deref(), refused)
                .into_response());
        }
    };
    let anonymous = matches!(identity.principal, auth::Principal::Anonymous);
    let unauthorized = |why: &str| {
        app.auth
            .unauthorized(h, wanted_scope.as_deref(), why)
            .into_response()
    };
    match need {
        None if anonymous => return Err(unauthorized("authentication required")),
        None => {}
        Some((action, name)) => {
            let decision = access::decide(&app.store, &identity, action, name).await;
            let mut refusal = match decision {
                Ok(Decision::Allow) => None,
                Ok(Decision::NeedScope) => {
                    return Err(unauthorized("the token does not grant this"));
                }
                Ok(Decision::Deny) if anonymous => {
                    return Err(unauthorized("authentication required"));
                }
                Ok(Decision::Deny) if action == Action::Push => {
                    Some(push_rules::push_refused(identity.name(), name))
                }
                Ok(Decision::Deny) => Some(format!(
                    "{} may not {} {name}",
                    identity.name(),
                    action.as_str()
                )),
                Err(e) => return Err(ApiError::from(e).into_response()),
            };
            // A push into a project that does not exist: refused with the reason, or (an
            // administrator, when the rule says so) the project is made first. Checked where
            // a push begins (an upload's start, a manifest), not on each chunk of an upload
            // that began: the blob path stays free of the extra lookup, and a manifest is
            // still checked before anything is named in a missing project.
            if action == Action::Push && !matches!(route, Route::Upload { .. }) {
                match push_rules::project_for_push(app, &identity, name, source).await {
                    Ok(Some(why)) => refusal = Some(why),
                    Ok(None) => {}
                    Err(e) => return Err(ApiError::from(e).into_response()),
                }
            }
            if let Some(why) = refusal {
                let target = audit::v2_target(route, parts.uri.query());
                audit::denied(app, identity.name(), source, action, &target, &why).await;
                return Err(ApiError::new(StatusCode::FORBIDDEN, "DENIED", why).into_response());
            }
        }
    }
    Ok(identity)
}

/// Most request body read and discarded before a refusal is sent.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Reads `body` to its end, dropping each piece as it comes (nothing is kept); `false` if
/// it fails or carries more than `limit` bytes.
async fn discard(body: Body, limit: u64) -> bool {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut seen = 0u64;
    while let Some(piece) = stream.next().await {
        match piece {
            Ok(b) => {
                seen += b.len() as u64;
                if seen > limit {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// Sends a refusal of a request whose body was not read, after reading (and discarding) the
/// body: a server that answers and closes while the client still sends makes the client see
/// a broken pipe instead of the 401, and it never retries with a token. Bounded: past
/// [`DRAIN_LIMIT`] the connection is closed. A client that sent `Expect: 100-continue`
/// has not sent its body and is answered at once.
async fn drain_then(mut refusal: Response, h: &HeaderMap, body: Body) -> Response {
    let expects = header_str(h, header::EXPECT)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    let announced = content_length(h);
    let chunked = h.contains_key(header::TRANSFER_ENCODING);
    if expects || (announced == 0 && !chunked) {
        return refusal;
    }
    let drained = announced <= DRAIN_LIMIT && discard(body, DRAIN_LIMIT).await;
    if !drained {
        refusal
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    refusal
}

/// Audit record and event of a finished Distribution API request.
async fn record_v2(
    app: &App,
    identity: &Identity,
    route: &Route<'_>,
    parts: &axum::http::request::Parts,
    source: &str,
    status: StatusCode,
    resp_headers: &HeaderMap,
) {
    let query = parts.uri.query();
    let Some(action) = audit::v2_action(route, &parts.method, query) else {
        return;
    };
    if action == "pull" && (!app.audit_pulls || !status.is_success()) {
        return;
    }
    let outcome = if status.is_success() {
        "ok"
    } else if status == StatusCode::FORBIDDEN {
        "denied"
    } else {
        "failed"
    };
    let digest = header_str(resp_headers, "docker-content-digest".parse().expect("name"))
        .unwrap_or("")
        .to_owned();
    let detail = if status.is_success() {
        digest.clone()
    } else {
        format!("status {}", status.as_u16())
    };
    let target = audit::v2_target(route, query);
    audit::record(
        app,
        identity.name(),
        source,
        action,
        &target,
        outcome,
        &detail,
    )
    .await;
    if outcome != "ok" {
        return;
    }
    if action == "manifest.push" {
        app.scanner.wakeup.notify_one();
    }
    let kind = match action {
        "manifest.push" => events::PUSHED,
        "manifest.delete" | "tag.delete" => events::DELETED,
        _ => return,
    };
    let mut event = events::Event::new(kind, &target).actor(identity.name());
    if !digest.is_empty() {
        event = event.data("digest", serde_json::json!(digest));
    }
    events::emit(app, event).await;
}

async fn handle(
    app: &App,
    id: &Identity,
    route: Route<'_>,
    parts: &axum::http::request::Parts,
    body: Body,
    source: &str,
) -> ApiResult {
    let m = &parts.method;
    let q = query(&parts.uri);
    let h = &parts.headers;
    let is = |x: &Method| m == x;
    match route {
        Route::Base if is(&Method::GET) || is(&Method::HEAD) => {
            Ok(axum::Json(serde_json::json!({})).into_response())
        }
        Route::Catalog if is(&Method::GET) => listing::catalog(app, id, &q).await,
        Route::Tags { name } if is(&Method::GET) => listing::tags(app, &app.repo(name)?, &q).await,
        Route::Referrers { name, digest } if is(&Method::GET) => {
            listing::referrers(app, &app.repo(name)?, &parse_digest(digest)?, &q).await
        }
        Route::Manifest { name, reference } => {
            let repo = app.repo(name)?;
            let reference = zoll_oci::Reference::parse(reference).map_err(reference_error)?;
            match *m {
                Method::GET | Method::HEAD => {
                    // Resolved once: the gate judges exactly the manifest that is served (a
                    // tag resolved twice could move between the decision and the answer).
                    let manifest = app.store.manifest(&repo, &reference).await?;
                    gate::check(app, id, &repo, &manifest, source).await?;
                    manifests::get(&manifest, &reference, h, *m == Method::HEAD)
                }
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
            uploads::start(app, id, &app.repo(name)?, &q, h, body, source).await
        }
        Route::Upload { name, id: upload } => {
            let repo = app.repo(name)?;
            match *m {
                Method::GET => uploads::status(app, &repo, upload).await,
                Method::PATCH => uploads::patch(app, &repo, upload, h, body).await,
                Method::PUT => uploads::finish(app, &repo, upload, &q, h, body).await,
                Method::DELETE => uploads::cancel(app, &repo, upload).await,
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

pub(crate) fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A header value from text we produced ourselves (digests, paths made of validated names).
fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).expect("validated header text")
}
