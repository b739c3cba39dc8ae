//! Online backup (system administrators only), what `zoll backup` reads from a running
//! registry:
//! - `GET /api/v1/backup`: the metadata of one snapshot as JSON lines — a header
//!   `{"format", "bytes_included"}`, one `{"table", "row"}` per row, one `{"blob", "size"}` per
//!   live blob, and an `{"end": {"rows", "blobs"}}` line last, so a cut stream is told
//!   from a complete one;
//! - `GET /api/v1/backup/blobs/{digest}`: a live blob's bytes, verified as they are read.

use axum::body::Body;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use serde_json::json;
use zoll_oci::Digest;

use super::{Ctx, bad, not_found};
use crate::error::{ApiError, ApiResult};

pub(super) async fn route(c: &Ctx<'_>, m: &str, segs: &[&str], _body: Body) -> ApiResult {
    match (m, segs) {
        ("GET", ["backup"]) => metadata(c).await,
        ("GET", ["backup", "blobs", digest]) => blob(c, digest).await,
        _ => Err(not_found("endpoint")),
    }
}

async fn metadata(c: &Ctx<'_>) -> ApiResult {
    c.require_admin("backup.read", "backup").await?;
    let Ok(permit) = c.app.backup_reads.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            "a backup is being read already; try again when it is done",
        ));
    };
    let snapshot = c.app.store.backup_snapshot().await?;
    let rows: usize = snapshot.tables.iter().map(|(_, l)| l.len()).sum();
    c.audit(
        "backup.read",
        "backup",
        "ok",
        &format!("{rows} rows, {} blobs", snapshot.blobs.len()),
    )
    .await;
    let header =
        json!({"format": zoll_store::BACKUP_FORMAT, "bytes_included": snapshot.bytes_included});
    let end = json!({"end": {"rows": rows, "blobs": snapshot.blobs.len()}});
    // Lines are made as the body is sent: the snapshot is held once, not twice.
    let tables = snapshot.tables.into_iter().flat_map(|(table, lines)| {
        lines
            .into_iter()
            .map(move |row| format!("{{\"table\":\"{table}\",\"row\":{row}}}\n"))
    });
    let blobs = snapshot
        .blobs
        .into_iter()
        .map(|(d, size)| format!("{}\n", json!({"blob": d.as_str(), "size": size})));
    let lines = std::iter::once(format!("{header}\n"))
        .chain(tables)
        .chain(blobs)
        .chain(std::iter::once(format!("{end}\n")))
        .map(move |l| {
            // Held until the last line is taken (or the body dropped).
            let _held = &permit;
            Ok::<_, std::io::Error>(Bytes::from(l))
        });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(futures_util::stream::iter(lines)),
    )
        .into_response())
}

async fn blob(c: &Ctx<'_>, digest: &str) -> ApiResult {
    c.require_admin("backup.read", "backup").await?;
    let d: Digest = digest.parse().map_err(|e| bad(format!("{e}")))?;
    let Some(size) = c.app.store.blob_size_anywhere(&d, None).await? else {
        return Err(not_found(&format!("blob {d}")));
    };
    let stream = c.app.store.read_blob(&d, size, None).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
