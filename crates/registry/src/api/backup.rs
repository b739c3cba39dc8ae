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
use zoll_store::BackupItem;

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
    c.audit("backup.read", "backup", "ok", "").await;
    let header = json!({
        "format": zoll_store::BACKUP_FORMAT,
        "bytes_included": c.app.store.backup_includes_bytes(),
    });
    // The snapshot is read while the body is sent, a row at a time: a slow reader holds
    // the read transaction open, never the database in memory.
    let (items, mut scanned) = tokio::sync::mpsc::channel(256);
    let (lines, body) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(256);
    let store = c.app.store.clone();
    tokio::spawn(async move {
        let _ = lines.send(Ok(Bytes::from(format!("{header}\n")))).await;
        let scan = store.backup_scan(items);
        let forward = async {
            while let Some(item) = scanned.recv().await {
                let line = match item {
                    BackupItem::Row { table, line } => {
                        format!("{{\"table\":\"{table}\",\"row\":{line}}}\n")
                    }
                    BackupItem::Blob { digest, size } => {
                        format!("{}\n", json!({"blob": digest.as_str(), "size": size}))
                    }
                };
                if lines.send(Ok(Bytes::from(line))).await.is_err() {
                    break; // the client went away; the scan stops at its next row
                }
            }
        };
        let (scanned_total, ()) = tokio::join!(scan, forward);
        let last = match scanned_total {
            Ok((rows, blobs)) => Ok(Bytes::from(format!(
                "{}\n",
                json!({"end": {"rows": rows, "blobs": blobs}})
            ))),
            // No end line: the client knows the backup is incomplete.
            Err(e) => {
                tracing::error!(error = %e, "online backup failed");
                Err(std::io::Error::other("the backup could not be read"))
            }
        };
        let _ = lines.send(last).await;
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        // The permit goes with the body: one backup stream open at a time.
        Body::from_stream(futures_util::stream::unfold(
            (body, permit),
            |(mut rx, permit)| async move { rx.recv().await.map(|line| (line, (rx, permit))) },
        )),
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
