//! The web console under `/ui/` (issue 17): server-rendered HTML (maud templates in
//! `pages.rs`, checked and escaped at compile time), a vendored htmx for enhancements only
//! (`assets.rs`), sessions in the metadata database (`session.rs`). This module routes, sets
//! the security headers every `/ui/` response carries, and runs the handlers; each handler
//! asks the same questions of `access` as the management API does (through `api::Ctx`), so
//! the console can never show or do what the API would refuse.
//!
//! The session cookie is read here and nowhere else: `/v2/` and `/api/` authenticate with
//! Basic or Bearer only. Every change is a `POST` whose `Origin` (or `Referer`) must name
//! this server and, once logged in, whose form must carry the session's form token.

mod admin;
mod approvals;
mod artifact;
mod artifact_view;
mod assets;
mod audit;
mod pages;
mod session;

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::App;
use crate::access::{Action, allowed};
use crate::api::Ctx;
use crate::auth::Refused;
use crate::error::ApiError;
use session::Session;

pub use session::{PLAIN_COOKIE, SECURE_COOKIE};

/// The console's settings (`[ui]`).
#[derive(Debug, Clone)]
pub struct UiSettings {
    /// Serve `/ui/` at all.
    pub enabled: bool,
    /// `Secure` cookie named `__Host-zoll_session`; off only for plain HTTP on a loopback
    /// listener, where the cookie is `zoll_session` without `Secure`.
    pub secure_cookie: bool,
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after its login, used or not.
    pub absolute: Duration,
    /// Sessions one account keeps at most; a login beyond ends its oldest.
    pub max_sessions_per_account: u32,
    /// The origin browsers see (`https://registry.example.com`), when a proxy in front
    /// changes the scheme or host: forms are checked against it rather than the request's
    /// `Host`, and the cookie is `Secure` when it is HTTPS (`[ui] origin`).
    pub origin: Option<String>,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            enabled: true,
            secure_cookie: true,
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            max_sessions_per_account: 10,
            origin: None,
        }
    }
}

/// The policy of every `/ui/` response: no inline script or style, nothing from elsewhere,
/// never framed. `connect-src 'self'` is the one addition to issue 17's list: without it
/// `default-src 'none'` blocks every request htmx makes, and a filter form htmx took over
/// would do nothing at all (the browser test saw exactly that).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Rows a listing page shows unless `n` asks for fewer; `n` is capped at [`MAX_PAGE`].
const DEFAULT_PAGE: u64 = 50;
const MAX_PAGE: u64 = 200;
/// Largest form body read (a login or a logout form).
const MAX_FORM: usize = 16 * 1024;

/// Serves one `/ui` request.
pub(crate) async fn handle(
    app: &App,
    parts: &axum::http::request::Parts,
    body: Body,
    source: &str,
) -> Response {
    let path = parts.uri.path();
    let mut resp = if let Some(name) = path.strip_prefix("/ui/static/") {
        assets::serve(&parts.method, name)
    } else {
        let mut r = route(app, parts, body, source)
            .await
            .unwrap_or_else(|e| e.into_response());
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

/// A page that could not be shown, as HTML with its status.
struct Failure {
    status: StatusCode,
    message: String,
    user: Option<(String, String)>,
    retry_after: Option<u64>,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            user: None,
            retry_after: None,
        }
    }

    /// Shown to a logged-in account (with `--no-auth` nobody is logged in).
    fn for_session(mut self, s: &Session) -> Failure {
        if s.identity.account().is_some() {
            self.user = Some((s.name().to_owned(), s.form_token()));
        }
        self
    }

    fn into_response(self) -> Response {
        let user = self.user.as_ref().map(|(n, t)| (n.as_str(), t.as_str()));
        let mut r = html(self.status, pages::error(self.status, &self.message, user));
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        if e.status.is_server_error() {
            // The page says only that it failed; what failed goes to the log.
            tracing::error!(error = %e.message, "console page failed");
            return Failure::new(e.status, "the registry could not answer; try again later");
        }
        Failure::new(e.status, e.message)
    }
}

impl From<zoll_store::StoreError> for Failure {
    fn from(e: zoll_store::StoreError) -> Failure {
        ApiError::from(e).into()
    }
}

fn html(status: StatusCode, page: maud::Markup) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        page.into_string(),
    )
        .into_response()
}

fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(to).expect("our path"),
        )],
    )
        .into_response()
}

async fn route(
    app: &App,
    parts: &axum::http::request::Parts,
    body: Body,
    source: &str,
) -> Result<Response, Failure> {
    // The prefix once: `/ui/ui/projects` is no page (review finding).
    let path = parts.uri.path().strip_prefix("/ui").unwrap_or_default();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let q = crate::query(&parts.uri);
    let m = &parts.method;
    if *m == Method::POST {
        // Every change: from a page of this server, or not at all.
        if !session::same_origin(&app.ui, &parts.headers, &parts.uri) {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                "refused: the form was not sent from a page of this server",
            ));
        }
        return match segs.as_slice() {
            ["login"] => login(app, parts, body, source).await,
            ["logout"] => logout(app, parts, body, source).await,
            ["audit", "verify"] => audit::verify(app, parts, body, source).await,
            ["projects", p, "robots"] => admin::robots_create(app, parts, body, p, source).await,
            ["projects", p, rest @ ..] => match admin::Change::of(rest) {
                Some(what) => admin::change(app, parts, body, p, what, source).await,
                None => Err(Failure::new(StatusCode::NOT_FOUND, "no such page")),
            },
            _ => Err(Failure::new(StatusCode::NOT_FOUND, "no such page")),
        };
    }
    if *m != Method::GET && *m != Method::HEAD {
        return Err(Failure::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ));
    }
    if segs == ["login"] {
        return Ok(html(StatusCode::OK, pages::login(None, "")));
    }
    let Some(s) = viewer(app, parts).await? else {
        return Ok(see_other("/ui/login"));
    };
    let page = match segs.as_slice() {
        [""] => return Ok(see_other("/ui/projects")),
        ["audit", "export.csv"] => return audit::export(app, &s, &q, source, true).await,
        ["audit", "export.json"] => return audit::export(app, &s, &q, source, false).await,
        ["audit"] => audit::page(app, &s, &q, source).await,
        ["approvals"] => approvals::inbox(app, &s, &q, source).await,
        ["approvals", id] => approvals::detail(app, &s, id, source).await,
        ["projects"] => projects(app, &s, &q).await,
        ["projects", p] => repositories(app, &s, p, &q, source).await,
        ["projects", p, "members"] => admin::members_page(app, &s, p, source).await,
        ["projects", p, "robots"] => admin::robots_page(app, &s, p, source).await,
        ["projects", p, "settings"] => admin::settings_page(app, &s, p, source).await,
        ["projects", p, "retention"] => admin::retention_page(app, &s, p, source).await,
        ["projects", p, "webhooks"] => admin::webhooks_page(app, &s, p, source).await,
        ["repositories", ..] => {
            // Once: a repository of a project named `repositories` keeps its name.
            let name = path.strip_prefix("/repositories/").unwrap_or_default();
            match artifact::parse_path(name) {
                Some((repo, digest, false)) => {
                    let filter = q.get("q").map_or("", String::as_str);
                    artifact::page(app, &s, repo, digest, filter, source).await
                }
                Some((repo, digest, true)) => {
                    artifact::explain(app, &s, repo, digest, source).await
                }
                None => artifacts(app, &s, name, &q, source).await,
            }
        }
        _ => Err(Failure::new(StatusCode::NOT_FOUND, "no such page")),
    };
    let mut resp = page
        .map(|p| html(StatusCode::OK, p))
        .map_err(|f| f.for_session(&s))?;
    resp.extensions_mut()
        .insert(crate::AccessUser(s.name().to_owned()));
    Ok(resp)
}

/// Who is looking: the session's account, or — with authentication off (`--no-auth`) —
/// everyone, as on the APIs.
async fn viewer(app: &App, parts: &axum::http::request::Parts) -> Result<Option<Session>, Failure> {
    if !app.auth.settings.enabled {
        return Ok(Some(Session {
            identity: crate::auth::Identity {
                principal: crate::auth::Principal::Unrestricted,
                token_access: None,
            },
            token: String::new(),
        }));
    }
    Ok(session::current(&app.store, &app.ui, &parts.headers).await?)
}

/// The management API's request context for the session's identity: its `require` and
/// `project` are the checks every console page makes, exactly as the API endpoint would.
fn ctx<'a>(app: &'a App, s: &'a Session, source: &'a str) -> Ctx<'a> {
    Ctx {
        app,
        id: &s.identity,
        source,
        query: Default::default(),
    }
}

/// The fields of a URL-encoded form (bounded).
async fn form(body: Body) -> Result<Vec<(String, String)>, Failure> {
    let bytes = http_body_util::Limited::new(body, MAX_FORM)
        .collect()
        .await
        .map_err(|_| Failure::new(StatusCode::BAD_REQUEST, "form too large or unreadable"))?
        .to_bytes();
    Ok(url::form_urlencoded::parse(&bytes).into_owned().collect())
}

fn field<'a>(f: &'a [(String, String)], name: &str) -> &'a str {
    f.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

async fn login(
    app: &App,
    parts: &axum::http::request::Parts,
    body: Body,
    source: &str,
) -> Result<Response, Failure> {
    if !app.auth.settings.enabled {
        return Ok(see_other("/ui/projects"));
    }
    let f = form(body).await?;
    let (user, pass) = (field(&f, "username"), field(&f, "password"));
    let now = app.store.now_ms();
    let refused = match app.auth.login(&app.store, user, pass, source, now).await {
        Ok(a) if a.kind == zoll_store::AccountKind::User => None,
        Ok(_) => Some(Refused::Credentials(
            "robot accounts cannot use the console".into(),
        )),
        Err(r) => Some(r),
    };
    if let Some(r) = refused {
        crate::audit::record(app, user, source, "console.login", "ui", "denied", r.why()).await;
        let (status, retry) = match &r {
            Refused::Throttled {
                retry_after_secs, ..
            } => (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after_secs)),
            Refused::Credentials(_) => (StatusCode::UNAUTHORIZED, None),
        };
        let message = match retry {
            Some(_) => "Too many failed logins; try again later.",
            None => "Wrong user name or password.",
        };
        let mut resp = html(status, pages::login(Some(message), user));
        if let Some(secs) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        return Ok(resp);
    }
    // A session the browser brought along ends: a login always starts a new token, so a
    // token planted before the login is worth nothing after it.
    if let Some(old) = session::cookie_token(&app.ui, &parts.headers) {
        session::end(&app.store, &old).await?;
    }
    let token = session::start(&app.store, &app.ui, user).await?;
    crate::audit::record(app, user, source, "console.login", "ui", "ok", "").await;
    let mut resp = see_other("/ui/projects");
    resp.headers_mut()
        .insert(header::SET_COOKIE, session::set_cookie(&app.ui, &token));
    Ok(resp)
}

/// The one way into a state-changing form (after `route` checked the origin): a live
/// session — `None` sends to the login page — and the session's form token in the form
/// (compared in constant time); returns the session and the form's fields.
async fn session_form(
    app: &App,
    parts: &axum::http::request::Parts,
    body: Body,
) -> Result<Option<(Session, Vec<(String, String)>)>, Failure> {
    let Some(s) = session::current(&app.store, &app.ui, &parts.headers).await? else {
        return Ok(None);
    };
    let f = form(body).await?;
    if !session::form_token_ok(&s, field(&f, "csrf")) {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "refused: the form token is missing or wrong (reload the page and try again)",
        )
        .for_session(&s));
    }
    Ok(Some((s, f)))
}

async fn logout(
    app: &App,
    parts: &axum::http::request::Parts,
    body: Body,
    source: &str,
) -> Result<Response, Failure> {
    let Some((s, _)) = session_form(app, parts, body).await? else {
        return Ok(see_other("/ui/login"));
    };
    session::end(&app.store, &s.token).await?;
    crate::audit::record(app, s.name(), source, "console.logout", "ui", "ok", "").await;
    let mut resp = see_other("/ui/login");
    resp.headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(&app.ui));
    Ok(resp)
}

/// `n` of the query, within bounds.
fn page_size(q: &std::collections::HashMap<String, String>) -> u64 {
    q.get("n")
        .and_then(|n| n.parse::<u64>().ok())
        .map_or(DEFAULT_PAGE, |n| n.clamp(1, MAX_PAGE))
}

/// The projects the viewer may pull from (as `GET /api/v1/projects` lists them).
async fn projects(
    app: &App,
    s: &Session,
    q: &std::collections::HashMap<String, String>,
) -> Result<maud::Markup, Failure> {
    let filter = q.get("q").map_or("", String::as_str);
    let after = q.get("after").map_or("", String::as_str);
    let n = page_size(q);
    let mut rows = Vec::new();
    let mut more = false;
    let visible = crate::listing::visible_projects(app, &s.identity).await?;
    for p in app.store.projects().await? {
        if !p.name.starts_with(filter)
            || p.name.as_str() <= after
            || crate::listing::outside(visible.as_deref(), &p.name)
        {
            continue;
        }
        if !allowed(&app.store, &s.identity, Action::Pull, &p.name).await? {
            continue;
        }
        if rows.len() as u64 == n {
            more = true;
            break;
        }
        rows.push(p);
    }
    let next = more.then(|| rows.last().map(|p| p.name.clone())).flatten();
    Ok(pages::projects(
        &pages::Frame::of(s),
        &rows,
        filter,
        n,
        next.as_deref(),
    ))
}

/// The repositories of a project (as the API's `GET /api/v1/projects/{p}` is authorized).
async fn repositories(
    app: &App,
    s: &Session,
    project: &str,
    q: &std::collections::HashMap<String, String>,
    source: &str,
) -> Result<maud::Markup, Failure> {
    let c = Ctx {
        app,
        id: &s.identity,
        source,
        query: Default::default(),
    };
    c.require(Action::Pull, project, "project.read").await?;
    let p = c.project(project).await?;
    let filter = q.get("q").map_or("", String::as_str);
    let n = page_size(q);
    let mut rows = app
        .store
        .repository_page(&p.name, filter, q.get("after").map(String::as_str), n + 1)
        .await?;
    let next = (rows.len() as u64 > n).then(|| {
        rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        rows.last().cloned()
    });
    Ok(pages::repositories(
        &pages::Frame::of(s),
        &p,
        &rows,
        filter,
        n,
        next.flatten().as_deref(),
    ))
}

/// The tagged artifacts of a repository (authorized as a pull of it, as `/v2/` would).
async fn artifacts(
    app: &App,
    s: &Session,
    name: &str,
    q: &std::collections::HashMap<String, String>,
    source: &str,
) -> Result<maud::Markup, Failure> {
    let repo = app.repo(name)?;
    let c = ctx(app, s, source);
    c.require(Action::Pull, repo.as_str(), "repository.read")
        .await?;
    let filter = q.get("q").map_or("", String::as_str);
    let order = match q.get("sort").map(String::as_str) {
        Some("newest") => zoll_store::TagOrder::Newest,
        _ => zoll_store::TagOrder::Name,
    };
    let after = q.get("after").map(|tag| zoll_store::TagCursor {
        tag: tag.clone(),
        pushed_ms: q.get("at").and_then(|a| a.parse().ok()).unwrap_or(i64::MAX),
    });
    let n = page_size(q);
    let Some(mut rows) = app
        .store
        .tag_page(repo.as_str(), filter, order, after.as_ref(), n + 1)
        .await?
    else {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            format!("repository {repo} not found"),
        ));
    };
    let next = (rows.len() as u64 > n).then(|| {
        rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        rows.last().cloned()
    });
    let facts = artifact::row_facts(app, &repo, &rows).await?;
    Ok(pages::artifacts(
        &pages::Frame::of(s),
        repo.as_str(),
        &rows,
        &facts,
        &pages::Listing {
            filter,
            sort: order,
            n,
        },
        next.flatten().as_ref(),
    ))
}
