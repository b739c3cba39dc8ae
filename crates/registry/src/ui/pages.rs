//! The console's pages as maud templates: HTML written in Rust, so the compiler checks
//! every template and every value in it, and `(value)` is always escaped (nothing here uses
//! `PreEscaped`). No inline script, style or event handler: the CSP forbids them, and
//! every page works without JavaScript (htmx only swaps a listing in place of a reload).
//! Accessibility: a skip link, one `main`, breadcrumbs as a labelled `nav`, tables with a
//! caption and scoped headers, a live region around what htmx swaps.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};
use zoll_store::{Project, TagCursor, TagOrder, TagRow};

use super::assets;
use super::session::Session;

/// What every page needs to know of the viewer: the account and its form token (none when
/// authentication is off).
pub(super) struct Frame {
    user: Option<(String, String)>,
}

impl Frame {
    pub(super) fn of(s: &Session) -> Frame {
        Frame {
            user: s
                .identity
                .account()
                .map(|a| (a.name.clone(), s.form_token())),
        }
    }

    /// The token a form of this page carries (none when authentication is off).
    pub(super) fn form_token(&self) -> Option<&str> {
        self.user.as_ref().map(|(_, t)| t.as_str())
    }

    pub(super) fn user(&self) -> Option<(&str, &str)> {
        self.user.as_ref().map(|(n, t)| (n.as_str(), t.as_str()))
    }
}

/// htmx settings that keep it inside the CSP: no injected indicator `<style>`, no eval,
/// no script tags from swapped content.
const HTMX_CONFIG: &str =
    r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;

pub(super) fn layout(
    title: &str,
    user: Option<(&str, &str)>,
    crumbs: &[(&str, String)],
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(HTMX_CONFIG);
                title { (title) " · zoll" }
                // No icon to fetch (a browser asks for /favicon.ico otherwise).
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(assets::css_path());
                script src=(assets::HTMX_PATH) defer {}
            }
            body {
                a.skip-link href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/projects" { "zoll" }
                    @if user.is_some() {
                        nav aria-label="Console" {
                            ul {
                                li { a href="/ui/projects" { "Projects" } }
                                li { a href="/ui/approvals" { "Approvals" } }
                                li { a href="/ui/audit" { "Audit" } }
                            }
                        }
                    }
                    @if let Some((name, form_token)) = user {
                        div.who {
                            span { "Signed in as " strong { (name) } }
                            form method="post" action="/ui/logout" {
                                input type="hidden" name="csrf" value=(form_token);
                                button.link type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    @if !crumbs.is_empty() {
                        nav.crumbs aria-label="Breadcrumb" {
                            ol {
                                @for (label, href) in crumbs {
                                    li { a href=(href) { (label) } }
                                }
                            }
                        }
                    }
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The login form; `error` says why the last attempt failed, `user` refills the name.
pub(super) fn login(error: Option<&str>, user: &str) -> Markup {
    layout(
        "Log in",
        None,
        &[],
        html! {
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form.login method="post" action="/ui/login" {
                label {
                    "User name"
                    input type="text" name="username" autocomplete="username" required
                        value=(user);
                }
                label {
                    "Password"
                    input type="password" name="password" autocomplete="current-password" required;
                }
                button type="submit" { "Log in" }
            }
        },
    )
}

pub(super) fn error(status: StatusCode, message: &str, user: Option<(&str, &str)>) -> Markup {
    let title = status.canonical_reason().unwrap_or("Error");
    layout(
        title,
        user,
        &[],
        html! {
            p.error role="alert" { (message) }
            p { a href="/ui/projects" { "Back to the projects" } }
        },
    )
}

/// A link to `path` with the query `pairs` (empty values left out), encoded.
pub(super) fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        q.append_pair(k, v);
    }
    let q = q.finish();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

/// A filter form that reloads the page with its query; with htmx, only the results swap.
pub(super) fn filter_form(
    action: &str,
    label: &str,
    filter: &str,
    n: u64,
    extra: Markup,
) -> Markup {
    html! {
        form.filter method="get" action=(action) hx-get=(action) hx-target="#results"
            hx-select="#results" hx-swap="outerHTML" hx-push-url="true" {
            label { (label) input type="search" name="q" value=(filter); }
            (extra)
            input type="hidden" name="n" value=(n);
            button type="submit" { "Apply" }
        }
    }
}

/// The part of a listing page htmx swaps: a table with its caption and scoped column
/// headers, a note when it is empty, and the link to the next page.
pub(super) fn results(
    caption: Markup,
    columns: &[&str],
    rows: Markup,
    empty: bool,
    next: Option<String>,
) -> Markup {
    html! {
        div id="results" aria-live="polite" {
            table {
                caption { (caption) }
                thead { tr { @for c in columns { th scope="col" { (c) } } } }
                tbody { (rows) }
            }
            @if empty { p.empty { "Nothing to show." } }
            @if let Some(href) = next {
                p.pager { a href=(href) rel="next" { "Next page" } }
            }
        }
    }
}

pub(super) fn projects(
    f: &Frame,
    rows: &[Project],
    filter: &str,
    n: u64,
    next: Option<&str>,
) -> Markup {
    let n_text = n.to_string();
    let next = next.map(|after| {
        link(
            "/ui/projects",
            &[("q", filter), ("n", &n_text), ("after", after)],
        )
    });
    layout(
        "Projects",
        f.user(),
        &[],
        html! {
            (filter_form("/ui/projects", "Name starts with", filter, n, html! {}))
            (results(
                html! { "Projects you may pull from" },
                &["Project", "Visibility", "Created"],
                html! {
                    @for p in rows {
                        tr {
                            th scope="row" { a href={ "/ui/projects/" (p.name) } { (p.name) } }
                            td { @if p.public { "public" } @else { "private" } }
                            td { (time(p.created_ms)) }
                        }
                    }
                },
                rows.is_empty(),
                next,
            ))
        },
    )
}

pub(super) fn repositories(
    f: &Frame,
    project: &Project,
    rows: &[String],
    filter: &str,
    n: u64,
    next: Option<&str>,
) -> Markup {
    let here = format!("/ui/projects/{}", project.name);
    let n_text = n.to_string();
    let next = next.map(|after| link(&here, &[("q", filter), ("n", &n_text), ("after", after)]));
    let title = format!("Project {}", project.name);
    layout(
        &title,
        f.user(),
        &[("Projects", "/ui/projects".to_owned())],
        html! {
            p.admin-link {
                "Administration: "
                a href={ (here) "/members" } { "members" } ", "
                a href={ (here) "/robots" } { "robots" } ", "
                a href={ (here) "/settings" } { "quota and rules" } ", "
                a href={ (here) "/retention" } { "retention preview" } ", "
                a href={ (here) "/webhooks" } { "webhooks" }
            }
            (filter_form(&here, "Name starts with", filter, n, html! {}))
            (results(
                html! { "Repositories of " (project.name) },
                &["Repository"],
                html! {
                    @for r in rows {
                        tr { th scope="row" { a href={ "/ui/repositories/" (r) } { (r) } } }
                    }
                },
                rows.is_empty(),
                next,
            ))
        },
    )
}

/// Filter, order and page size of a listing: kept in every link it makes.
pub(super) struct Listing<'a> {
    pub(super) filter: &'a str,
    pub(super) sort: TagOrder,
    pub(super) n: u64,
}

pub(super) fn artifacts(
    f: &Frame,
    repo: &str,
    rows: &[TagRow],
    facts: &[super::artifact::RowFacts],
    l: &Listing<'_>,
    next: Option<&TagRow>,
) -> Markup {
    let here = format!("/ui/repositories/{repo}");
    let project = crate::access::project_of(repo);
    let sort = match l.sort {
        TagOrder::Name => "",
        TagOrder::Newest => "newest",
    };
    let n_text = l.n.to_string();
    let next = next.map(|r| {
        let c = TagCursor {
            tag: r.tag.clone(),
            pushed_ms: r.pushed_ms,
        };
        let at = c.pushed_ms.to_string();
        let mut pairs = vec![("q", l.filter), ("sort", sort), ("n", n_text.as_str())];
        pairs.push(("after", c.tag.as_str()));
        if l.sort == TagOrder::Newest {
            pairs.push(("at", at.as_str()));
        }
        link(&here, &pairs)
    });
    let sort_select = html! {
        label {
            "Order"
            select name="sort" {
                option value="" selected[l.sort == TagOrder::Name] { "Tag name" }
                option value="newest" selected[l.sort == TagOrder::Newest] { "Newest first" }
            }
        }
    };
    let title = format!("Repository {repo}");
    layout(
        &title,
        f.user(),
        &[
            ("Projects", "/ui/projects".to_owned()),
            (project, format!("/ui/projects/{project}")),
        ],
        html! {
            (filter_form(&here, "Tag starts with", l.filter, l.n, sort_select))
            (results(
                html! { "Tagged artifacts of " (repo) },
                &super::artifact_view::COLUMNS,
                html! {
                    @for (r, x) in rows.iter().zip(facts) {
                        tr {
                            th scope="row" { (r.tag) }
                            td {
                                a href=(super::artifact::href(repo, &r.digest)) { code { (r.digest) } }
                            }
                            td.num { (size(r.total_size)) }
                            td { (time(r.pushed_ms)) }
                            (super::artifact_view::row_cells(repo, r, x))
                        }
                    }
                },
                rows.is_empty(),
                next,
            ))
        },
    )
}

pub(super) fn time(ms: i64) -> Markup {
    let stamp = zoll_stdx::time::rfc3339_ms(ms);
    html! { time datetime=(stamp) { (stamp.get(..19).unwrap_or(&stamp).replace('T', " ")) " UTC" } }
}

/// Bytes as people read them (binary units), with the exact count.
pub(super) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
