//! A project's administration in the console, one page per management-API resource and
//! authorized by the very functions the API's handlers call (`api::members`,
//! `api::robots`, `api::projects::quota`, `api::rules`, `api::webhooks`), so a page or a
//! form answers exactly as the API call would, refusals and audit records included:
//!
//! | console | API |
//! |---|---|
//! | `GET /ui/projects/{p}/members` | `GET .../members` |
//! | `POST /ui/projects/{p}/members` (`account`, `role`) | `PUT .../members/{account}` |
//! | `POST /ui/projects/{p}/members/remove` (`account`) | `DELETE .../members/{account}` |
//! | `GET /ui/projects/{p}/robots` | `GET .../robots` |
//! | `POST /ui/projects/{p}/robots` | `POST .../robots` (the secret shown once) |
//! | `POST /ui/projects/{p}/robots/delete` (`name`) | `DELETE .../robots/{name}` |
//! | `GET /ui/projects/{p}/settings` | `GET .../quota`, `.../immutable`, `.../retention` |
//! | `POST /ui/projects/{p}/quota` (`max_mib`, `max_artifacts`) | `PUT .../quota` |
//! | `POST /ui/projects/{p}/immutable` (`repositories`, `tags`) | `PUT .../immutable` (one rule more) |
//! | `POST /ui/projects/{p}/immutable/remove` (`repositories`, `tags`) | `PUT .../immutable` (that rule less) |
//! | `POST /ui/projects/{p}/retention` (`keep_last`, `keep_days`, `keep_tags`) | `PUT .../retention` |
//! | `POST /ui/projects/{p}/retention/remove` | `DELETE .../retention` |
//! | `GET /ui/projects/{p}/retention` | `POST .../retention/run?dry_run=true` |
//! | `GET /ui/projects/{p}/webhooks` | `GET .../webhooks` and each `.../deliveries` |
//! | `POST /ui/projects/{p}/webhooks` (`url`, `secret`, `event`…) | `POST .../webhooks` |
//! | `POST /ui/projects/{p}/webhooks/delete` (`id`) | `DELETE .../webhooks/{id}` |

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use zoll_store::{Account, Attempt, Delivery, Webhook};

use super::pages::{Frame, layout, size, time};
use super::session::Session;
use super::{Failure, field, html as page_response, see_other};
use crate::App;
use crate::access::{self, Action, RobotPermission, allowed};
use crate::api::{members, projects, robots, rules, webhooks};
use crate::retention::RetentionItem;

/// Most rows a members or robots table shows.
const MAX_ROWS: usize = 500;
/// Deliveries shown per webhook.
const DELIVERIES: u64 = 20;
/// Roles offered, most powerful first.
const ROLES: [&str; 4] = ["project-admin", "maintainer", "developer", "guest"];
fn crumbs(p: &str) -> [(&str, String); 2] {
    [
        ("Projects", "/ui/projects".to_owned()),
        (p, format!("/ui/projects/{p}")),
    ]
}

/// The project's administration pages, as links (shown on every one of them).
fn tabs(p: &str) -> Markup {
    html! {
        nav.tabs aria-label="Administration" {
            ul {
                li { a href={ "/ui/projects/" (p) "/members" } { "Members" } }
                li { a href={ "/ui/projects/" (p) "/robots" } { "Robots" } }
                li { a href={ "/ui/projects/" (p) "/settings" } { "Quota and rules" } }
                li { a href={ "/ui/projects/" (p) "/retention" } { "Retention preview" } }
                li { a href={ "/ui/projects/" (p) "/webhooks" } { "Webhooks" } }
            }
        }
    }
}

/// Whether the page may offer forms: only to a logged-in session (which has a form
/// token); with authentication off the console is read-only.
fn can_change(f: &Frame) -> bool {
    f.form_token().is_some()
}

fn csrf(f: &Frame) -> Markup {
    html! {
        @if let Some(t) = f.form_token() { input type="hidden" name="csrf" value=(t); }
    }
}

/// `GET /ui/projects/{p}/members`.
pub(super) async fn members_page(
    app: &App,
    s: &Session,
    p: &str,
    source: &str,
) -> Result<Markup, Failure> {
    let c = super::ctx(app, s, source);
    let rows = members::list(&c, p).await?;
    // Whether to offer the forms; the POST is authorized by itself either way.
    // Forms need a session (with authentication off there is none: read-only).
    let manage = s.identity.account().is_some()
        && allowed(&app.store, &s.identity, Action::ManageMembers, p).await?;
    let f = Frame::of(s);
    Ok(layout(
        &format!("Members of {p}"),
        f.user(),
        &crumbs(p),
        html! {
            (tabs(p))
            table {
                caption { "Members of " (p) " and their roles" }
                thead { tr { th scope="col" { "Account" } th scope="col" { "Role" }
                    @if manage { th scope="col" { "Remove" } } } }
                tbody {
                    @for (account, role) in rows.iter().take(MAX_ROWS) {
                        tr {
                            th scope="row" { (account) }
                            td { (role) }
                            @if manage {
                                td {
                                    form method="post" action={ "/ui/projects/" (p) "/members/remove" } {
                                        (csrf(&f))
                                        input type="hidden" name="account" value=(account);
                                        button type="submit" aria-label={ "Remove " (account) } { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if rows.is_empty() { p.empty { "No members." } }
            @if rows.len() > MAX_ROWS { p { "Showing " (MAX_ROWS) " of " (rows.len()) "." } }
            @if manage {
                h2 { "Add a member or change a role" }
                p { "You can give only a role whose every right you hold yourself." }
                form.admin method="post" action={ "/ui/projects/" (p) "/members" } {
                    (csrf(&f))
                    label { "Account" input type="text" name="account" required maxlength="64"; }
                    label {
                        "Role"
                        select name="role" {
                            @for r in ROLES { option value=(r) selected[r == "developer"] { (r) } }
                        }
                    }
                    button type="submit" { "Save" }
                }
            }
        },
    ))
}

/// `GET /ui/projects/{p}/robots`.
pub(super) async fn robots_page(
    app: &App,
    s: &Session,
    p: &str,
    source: &str,
) -> Result<Markup, Failure> {
    let c = super::ctx(app, s, source);
    let rows = robots::list(&c, p).await?;
    Ok(render_robots(&Frame::of(s), p, &rows, None))
}

fn permissions_text(a: &Account) -> String {
    access::robot_permissions(a)
        .iter()
        .map(|p| {
            let actions: Vec<&str> = p.actions.iter().map(|a| a.as_str()).collect();
            let on = if p.repositories.is_empty() {
                "(the project)"
            } else {
                p.repositories.as_str()
            };
            format!("{} on {on}", actions.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A robot just made: its full name, secret and expiry.
struct Made {
    name: String,
    secret: String,
    expires_ms: Option<i64>,
}

fn render_robots(f: &Frame, p: &str, rows: &[Account], made: Option<&Made>) -> Markup {
    layout(
        &format!("Robots of {p}"),
        f.user(),
        &crumbs(p),
        html! {
            (tabs(p))
            @if let Some(m) = made {
                section.secret aria-labelledby="made" role="status" {
                    h2 id="made" { "Robot " (m.name) " created" }
                    p { strong { "Copy its secret now: it is shown only this once." }
                        " The registry keeps only a hash of it." }
                    p { label { "Secret of " (m.name)
                        input type="text" readonly value=(m.secret) id="robot-secret" size="60"; } }
                    p { "Expires: " @match m.expires_ms { Some(ms) => (time(ms)), None => "never" } }
                }
            }
            table {
                caption { "Robot accounts of " (p) }
                thead { tr { @for h in ["Robot", "Permissions", "Expires", "Description"] {
                    th scope="col" { (h) } }
                    @if can_change(f) { th scope="col" { "Delete" } } } }
                tbody {
                    @for r in rows.iter().take(MAX_ROWS) {
                        tr {
                            th scope="row" { (r.name) }
                            td { (permissions_text(r)) }
                            td { @match r.expires_ms { Some(ms) => (time(ms)), None => "never" } }
                            td { (r.description) }
                            @if can_change(f) {
                                td {
                                    form method="post" action={ "/ui/projects/" (p) "/robots/delete" } {
                                        (csrf(f))
                                        input type="hidden" name="name" value=(r.name);
                                        button type="submit" aria-label={ "Delete " (r.name) } { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if rows.is_empty() { p.empty { "No robots." } }
            @if can_change(f) {
            h2 { "Create a robot" }
            p { "A robot may hold only what you hold; " code { "pull-ungated" }
                " only a system administrator may grant." }
            form.admin method="post" action={ "/ui/projects/" (p) "/robots" } {
                (csrf(f))
                label { "Name" input type="text" name="name" required maxlength="64"; }
                label { "Repositories (pattern: ** for all, app/* one level)"
                    input type="text" name="repositories" value="**" maxlength="255"; }
                fieldset {
                    legend { "Actions" }
                    @for a in access::ALL_ACTIONS {
                        label.check {
                            input type="checkbox" name="action" value=(a.as_str())
                                checked[a == Action::Pull];
                            (a.as_str())
                        }
                    }
                }
                label { "Expires in days (empty: never)"
                    input type="number" name="expires_in_days" min="1" max="36500"; }
                label { "Description" input type="text" name="description" maxlength="256"; }
                button type="submit" { "Create robot" }
            }
            }
        },
    )
}

/// `POST /ui/projects/{p}/robots`: creates the robot as the API does and answers with
/// the page that shows its secret once (the console's pages are all `no-store`, so no
/// cache keeps it; a reload asks to send the form again, and a second robot of that name
/// is refused).
pub(super) async fn robots_create(
    app: &App,
    parts: &axum::http::request::Parts,
    body: Body,
    p: &str,
    source: &str,
) -> Result<Response, Failure> {
    let Some((s, f)) = super::session_form(app, parts, body).await? else {
        return Ok(see_other("/ui/login"));
    };
    let fail = |e: crate::error::ApiError| Failure::from(e).for_session(&s);
    let c = super::ctx(app, &s, source);
    let mut actions = Vec::new();
    for (k, v) in &f {
        if k == "action" {
            let a = Action::parse(v).ok_or_else(|| {
                Failure::new(StatusCode::BAD_REQUEST, format!("unknown action {v:?}"))
                    .for_session(&s)
            })?;
            if !actions.contains(&a) {
                actions.push(a);
            }
        }
    }
    let days = field(&f, "expires_in_days").trim();
    let expires_in_days = if days.is_empty() {
        None
    } else {
        Some(days.parse::<u32>().map_err(|_| {
            Failure::new(StatusCode::BAD_REQUEST, "expires in days: a whole number").for_session(&s)
        })?)
    };
    let permissions = if actions.is_empty() {
        Vec::new()
    } else {
        vec![RobotPermission {
            repositories: field(&f, "repositories").trim().to_owned(),
            actions,
        }]
    };
    let made = robots::create(
        &c,
        p,
        robots::NewRobot {
            name: field(&f, "name").trim().to_owned(),
            permissions,
            expires_ms: None,
            expires_in_days,
            description: field(&f, "description").to_owned(),
        },
    )
    .await
    .map_err(fail)?;
    let rows = robots::list(&c, p).await.map_err(fail)?;
    let made = Made {
        name: made.name,
        secret: made.secret,
        expires_ms: made.expires_ms,
    };
    Ok(page_response(
        StatusCode::OK,
        render_robots(&Frame::of(&s), p, &rows, Some(&made)),
    ))
}

/// `GET /ui/projects/{p}/settings`: quota with usage, immutable-tag rules, retention.
pub(super) async fn settings_page(
    app: &App,
    s: &Session,
    p: &str,
    source: &str,
) -> Result<Markup, Failure> {
    let c = super::ctx(app, s, source);
    let (project, usage) = projects::quota(&c, p).await?;
    let immutable = rules::immutable(&c, p).await?;
    let retention = rules::retention(&c, p).await?;
    // Forms need a session (with authentication off there is none: read-only).
    let manage = s.identity.account().is_some()
        && allowed(&app.store, &s.identity, Action::ManagePolicies, p).await?;
    let f = Frame::of(s);
    Ok(layout(
        &format!("Quota and rules of {p}"),
        f.user(),
        &crumbs(p),
        html! {
            (tabs(p))
            table {
                caption { "Quota and usage of " (p) }
                thead { tr { th scope="col" { "Measure" } th scope="col" { "Used" } th scope="col" { "Limit" } } }
                tbody {
                    tr {
                        th scope="row" { "Storage" }
                        td.num { (size(usage.bytes())) }
                        td.num { @match project.quota_bytes { Some(b) => (size(b)), None => "none" } }
                    }
                    tr {
                        th scope="row" { "Artifacts (manifests)" }
                        td.num { (usage.manifests) }
                        td.num { @match project.quota_artifacts { Some(n) => (n), None => "none" } }
                    }
                }
            }
            @if s.identity.is_admin() && can_change(&f) {
                form.admin method="post" action={ "/ui/projects/" (p) "/quota" } {
                    (csrf(&f))
                    label { "Storage limit in MiB (empty: none)" input type="number" name="max_mib" min="0"
                        value=[project.quota_bytes.map(|b| b / (1024 * 1024))]; }
                    label { "Artifact limit (empty: none)" input type="number" name="max_artifacts" min="0"
                        value=[project.quota_artifacts]; }
                    button type="submit" { "Set the quota" }
                }
            }
            table {
                caption { "Immutable-tag rules: a tag matching one cannot be moved or deleted" }
                thead { tr { th scope="col" { "Repositories" } th scope="col" { "Tags" }
                    @if manage { th scope="col" { "Remove" } } } }
                tbody {
                    @for r in &immutable {
                        tr {
                            th scope="row" { code { (r.repositories) } }
                            td { code { (r.tags) } }
                            @if manage {
                                td {
                                    form method="post" action={ "/ui/projects/" (p) "/immutable/remove" } {
                                        (csrf(&f))
                                        input type="hidden" name="repositories" value=(r.repositories);
                                        input type="hidden" name="tags" value=(r.tags);
                                        button type="submit" aria-label={ "Remove the rule " (r.repositories) " " (r.tags) } { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if immutable.is_empty() { p.empty { "No immutable-tag rules." } }
            @if manage {
                form.admin method="post" action={ "/ui/projects/" (p) "/immutable" } {
                    (csrf(&f))
                    label { "Repositories (pattern)" input type="text" name="repositories" value="**" maxlength="255"; }
                    label { "Tags (pattern, e.g. v*)" input type="text" name="tags" required maxlength="255"; }
                    button type="submit" { "Add an immutable-tag rule" }
                }
            }
            h2 { "Retention policy" }
            @match &retention {
                None => p { "No retention policy: nothing is deleted by retention." },
                Some(r) => {
                    p { "An artifact is kept if any rule keeps it, or it is signed, or it has an immutable tag:" }
                    ul {
                        @if let Some(n) = r.keep_last { li { "the newest " (n) " of each repository" } }
                        @if !r.keep_tags.is_empty() { li { "tags matching " (r.keep_tags.join(", ")) } }
                        @if let Some(d) = r.keep_days { li { "pushed within " (d) " days" } }
                    }
                    p { a href={ "/ui/projects/" (p) "/retention" } { "Preview what it would delete, and why" } }
                    @if manage {
                        form method="post" action={ "/ui/projects/" (p) "/retention/remove" } {
                            (csrf(&f))
                            button type="submit" { "Remove the retention policy" }
                        }
                    }
                }
            }
            @if manage {
                h3 { "Set the retention policy" }
                form.admin method="post" action={ "/ui/projects/" (p) "/retention" } {
                    (csrf(&f))
                    label { "Keep the newest (per repository)" input type="number" name="keep_last" min="1"
                        value=[retention.as_ref().and_then(|r| r.keep_last)]; }
                    label { "Keep tags matching (comma-separated patterns)" input type="text" name="keep_tags"
                        maxlength="1024" value=[retention.as_ref().map(|r| r.keep_tags.join(", "))]; }
                    label { "Keep what was pushed within (days)" input type="number" name="keep_days" min="1"
                        value=[retention.as_ref().and_then(|r| r.keep_days)]; }
                    button type="submit" { "Save the policy" }
                }
            }
        },
    ))
}

/// `GET /ui/projects/{p}/retention`: the dry run of the retention policy, with the reason
/// each artifact is kept or deleted.
pub(super) async fn retention_page(
    app: &App,
    s: &Session,
    p: &str,
    source: &str,
) -> Result<Markup, Failure> {
    let c = super::ctx(app, s, source);
    let report = rules::run_retention(&c, p, true).await?;
    let policy = rules::retention(&c, p).await?;
    let f = Frame::of(s);
    let table = |caption: &str, items: &[RetentionItem]| {
        html! {
            table {
                caption { (caption) }
                thead { tr { @for h in ["Artifact", "Tags", "Pushed", "Why"] { th scope="col" { (h) } } } }
                tbody {
                    @for i in items.iter().take(MAX_ROWS) {
                        tr {
                            th scope="row" { (i.repository) br; code { (i.digest) } }
                            td { (i.tags.join(", ")) }
                            td { (time(i.pushed_ms)) }
                            td { ul.reasons { @for r in &i.reasons { li { (r) } } } }
                        }
                    }
                }
            }
            @if items.is_empty() { p.empty { "None." } }
            @if items.len() > MAX_ROWS { p { "Showing " (MAX_ROWS) " of " (items.len()) "." } }
        }
    };
    Ok(layout(
        &format!("Retention preview of {p}"),
        f.user(),
        &crumbs(p),
        html! {
            (tabs(p))
            @if policy.is_none() {
                p { "This project has no retention policy: nothing would be deleted." }
            } @else {
                p { "A dry run: nothing was deleted. "
                    (report.deleted.len()) " artifacts would be deleted, "
                    (report.kept.len()) " kept." }
                (table("Would be deleted, and why no rule keeps them", &report.deleted))
                (table("Kept, and the rules that keep them", &report.kept))
            }
        },
    ))
}

/// `GET /ui/projects/{p}/webhooks`: each webhook with its newest deliveries.
pub(super) async fn webhooks_page(
    app: &App,
    s: &Session,
    p: &str,
    source: &str,
) -> Result<Markup, Failure> {
    let c = super::ctx(app, s, source);
    let hooks = webhooks::list(&c, p).await?;
    let mut logs = Vec::new();
    for h in &hooks {
        logs.push(webhooks::deliveries(&c, p, &h.id, DELIVERIES).await?);
    }
    let f = Frame::of(s);
    Ok(layout(
        &format!("Webhooks of {p}"),
        f.user(),
        &crumbs(p),
        html! {
            (tabs(p))
            @if hooks.is_empty() { p.empty { "No webhooks." } }
            @for (h, log) in hooks.iter().zip(&logs) {
                (webhook(&f, p, h, log))
            }
            @if can_change(&f) {
            h2 { "Add a webhook" }
            form.admin method="post" action={ "/ui/projects/" (p) "/webhooks" } {
                (csrf(&f))
                label { "URL (http:// or https://)" input type="url" name="url" required maxlength="2048"; }
                label { "Secret (at least 16 bytes; signs each delivery)"
                    input type="password" name="secret" required minlength="16" maxlength="256" autocomplete="new-password"; }
                fieldset {
                    legend { "Events (none: all)" }
                    @for e in crate::events::EVENT_TYPES {
                        label.check { input type="checkbox" name="event" value=(e); (e) }
                    }
                }
                button type="submit" { "Add webhook" }
            }
            }
        },
    ))
}

fn webhook(f: &Frame, p: &str, h: &Webhook, log: &[(Delivery, Vec<Attempt>)]) -> Markup {
    html! {
        section.webhook aria-label={ "Webhook " (h.url) } {
            h2 { code { (h.url) } }
            @if can_change(f) {
                form method="post" action={ "/ui/projects/" (p) "/webhooks/delete" } {
                    (csrf(f))
                    input type="hidden" name="id" value=(h.id);
                    button type="submit" aria-label={ "Delete the webhook " (h.url) } { "Delete" }
                }
            }
            p {
                @if h.enabled { "Enabled" } @else { "Disabled" }
                "; events: " @if h.events.is_empty() { "all" } @else { (h.events.join(", ")) }
                "; created " (time(h.created_ms)) "."
            }
            table {
                caption { "Newest deliveries to " (h.url) }
                thead { tr { @for c in ["Event", "Created", "State", "Attempts"] { th scope="col" { (c) } } } }
                tbody {
                    @for (d, attempts) in log {
                        tr {
                            th scope="row" { (d.event_type) }
                            td { (time(d.created_ms)) }
                            td { (d.state) }
                            td {
                                @if attempts.is_empty() { "none yet" }
                                ul.reasons {
                                    @for a in attempts {
                                        li {
                                            "#" (a.attempt) " " (time(a.at_ms)) ": "
                                            @if let Some(st) = a.status { "HTTP " (st) }
                                            @if let Some(e) = &a.error { " " (e) }
                                            " (" (a.ms) " ms)"
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if log.is_empty() { p.empty { "No deliveries yet." } }
        }
    }
}

/// A whole number of a form field, if given.
fn number(s: &Session, f: &[(String, String)], name: &str) -> Result<Option<u32>, Failure> {
    let v = field(f, name).trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| {
        Failure::new(StatusCode::BAD_REQUEST, format!("{name}: a whole number")).for_session(s)
    })
}

/// A change an administration form asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    MemberSet,
    MemberRemove,
    Quota,
    RobotDelete,
    ImmutableAdd,
    ImmutableRemove,
    RetentionSet,
    RetentionRemove,
    WebhookAdd,
    WebhookDelete,
}

impl Change {
    /// The change of a `POST /ui/projects/{p}/…` path (what follows the project).
    pub(super) fn of(rest: &[&str]) -> Option<Change> {
        use Change::*;
        Some(match rest {
            ["members"] => MemberSet,
            ["members", "remove"] => MemberRemove,
            ["quota"] => Quota,
            ["robots", "delete"] => RobotDelete,
            ["immutable"] => ImmutableAdd,
            ["immutable", "remove"] => ImmutableRemove,
            ["retention"] => RetentionSet,
            ["retention", "remove"] => RetentionRemove,
            ["webhooks"] => WebhookAdd,
            ["webhooks", "delete"] => WebhookDelete,
            _ => return None,
        })
    }
}

/// The `POST`s of the administration pages but the robot creation: the session and its
/// form token (`session_form`), then the API's own function for the change (which
/// authorizes and audits), then `303` back to the page the form was on.
pub(super) async fn change(
    app: &App,
    parts: &axum::http::request::Parts,
    body: Body,
    p: &str,
    what: Change,
    source: &str,
) -> Result<Response, Failure> {
    let Some((s, f)) = super::session_form(app, parts, body).await? else {
        return Ok(see_other("/ui/login"));
    };
    let c = super::ctx(app, &s, source);
    let rule = || crate::push_rules::ImmutableRule {
        repositories: field(&f, "repositories").trim().to_owned(),
        tags: field(&f, "tags").trim().to_owned(),
    };
    let (done, back) = match what {
        Change::MemberSet => (
            members::set(&c, p, field(&f, "account").trim(), field(&f, "role"))
                .await
                .map(|_| ()),
            "members",
        ),
        Change::MemberRemove => (
            members::remove(&c, p, field(&f, "account").trim()).await,
            "members",
        ),
        Change::Quota => {
            let mib = number(&s, &f, "max_mib")?;
            let artifacts = number(&s, &f, "max_artifacts")?;
            let bytes = mib.map(|m| u64::from(m) * 1024 * 1024);
            (
                projects::set_quota_limits(&c, p, bytes, artifacts.map(u64::from)).await,
                "settings",
            )
        }
        Change::RobotDelete => (
            robots::delete(&c, p, field(&f, "name").trim()).await,
            "robots",
        ),
        Change::ImmutableAdd | Change::ImmutableRemove => {
            let rule = rule();
            let edit = |rules: &mut Vec<crate::push_rules::ImmutableRule>| {
                if what == Change::ImmutableAdd {
                    rules.push(rule);
                } else if let Some(i) = rules.iter().position(|r| *r == rule) {
                    rules.remove(i);
                }
            };
            (
                rules::edit_immutable(&c, p, edit).await.map(|_| ()),
                "settings",
            )
        }
        Change::RetentionSet => {
            let policy = crate::retention::RetentionPolicy {
                keep_last: number(&s, &f, "keep_last")?,
                keep_days: number(&s, &f, "keep_days")?,
                keep_tags: field(&f, "keep_tags")
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            };
            (
                rules::set_retention(&c, p, policy).await.map(|_| ()),
                "settings",
            )
        }
        Change::RetentionRemove => (rules::remove_retention(&c, p).await, "settings"),
        Change::WebhookAdd => {
            let hook = webhooks::NewHook {
                url: field(&f, "url").trim().to_owned(),
                secret: field(&f, "secret").to_owned(),
                events: f
                    .iter()
                    .filter(|(k, _)| k == "event")
                    .map(|(_, v)| v.clone())
                    .collect(),
            };
            (webhooks::add(&c, p, hook).await.map(|_| ()), "webhooks")
        }
        Change::WebhookDelete => (
            webhooks::delete(&c, p, field(&f, "id").trim()).await,
            "webhooks",
        ),
    };
    done.map_err(|e| Failure::from(e).for_session(&s))?;
    Ok(see_other(&format!("/ui/projects/{p}/{back}")))
}
