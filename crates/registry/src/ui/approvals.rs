//! The approvals inbox (`/ui/approvals`): open signing requests of the registry's quorum
//! keys with their artifact, requester, approvals so far (k of n), the timelock's remaining
//! time and the expiry, measured by the clock the approvals service decides with; the
//! history of decided requests; and one request's page with the canonical bytes approvers
//! sign and the CLI command that approves it. Shows exactly what `GET /api/v1/approvals`
//! and `GET /api/v1/approvals/{id}` show the same account (`approvals::visible`,
//! `approvals::visible_one`). Approving in the browser with a hardware-bound key is a later
//! issue: approving needs the approver's private key, which never reaches the server.

use std::collections::HashMap;

use axum::http::StatusCode;
use maud::{Markup, html};
use zoll_approval::{Approvals, RequestView};

use super::pages::{Frame, layout, results, time};
use super::session::Session;
use super::{Failure, page_size};
use crate::App;

fn approvals(app: &App) -> Result<&Approvals, Failure> {
    app.approvals.as_deref().ok_or_else(|| {
        Failure::new(
            StatusCode::NOT_FOUND,
            "this registry holds no quorum keys (approvals are not configured)",
        )
    })
}

/// Approvals so far and the number of approvers of the request's key (`k of n`, quorum q).
fn tally(a: &Approvals, v: &RequestView) -> (usize, Option<usize>) {
    let k = v.votes.iter().filter(|x| x.decision == "approve").count();
    let n = a.keys().keys.get(&v.key).map(|q| q.approvers.len());
    (k, n)
}

/// A duration as people read it: `3 h 5 min`, `40 s`, or `passed`.
fn remaining(ms: i64) -> String {
    if ms <= 0 {
        return "passed".into();
    }
    let s = ms.div_euclid(1000);
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// `GET /ui/approvals`.
pub(super) async fn inbox(
    app: &App,
    s: &Session,
    q: &HashMap<String, String>,
    source: &str,
) -> Result<Markup, Failure> {
    let a = approvals(app)?;
    let c = super::ctx(app, s, source);
    let n = usize::try_from(page_size(q)).unwrap_or(usize::MAX);
    // One listing (all states, as `?all=true`), split: open ones first, then the history.
    let (decided, open): (Vec<RequestView>, Vec<RequestView>) =
        crate::approvals::visible(&c, a, true)
            .await?
            .into_iter()
            .partition(|v| v.state.is_final());
    let now = a.now_ms();
    Ok(render_inbox(&Frame::of(s), a, &open, &decided, n, now))
}

/// `GET /ui/approvals/{id}`.
pub(super) async fn detail(
    app: &App,
    s: &Session,
    id: &str,
    source: &str,
) -> Result<Markup, Failure> {
    let a = approvals(app)?;
    let v = crate::approvals::visible_one(&super::ctx(app, s, source), a, id).await?;
    Ok(render_detail(&Frame::of(s), a, &v, a.now_ms()))
}

fn render_inbox(
    f: &Frame,
    a: &Approvals,
    open: &[RequestView],
    decided: &[RequestView],
    n: usize,
    now: i64,
) -> Markup {
    layout(
        "Approvals",
        f.user(),
        &[],
        html! {
            p { "Signing requests of quorum keys on repositories you may pull. "
                "Times are measured by the registry's clock." }
            section aria-labelledby="open" {
                h2 id="open" { "Waiting" }
                (results(
                    html! { "Open signing requests, newest first" },
                    &["Request", "Artifact", "Key", "Requester", "Approvals", "State",
                      "Timelock", "Expires"],
                    html! {
                        @for v in open.iter().take(n) {
                            @let (k, approvers) = tally(a, v);
                            tr {
                                th scope="row" {
                                    a href={ "/ui/approvals/" (v.id) } { code { (v.id.get(..12).unwrap_or(&v.id)) } }
                                }
                                td { (v.repository) ":" (v.reference) br; code { (v.digest) } }
                                td { (v.key) }
                                td { (v.requester) }
                                td {
                                    (k) " of " (v.quorum) " needed"
                                    @if let Some(total) = approvers { " (" (total) " approvers)" }
                                }
                                td { (v.state.as_str()) }
                                td {
                                    @if v.not_before_ms > now {
                                        (remaining(v.not_before_ms - now)) " left"
                                    } @else { "passed" }
                                }
                                td { (time(v.expires_ms)) " (" (remaining(v.expires_ms - now))
                                    @if v.expires_ms > now { " left" } ")" }
                            }
                        }
                    },
                    open.is_empty(),
                    None,
                ))
                @if open.len() > n { p { "Showing the newest " (n) " of " (open.len()) "." } }
            }
            section aria-labelledby="history" {
                h2 id="history" { "Decided" }
                table {
                    caption { "Decided signing requests, newest first" }
                    thead { tr { @for c in ["Request", "Artifact", "Key", "Requester", "Approvals", "Outcome", "Requested"] {
                        th scope="col" { (c) } } } }
                    tbody {
                        @for v in decided.iter().take(n) {
                            @let (k, _) = tally(a, v);
                            tr {
                                th scope="row" {
                                    a href={ "/ui/approvals/" (v.id) } { code { (v.id.get(..12).unwrap_or(&v.id)) } }
                                }
                                td { (v.repository) ":" (v.reference) }
                                td { (v.key) }
                                td { (v.requester) }
                                td { (k) " of " (v.quorum) }
                                td { strong { (v.state.as_str()) } @if !v.outcome.is_empty() { ": " (v.outcome) } }
                                td { (time(v.created_ms)) }
                            }
                        }
                    }
                }
                @if decided.is_empty() { p.empty { "Nothing decided yet." } }
            }
        },
    )
}

fn render_detail(f: &Frame, a: &Approvals, v: &RequestView, now: i64) -> Markup {
    let (k, approvers) = tally(a, v);
    let title = format!("Signing request {}", v.id);
    let command = format!("zoll approve {} --key YOUR-KEY.pem", v.id);
    layout(
        &title,
        f.user(),
        &[("Approvals", "/ui/approvals".to_owned())],
        html! {
            dl.facts {
                dt { "Artifact" } dd { (v.repository) ":" (v.reference) " " code { (v.digest) } }
                dt { "Key" } dd { (v.key) }
                dt { "Requester" } dd { (v.requester) }
                dt { "State" } dd { (v.state.as_str()) @if !v.outcome.is_empty() { ": " (v.outcome) } }
                dt { "Approvals" } dd {
                    (k) " of " (v.quorum) " needed"
                    @if let Some(total) = approvers { " (" (total) " approvers)" }
                }
                dt { "Requested" } dd { (time(v.created_ms)) }
                dt { "Timelock" } dd {
                    (time(v.not_before_ms))
                    @if v.not_before_ms > now { " (" (remaining(v.not_before_ms - now)) " left)" }
                }
                dt { "Expires" } dd {
                    (time(v.expires_ms))
                    @if v.expires_ms > now { " (" (remaining(v.expires_ms - now)) " left)" }
                    @else { " (passed)" }
                }
            }
            table {
                caption { "Votes" }
                thead { tr { th scope="col" { "Approver" } th scope="col" { "Decision" } th scope="col" { "When" } } }
                tbody {
                    @for vote in &v.votes {
                        tr { th scope="row" { (vote.approver) } td { (vote.decision) } td { (time(vote.at_ms)) } }
                    }
                }
            }
            @if v.votes.is_empty() { p.empty { "No votes yet." } }
            h2 { "What approvers sign" }
            p { "The canonical bytes of the request (JSON). Check the digest and the claims "
                "before you approve." }
            pre.canonical { code { (v.canonical) } }
            @if !v.state.is_final() {
                h2 { "Approve" }
                p { "With your approver key (a PEM file or a " code { "pkcs11:" } " URI), "
                    "against this registry (" code { "--registry" } "):" }
                pre { code { (command) } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn remaining_time_reads_as_words() {
        assert_eq!(super::remaining(0), "passed");
        assert_eq!(super::remaining(40_000), "40 s");
        assert_eq!(super::remaining(3_900_000), "1 h 5 min");
        assert_eq!(super::remaining(90_000_000), "1 d 1 h");
    }
}
