//! Backup and restore. A backup is a directory: `backup.json` (what it holds), one JSON-lines
//! file per metadata table read inside one snapshot (a repeatable-read transaction on
//! PostgreSQL, a WAL read transaction on SQLite), `blobs.txt` (every live blob with its
//! size) and, for blobs on local disk, the blob bytes under `blobs/` (each verified against
//! its digest while copied). Blobs in S3 stay in the bucket: the backup lists them, and a
//! restore into the same bucket (or a copy of it) finds them there. Restore fills an empty
//! store: rows as they were (so the audit chain verifies), bytes re-verified and published
//! through the backend.

use std::io::BufRead;
use std::path::Path;

use futures_util::StreamExt;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;
use tokio::sync::mpsc;
use zoll_oci::Digest;
use zoll_stdx::hex;
use zoll_stdx::progress::{Progress, Silent};

use crate::backup_writer::{BackupItem, BackupWriter, invalid};
use crate::error::{Result, StoreError};
use crate::hash_ahead::hash_ahead;
use crate::integrity::ContentHash;
use crate::{Store, random_id};

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Bytes,
}

use Kind::{Bytes, Int, Text};

/// Every table a backup holds, parents before children, with typed columns. Upload
/// sessions are transient and not kept. A test checks this list against the schema.
const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "repositories",
        &[("id", Int), ("name", Text), ("created_ms", Int)],
    ),
    (
        "blobs",
        &[
            ("digest", Text),
            ("size", Int),
            ("created_ms", Int),
            ("state", Text),
            ("crc32_1mib", Text),
        ],
    ),
    (
        "repo_blobs",
        &[("repo_id", Int), ("digest", Text), ("created_ms", Int)],
    ),
    (
        "manifests",
        &[
            ("repo_id", Int),
            ("digest", Text),
            ("media_type", Text),
            ("size", Int),
            ("content", Bytes),
            ("subject", Text),
            ("artifact_type", Text),
            ("annotations", Text),
            ("created_ms", Int),
        ],
    ),
    (
        "manifest_refs",
        &[
            ("repo_id", Int),
            ("manifest_digest", Text),
            ("child_digest", Text),
        ],
    ),
    (
        "tags",
        &[
            ("repo_id", Int),
            ("name", Text),
            ("digest", Text),
            ("updated_ms", Int),
        ],
    ),
    (
        "accounts",
        &[
            ("name", Text),
            ("kind", Text),
            ("password_hash", Text),
            ("admin", Int),
            ("disabled", Int),
            ("project", Text),
            ("permissions", Text),
            ("expires_ms", Int),
            ("description", Text),
            ("created_ms", Int),
        ],
    ),
    (
        "projects",
        &[
            ("name", Text),
            ("public", Int),
            ("quota_bytes", Int),
            ("quota_artifacts", Int),
            ("immutable_rules", Text),
            ("retention", Text),
            ("created_ms", Int),
        ],
    ),
    (
        "members",
        &[("project", Text), ("account", Text), ("role", Text)],
    ),
    (
        "token_keys",
        &[("kid", Text), ("pkcs8", Text), ("created_ms", Int)],
    ),
    (
        "audit_log",
        &[
            ("seq", Int),
            ("at_ms", Int),
            ("actor", Text),
            ("source", Text),
            ("action", Text),
            ("target", Text),
            ("outcome", Text),
            ("detail", Text),
            ("prev_hash", Text),
            ("hash", Text),
        ],
    ),
    ("audit_head", &[("id", Int), ("seq", Int), ("hash", Text)]),
    (
        "webhooks",
        &[
            ("id", Text),
            ("project", Text),
            ("url", Text),
            ("secret", Text),
            ("events", Text),
            ("enabled", Int),
            ("created_ms", Int),
        ],
    ),
    (
        "webhook_deliveries",
        &[
            ("id", Text),
            ("webhook_id", Text),
            ("event_type", Text),
            ("payload", Text),
            ("state", Text),
            ("attempts", Int),
            ("next_ms", Int),
            ("claimed_until", Int),
            ("created_ms", Int),
        ],
    ),
    (
        "webhook_attempts",
        &[
            ("delivery_id", Text),
            ("attempt", Int),
            ("at_ms", Int),
            ("status", Int),
            ("error", Text),
            ("ms", Int),
        ],
    ),
    (
        "approval_requests",
        &[
            ("id", Text),
            ("key_name", Text),
            ("repository", Text),
            ("reference", Text),
            ("digest", Text),
            ("canonical", Text),
            ("requester", Text),
            ("state", Text),
            ("outcome", Text),
            ("version", Int),
            ("created_ms", Int),
            ("not_before_ms", Int),
            ("expires_ms", Int),
            ("updated_ms", Int),
        ],
    ),
    (
        "approval_votes",
        &[
            ("request_id", Text),
            ("approver", Text),
            ("decision", Text),
            ("signature", Text),
            ("at_ms", Int),
        ],
    ),
    (
        "scans",
        &[
            ("repo_id", Int),
            ("digest", Text),
            ("state", Text),
            ("attempts", Int),
            ("queued_ms", Int),
            ("started_ms", Int),
            ("finished_ms", Int),
            ("owner", Text),
            ("error", Text),
            ("db_version", Text),
            ("sbom_digest", Text),
            ("report_digest", Text),
            ("findings", Text),
            ("lint", Text),
            ("summary", Text),
        ],
    ),
    (
        "scan_ids",
        &[
            ("repo_id", Int),
            ("digest", Text),
            ("ident", Text),
            ("severity", Text),
            ("suppressed", Int),
        ],
    ),
    (
        "scan_db",
        &[("id", Int), ("version", Text), ("updated_ms", Int)],
    ),
];

/// The format backups are written in: since schema version 8, patterns in zoll's one glob
/// dialect.
pub const FORMAT: &str = "zoll-backup-2";
/// Backups from before schema version 8 (patterns in the registry's old dialect).
const FORMAT_BEFORE_GLOB_DIALECT: &str = "zoll-backup-1";

/// The pattern columns of a row of a pre-version-8 backup, rewritten as the migration does.
fn rewrite_old_patterns(table: &str, row: &mut Value) {
    use crate::meta::v8_glob_dialect as v8;
    type Rewrite = fn(&str) -> Option<String>;
    let columns: &[(&str, Rewrite)] = match table {
        "accounts" => &[("permissions", v8::robot_permissions)],
        "projects" => &[
            ("immutable_rules", v8::immutable_rules),
            ("retention", v8::retention),
        ],
        _ => return,
    };
    for (column, rewrite) in columns {
        if let Some(new) = row[*column].as_str().and_then(rewrite) {
            row[*column] = Value::String(new);
        }
    }
}

/// Tables deliberately not in a backup: upload sessions and console sessions are live
/// state of running clients (a restored console session would log a browser back in that
/// had logged out or expired), and the migrations table is the restoring build's own.
pub const NOT_BACKED_UP: &[&str] = &["uploads", "schema_migrations", "console_sessions"];

/// The table names a backup holds.
pub fn backed_up_tables() -> Vec<&'static str> {
    TABLES.iter().map(|(t, _)| *t).collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupReport {
    pub rows: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    /// Whether the blob bytes are in the backup (local disk) or only listed (S3).
    pub bytes_included: bool,
}

/// A BLOB column as `value` wrote it: hex, or null. Hex that does not decode fails the
/// restore: bound as an empty BLOB it would restore, say, a manifest without its bytes.
fn blob_column(v: &Value, file: &Path, column: &str) -> Result<Option<Vec<u8>>> {
    let Some(text) = v.as_str() else {
        return Ok(None);
    };
    hex::decode(text)
        .map(Some)
        .ok_or_else(|| invalid(format!("{}: {column} is not hex", file.display())))
}

fn value(r: &AnyRow, i: usize, kind: Kind) -> Result<Value> {
    Ok(match kind {
        Int => json!(r.try_get::<Option<i64>, _>(i)?),
        Text => json!(r.try_get::<Option<String>, _>(i)?),
        Bytes => json!(r.try_get::<Option<Vec<u8>>, _>(i)?.map(|b| hex::encode(&b))),
    })
}

impl Store {
    /// Whether a backup holds the blob bytes (local disk) or only lists them (they stay in
    /// the S3 bucket).
    pub fn backup_includes_bytes(&self) -> bool {
        self.config.s3.is_none()
    }

    /// Reads the metadata of a backup inside one snapshot (a repeatable-read transaction on
    /// PostgreSQL, a WAL read transaction on SQLite) and sends each row, table by table in
    /// restore order, then each live blob, to `out` as it is read: the database is never
    /// held in memory (review finding: the first online backup read every table before
    /// sending a byte). Returns the rows and blobs sent; stops when `out` is closed.
    pub async fn backup_scan(&self, out: mpsc::Sender<BackupItem>) -> Result<(u64, u64)> {
        let closed = || invalid("the backup's reader went away");
        let mut conn = self.meta.reader().begin().await?;
        if !self.meta.is_embedded() {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *conn)
                .await?;
        }
        let (mut rows, mut blobs) = (0u64, 0u64);
        for (table, columns) in TABLES {
            let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
            let sql = format!(
                "SELECT {} FROM {table} ORDER BY {}",
                names.join(", "),
                names.join(", ")
            );
            let mut stream = sqlx::query(&sql).fetch(&mut *conn);
            while let Some(r) = stream.next().await {
                let r = r?;
                let mut obj = serde_json::Map::new();
                for (i, (c, k)) in columns.iter().enumerate() {
                    obj.insert((*c).to_owned(), value(&r, i, *k)?);
                }
                let line = Value::Object(obj).to_string();
                out.send(BackupItem::Row { table, line })
                    .await
                    .map_err(|_| closed())?;
                rows += 1;
            }
        }
        {
            let mut stream =
                sqlx::query("SELECT digest, size FROM blobs WHERE state = 'live' ORDER BY digest")
                    .fetch(&mut *conn);
            while let Some(r) = stream.next().await {
                let r = r?;
                let (digest, size): (String, i64) = (r.try_get(0)?, r.try_get(1)?);
                let digest: Digest = digest
                    .parse()
                    .map_err(|_| invalid(format!("bad digest {digest}")))?;
                let size = crate::meta::to_u64(size);
                out.send(BackupItem::Blob { digest, size })
                    .await
                    .map_err(|_| closed())?;
                blobs += 1;
            }
        }
        conn.commit().await?;
        Ok((rows, blobs))
    }

    /// Writes a backup into `dir`, which must not exist or be empty.
    pub async fn backup(&self, dir: &Path) -> Result<BackupReport> {
        self.backup_with(dir, &Silent).await
    }

    /// [`Store::backup`], telling `progress` the blob bytes to copy and copied.
    pub async fn backup_with(&self, dir: &Path, progress: &dyn Progress) -> Result<BackupReport> {
        let bytes_included = self.backup_includes_bytes();
        let mut out = BackupWriter::create(dir, bytes_included)?;
        let (tx, mut rx) = mpsc::channel(256);
        // Rows go to their files while the snapshot is read; the blob list is kept (a
        // digest and a size each) for copying the bytes once the snapshot is closed.
        let write = async {
            let mut blobs = Vec::new();
            while let Some(item) = rx.recv().await {
                match item {
                    BackupItem::Row { table, line } => out.row(table, &line)?,
                    BackupItem::Blob { digest, size } => {
                        out.blob(&digest, size)?;
                        blobs.push((digest, size));
                    }
                }
            }
            Ok::<_, StoreError>(blobs)
        };
        let (scanned, blobs) = tokio::join!(self.backup_scan(tx), write);
        let blobs = blobs?;
        scanned?;
        if bytes_included {
            progress.grow(
                blobs
                    .iter()
                    .fold(0u64, |sum, (_, size)| sum.saturating_add(*size)),
            );
            for (d, size) in &blobs {
                let stream = self.blobs.open(d, 0, *size, true).await?;
                out.blob_bytes(d, *size, stream, progress).await?;
            }
        }
        out.finish(self.now_ms())
    }

    /// Restores a backup into this store, which must hold no repositories and no accounts.
    pub async fn restore(&self, dir: &Path) -> Result<BackupReport> {
        self.restore_with(dir, &Silent).await
    }

    /// [`Store::restore`], telling `progress` the blob bytes to copy and copied.
    pub async fn restore_with(&self, dir: &Path, progress: &dyn Progress) -> Result<BackupReport> {
        let manifest_path = dir.join("backup.json");
        let manifest = std::fs::read(&manifest_path).map_err(|e| {
            StoreError::Io(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", manifest_path.display()),
            ))
        })?;
        let manifest: Value =
            serde_json::from_slice(&manifest).map_err(|e| invalid(format!("backup.json: {e}")))?;
        // A backup from before schema version 8 holds patterns in the registry's old dialect:
        // they are rewritten as the migration rewrote the live ones.
        let old_patterns = match manifest["format"].as_str() {
            Some(FORMAT) => false,
            Some(FORMAT_BEFORE_GLOB_DIALECT) => true,
            _ => {
                return Err(invalid(format!(
                    "not a zoll backup this build can read (formats {FORMAT_BEFORE_GLOB_DIALECT}, \
                     {FORMAT})"
                )));
            }
        };
        let existing: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM repositories) + (SELECT COUNT(*) FROM accounts)",
        )
        .fetch_one(self.meta.reader())
        .await?;
        if existing > 0 {
            return Err(invalid(
                "the target store is not empty; restore needs a fresh one",
            ));
        }
        let mut report = BackupReport {
            bytes_included: manifest["bytes_included"] == true,
            ..BackupReport::default()
        };
        if report.bytes_included {
            progress.grow(manifest["blob_bytes"].as_u64().unwrap_or(0));
        }
        // Bytes first: a row never points at a blob that is not there.
        let list = std::fs::File::open(dir.join("blobs.txt"))?;
        for line in std::io::BufReader::new(list).lines() {
            let line = line?;
            let Some((digest, size)) = line.split_once(' ') else {
                continue;
            };
            let d: Digest = digest
                .parse()
                .map_err(|_| invalid(format!("bad digest {digest}")))?;
            let size: u64 = size
                .parse()
                .map_err(|_| invalid(format!("bad size in {line}")))?;
            report.blobs += 1;
            report.blob_bytes += size;
            if report.bytes_included {
                self.restore_blob(dir, &d, size, progress).await?;
            } else if self.blobs.stat(&d).await? != Some(size) {
                return Err(invalid(format!(
                    "blob {d} is neither in the backup nor in the blob store"
                )));
            }
        }
        let mut tx = self.meta.begin().await?;
        sqlx::query("DELETE FROM audit_head")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM token_keys")
            .execute(&mut *tx)
            .await?;
        for (table, columns) in TABLES {
            let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
            let params: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                params.join(", ")
            );
            let path = dir.join("metadata").join(format!("{table}.jsonl"));
            for line in std::io::BufReader::new(std::fs::File::open(&path)?).lines() {
                let mut row: Value = serde_json::from_str(&line?)
                    .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
                if old_patterns {
                    rewrite_old_patterns(table, &mut row);
                }
                let mut q = sqlx::query(&sql);
                for (c, k) in columns.iter() {
                    let v = &row[*c];
                    q = match k {
                        Int => q.bind(v.as_i64()),
                        Text => q.bind(v.as_str().map(str::to_owned)),
                        Bytes => q.bind(blob_column(v, &path, c)?),
                    };
                }
                q.execute(&mut *tx).await?;
                report.rows += 1;
            }
        }
        if !self.meta.is_embedded() {
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('repositories', 'id'), \
                 COALESCE((SELECT MAX(id) FROM repositories), 0) + 1, false)",
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(report)
    }

    async fn restore_blob(
        &self,
        dir: &Path,
        d: &Digest,
        size: u64,
        progress: &dyn Progress,
    ) -> Result<()> {
        let path = dir.join("blobs").join(d.algorithm().as_str()).join(d.hex());
        let file = tokio::fs::File::open(&path).await?;
        let stream = tokio_util::io::ReaderStream::new(file).map(|r| {
            if let Ok(chunk) = &r {
                progress.advance(chunk.len() as u64);
            }
            r.map_err(|e| e.to_string())
        });
        let id = random_id();
        self.blobs.create_upload(&id).await?;
        let (stream, hashed) = hash_ahead(Box::pin(stream), ContentHash::new(d.algorithm()));
        let (got, parts) = self.blobs.append(&id, 0, stream, size).await?;
        let actual = hashed.await.ok().map(|h| h.finish().0);
        if got != size || actual.as_ref() != Some(d) {
            self.blobs.delete_upload(&id).await?;
            return Err(invalid(format!("backup copy of {d} is damaged")));
        }
        self.blobs.sync_upload(&id, &parts, size).await?;
        self.blobs.publish(&id, &parts, d, size).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_columns_are_hex_or_null() {
        let file = Path::new("manifests.jsonl");
        let col = |v: Value| blob_column(&v, file, "content");
        assert_eq!(col(json!("00ff")).unwrap(), Some(vec![0, 0xff]));
        assert_eq!(col(json!("")).unwrap(), Some(vec![]));
        assert_eq!(col(Value::Null).unwrap(), None);
        // Once restored as an empty BLOB; now the restore stops and says where.
        for bad in ["+f", "abc", "zz", "0 "] {
            let e = col(json!(bad)).unwrap_err().to_string();
            assert!(
                e.contains("manifests.jsonl: content is not hex"),
                "{bad:?}: {e}"
            );
        }
    }
}
