//! The audit page (`/ui/audit`): the trail, newest first, filtered by the query string
//! (actor, action, target substring, outcome, time range) and paged by sequence number;
//! the last verification of the hash chain with a button that runs it again; CSV and JSON
//! exports of the filtered trail (`crate::export`). System administrators only, as the
//! API's `GET /api/v1/audit` and `GET /api/v1/audit/verify` (the same `Ctx::require_admin`
//! and the same `api::audit::verify`).

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use zoll_store::{AuditFilter, AuditRecord};

use super::pages::{Frame, layout, link, results, time};
use super::session::Session;
use super::{Failure, page_size};
use crate::App;

/// Most records one export holds (as the API's `limit`).
const MAX_EXPORT: u64 = 10_000;
/// Longest filter value taken from the query.
const MAX_FILTER: usize = 256;
/// Outcomes the filter offers.
const OUTCOMES: [&str; 3] = ["ok", "denied", "failed"];

/// The filter of the query string, as given (for the form and links) and as the store
/// reads it.
pub(super) struct Query {
    actor: String,
    action: String,
    target: String,
    outcome: String,
    from: String,
    to: String,
    filter: AuditFilter,
}

/// A filter value of the query, trimmed and cut to at most [`MAX_FILTER`] bytes (at a
/// character boundary).
fn value(q: &HashMap<String, String>, k: &str) -> String {
    let v = q.get(k).map_or("", |v| v.trim());
    let mut end = v.len().min(MAX_FILTER);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    v[..end].to_owned()
}

impl Query {
    fn parse(q: &HashMap<String, String>) -> Result<Query, Failure> {
        let (actor, action, target) = (value(q, "actor"), value(q, "action"), value(q, "target"));
        let outcome = value(q, "outcome");
        if !outcome.is_empty() && !OUTCOMES.contains(&outcome.as_str()) {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "outcome is ok, denied or failed",
            ));
        }
        let (from, to) = (value(q, "from"), value(q, "to"));
        let when = |s: &str, end: bool| -> Result<Option<i64>, Failure> {
            if s.is_empty() {
                return Ok(None);
            }
            parse_time(s, end).map(Some).ok_or_else(|| {
                Failure::new(
                    StatusCode::BAD_REQUEST,
                    "times are YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)",
                )
            })
        };
        let filter = AuditFilter {
            actor: actor.clone(),
            action: action.clone(),
            target: target.clone(),
            outcome: outcome.clone(),
            from_ms: when(&from, false)?.unwrap_or(i64::MIN),
            to_ms: when(&to, true)?.unwrap_or(i64::MAX),
        };
        Ok(Query {
            actor,
            action,
            target,
            outcome,
            from,
            to,
            filter,
        })
    }

    fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("actor", self.actor.as_str()),
            ("action", self.action.as_str()),
            ("target", self.target.as_str()),
            ("outcome", self.outcome.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
        ]
    }
}

/// `YYYY-MM-DD` (the whole day: its start, or with `end` the start of the next) or
/// `YYYY-MM-DDTHH:MM[:SS]` (as `datetime-local` fields send it), in UTC, as milliseconds.
fn parse_time(s: &str, end: bool) -> Option<i64> {
    let (date, clock) = match s.split_once('T') {
        Some((d, c)) => (d, Some(c)),
        None => (s, None),
    };
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(y, m, day);
    let secs = match clock {
        None => days * 86_400 + if end { 86_400 } else { 0 },
        Some(c) => {
            let mut t = c.splitn(3, ':').map(|p| p.parse::<i64>().ok());
            let (h, mi) = (t.next()??, t.next()??);
            let sec = t.next().map_or(Some(0), |v| v)?;
            if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..60).contains(&sec) {
                return None;
            }
            days * 86_400 + h * 3600 + mi * 60 + sec
        }
    };
    Some(secs * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `GET /ui/audit`.
pub(super) async fn page(
    app: &App,
    s: &Session,
    q: &HashMap<String, String>,
    source: &str,
) -> Result<Markup, Failure> {
    super::ctx(app, s, source)
        .require_admin("audit.read", "audit")
        .await?;
    let query = Query::parse(q)?;
    let n = page_size(q);
    let before = q
        .get("before")
        .and_then(|b| b.parse::<i64>().ok())
        .unwrap_or(i64::MAX);
    let mut rows = app.store.audit_page(&query.filter, before, n + 1).await?;
    let more = rows.len() as u64 > n;
    rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    let last = last_verification(app).await?;
    let n_text = n.to_string();
    let next = more
        .then(|| rows.last().map(|r| r.seq.to_string()))
        .flatten();
    let next = next.map(|seq| {
        let mut pairs = query.pairs();
        pairs.push(("n", &n_text));
        pairs.push(("before", &seq));
        link("/ui/audit", &pairs)
    });
    Ok(render(&Frame::of(s), &query, n, &rows, next, last.as_ref()))
}

/// The newest run of the chain verification (`audit.verify`, not a refusal), from the
/// trail itself: so every replica shows the same, and the result is itself chained.
async fn last_verification(app: &App) -> Result<Option<AuditRecord>, Failure> {
    let f = AuditFilter {
        action: "audit.verify".into(),
        ..AuditFilter::default()
    };
    let mut before = i64::MAX;
    // A few pages at most: refusals of the button are rare next to runs.
    for _ in 0..5 {
        let rows = app.store.audit_page(&f, before, 50).await?;
        if let Some(r) = rows.iter().find(|r| r.entry.outcome != "denied") {
            return Ok(Some(r.clone()));
        }
        match rows.last() {
            Some(r) => before = r.seq,
            None => break,
        }
    }
    Ok(None)
}

/// `POST /ui/audit/verify`: runs the verification as `GET /api/v1/audit/verify` does, then
/// shows the page again with its result.
pub(super) async fn verify(
    app: &App,
    parts: &axum::http::request::Parts,
    body: axum::body::Body,
    source: &str,
) -> Result<Response, Failure> {
    let Some((s, _)) = super::session_form(app, parts, body).await? else {
        return Ok(super::see_other("/ui/login"));
    };
    crate::api::audit::verify(&super::ctx(app, &s, source))
        .await
        .map_err(|e| Failure::from(e).for_session(&s))?;
    Ok(super::see_other("/ui/audit"))
}

/// `GET /ui/audit/export.csv` and `export.json`: the filtered trail in sequence order
/// (at most [`MAX_EXPORT`] records from `after`), as the API's `format=csv` / `json`.
pub(super) async fn export(
    app: &App,
    s: &Session,
    q: &HashMap<String, String>,
    source: &str,
    csv: bool,
) -> Result<Response, Failure> {
    super::ctx(app, s, source)
        .require_admin("audit.read", "audit")
        .await
        .map_err(|e| Failure::from(e).for_session(s))?;
    let query = Query::parse(q).map_err(|f| f.for_session(s))?;
    let before = q
        .get("before")
        .and_then(|b| b.parse::<i64>().ok())
        .unwrap_or(i64::MAX);
    let mut records = app
        .store
        .audit_page(&query.filter, before, MAX_EXPORT)
        .await
        .map_err(|e| Failure::from(e).for_session(s))?;
    records.reverse();
    let (body, ctype, name) = if csv {
        (
            crate::export::csv(&records),
            "text/csv; charset=utf-8",
            "audit.csv",
        )
    } else {
        (
            serde_json::to_string(&records).expect("serializes"),
            "application/json",
            "audit.json",
        )
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).expect("fixed"),
    );
    Ok(r)
}

fn render(
    f: &Frame,
    q: &Query,
    n: u64,
    rows: &[AuditRecord],
    next: Option<String>,
    last: Option<&AuditRecord>,
) -> Markup {
    let pairs = q.pairs();
    let csv = link("/ui/audit/export.csv", &pairs);
    let json = link("/ui/audit/export.json", &pairs);
    layout(
        "Audit trail",
        f.user(),
        &[],
        html! {
            section aria-labelledby="chain" {
                h2 id="chain" { "Hash chain" }
                @match last {
                    Some(r) if r.entry.outcome == "ok" => {
                        p.ok role="status" {
                            "Intact when last verified " (time(r.at_ms)) " by " (r.entry.actor)
                            ": " (r.entry.detail) "."
                        }
                    }
                    Some(r) => {
                        p.error role="alert" {
                            "Broken when last verified " (time(r.at_ms)) " by " (r.entry.actor)
                            ": " (r.entry.detail)
                        }
                    }
                    None => { p { "Not verified yet." } }
                }
                @if let Some(token) = f.form_token() {
                    form method="post" action="/ui/audit/verify" {
                        input type="hidden" name="csrf" value=(token);
                        button type="submit" { "Verify the chain now" }
                    }
                }
            }
            section.audit aria-labelledby="records" {
                h2 id="records" { "Records" }
                form.filter method="get" action="/ui/audit" hx-get="/ui/audit"
                    hx-target="#results" hx-select="#results" hx-swap="outerHTML"
                    hx-push-url="true" {
                    label { "Actor" input type="text" name="actor" value=(q.actor); }
                    label { "Action" input type="text" name="action" value=(q.action); }
                    label { "Target contains" input type="search" name="target" value=(q.target); }
                    label {
                        "Outcome"
                        select name="outcome" {
                            option value="" selected[q.outcome.is_empty()] { "any" }
                            @for o in OUTCOMES {
                                option value=(o) selected[q.outcome == o] { (o) }
                            }
                        }
                    }
                    label { "From (UTC)" input type="text" name="from" value=(q.from)
                        placeholder="YYYY-MM-DD" pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?)?"; }
                    label { "Until (UTC)" input type="text" name="to" value=(q.to)
                        placeholder="YYYY-MM-DD" pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?)?"; }
                    input type="hidden" name="n" value=(n);
                    button type="submit" { "Apply" }
                }
                p.exports {
                    "Export these records: "
                    a href=(csv) download { "CSV" } " · "
                    a href=(json) download { "JSON" }
                }
                (results(
                    html! { "Audit records, newest first" },
                    &["Seq", "Time", "Actor", "Source", "Action", "Target", "Outcome", "Detail"],
                    html! {
                        @for r in rows {
                            tr {
                                th scope="row" { (r.seq) }
                                td { (time(r.at_ms)) }
                                td { (r.entry.actor) }
                                td { (r.entry.source) }
                                td { code { (r.entry.action) } }
                                td { (r.entry.target) }
                                td { (r.entry.outcome) }
                                td.detail { (r.entry.detail) }
                            }
                        }
                    },
                    rows.is_empty(),
                    next,
                ))
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_are_utc_dates_or_minutes() {
        assert_eq!(parse_time("1970-01-01", false), Some(0));
        assert_eq!(parse_time("1970-01-01", true), Some(86_400_000));
        assert_eq!(parse_time("2000-03-01T01:02", false), Some(951_872_520_000));
        assert_eq!(parse_time("2000-13-01", false), None);
        assert_eq!(parse_time("yesterday", false), None);
    }
}
