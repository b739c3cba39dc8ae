//! The audit trail: export and verification (system administrators only).

use axum::body::Body;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use super::{Ctx, bad, not_found, ok};
use crate::error::ApiResult;

pub(super) async fn route(c: &Ctx<'_>, m: &str, segs: &[&str], _body: Body) -> ApiResult {
    match (m, segs) {
        ("GET", ["audit"]) => audit_export(c).await,
        ("GET", ["audit", "verify"]) => {
            let r = verify(c).await?;
            ok(json!({
                "records": r.records,
                "head_seq": r.head_seq,
                "head_hash": r.head_hash,
                "intact": r.intact(),
                "findings": r.findings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }))
        }
        _ => Err(not_found("endpoint")),
    }
}

/// Walks the whole chain (system administrators only) and records the run and its result
/// in the trail itself (`audit.verify`, outcome `ok` or `failed` with the first findings):
/// the API's `GET /audit/verify` and the console's button.
pub(crate) async fn verify(c: &Ctx<'_>) -> ApiResult<zoll_store::AuditReport> {
    c.require_admin("audit.verify", "audit").await?;
    let r = c.app.store.audit_verify().await?;
    let (outcome, detail) = if r.intact() {
        (
            "ok",
            format!("{} records intact, head seq {}", r.records, r.head_seq),
        )
    } else {
        let first: Vec<String> = r.findings.iter().take(5).map(ToString::to_string).collect();
        (
            "failed",
            format!(
                "{} records, head seq {}, {} findings: {}",
                r.records,
                r.head_seq,
                r.findings.len(),
                first.join("; ")
            ),
        )
    };
    c.audit("audit.verify", "audit", outcome, &detail).await;
    Ok(r)
}

/// `GET /api/v1/audit?after=SEQ&limit=N&format=jsonl|csv|json`
async fn audit_export(c: &Ctx<'_>) -> ApiResult {
    c.require_admin("audit.read", "audit").await?;
    let after: i64 = c
        .query
        .get("after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let limit: u64 = c
        .query
        .get("limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .min(10_000);
    let records = c.app.store.audit_records(after, limit).await?;
    let format = c.query.get("format").map(String::as_str).unwrap_or("json");
    let (body, ctype) = match format {
        "jsonl" => (crate::export::jsonl(&records), "application/x-ndjson"),
        "csv" => (crate::export::csv(&records), "text/csv; charset=utf-8"),
        "json" => return ok(json!(records)),
        other => return Err(bad(format!("unknown format {other} (json, jsonl, csv)"))),
    };
    Ok(([(header::CONTENT_TYPE, ctype)], body).into_response())
}
