//! Writing a backup directory, whoever supplies its contents: `zoll backup --offline` from
//! the store itself, `zoll backup` from a running registry's `/api/v1/backup` stream. Both
//! write the same files (`backup.rs` says which) through [`BackupWriter`]; `backup.json`,
//! written last, is what makes a directory a backup, so an interrupted one is never
//! mistaken for a complete one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::json;
use zoll_oci::{Digest, Hasher};
use zoll_stdx::progress::Progress;

use crate::backup::{BackupReport, FORMAT, backed_up_tables};
use crate::error::{Result, StoreError};

/// One piece of a backup's metadata as `Store::backup_scan` reads it.
#[derive(Debug)]
pub enum BackupItem {
    /// A row of `table`, a JSON object on one line.
    Row { table: &'static str, line: String },
    /// A live blob.
    Blob { digest: Digest, size: u64 },
}

/// A new directory only this user may enter (its parents as `create_dir_all` makes them).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::DirBuilder::new().mode(0o700).create(dir)
}

fn exists_already(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        Ok(())
    } else {
        Err(e)
    }
}

/// A new file only this user may read; never one that exists (nor a link planted there).
fn private_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

pub(crate) fn invalid(what: impl Into<String>) -> StoreError {
    StoreError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        what.into(),
    ))
}

/// Fills a new backup directory: rows table by table, then blobs, then [`finish`].
///
/// [`finish`]: BackupWriter::finish
pub struct BackupWriter {
    dir: PathBuf,
    /// The table being written and its file; tables come in the order of the backup.
    table: Option<(usize, BufWriter<File>)>,
    list: Option<BufWriter<File>>,
    report: BackupReport,
}

impl BackupWriter {
    /// Starts a backup in `dir`, which must not exist or be empty.
    ///
    /// A backup holds password hashes, webhook secrets and the token-signing keys: its
    /// directories are 0700 and its files 0600, and an existing empty directory is used only
    /// if it is this user's (review finding: one made by another user in /tmp let them read
    /// the backup, or plant a symbolic link in it).
    pub fn create(dir: &Path, bytes_included: bool) -> Result<BackupWriter> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        match std::fs::symlink_metadata(dir) {
            Ok(meta) => {
                let mine = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
                if !meta.is_dir() || Some(meta.uid()) != mine {
                    return Err(invalid(format!(
                        "{} exists and is not a directory of this user",
                        dir.display()
                    )));
                }
                if std::fs::read_dir(dir)?.next().is_some() {
                    return Err(invalid(format!("{} is not empty", dir.display())));
                }
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => private_dir(dir)?,
            Err(e) => return Err(e.into()),
        }
        private_dir(&dir.join("metadata"))?;
        Ok(BackupWriter {
            dir: dir.to_owned(),
            table: None,
            list: None,
            report: BackupReport {
                bytes_included,
                ..BackupReport::default()
            },
        })
    }

    /// Opens the files of every table up to `table`'s position (empty tables get an empty
    /// file, as a restore expects one per table).
    fn advance_to(&mut self, position: usize) -> Result<()> {
        let tables = backed_up_tables();
        let next = match &self.table {
            Some((i, _)) if *i == position => return Ok(()),
            Some((i, _)) if *i > position => {
                return Err(invalid(format!(
                    "table {} comes after {} in a backup",
                    tables[*i], tables[position]
                )));
            }
            Some((i, _)) => i + 1,
            None => 0,
        };
        if let Some((_, mut f)) = self.table.take() {
            f.flush()?;
        }
        for (i, name) in tables.iter().enumerate().take(position + 1).skip(next) {
            let f = private_file(&self.dir.join("metadata").join(format!("{name}.jsonl")))?;
            self.table = Some((i, BufWriter::new(f)));
        }
        Ok(())
    }

    /// One row of `table`, a JSON object on one line.
    pub fn row(&mut self, table: &str, line: &str) -> Result<()> {
        let Some(position) = backed_up_tables().iter().position(|t| *t == table) else {
            return Err(invalid(format!("{table} is not a table of a backup")));
        };
        if line.contains('\n') || !line.starts_with('{') {
            return Err(invalid(format!("a row of {table} is not one JSON object")));
        }
        if self.list.is_some() {
            return Err(invalid(format!("a row of {table} after the blobs")));
        }
        self.advance_to(position)?;
        let (_, f) = self.table.as_mut().expect("advanced");
        writeln!(f, "{line}")?;
        self.report.rows += 1;
        Ok(())
    }

    /// Ends the metadata: the remaining tables get their (empty) files.
    fn end_tables(&mut self) -> Result<()> {
        if self.list.is_none() {
            self.advance_to(backed_up_tables().len() - 1)?;
            if let Some((_, mut f)) = self.table.take() {
                f.flush()?;
            }
            self.list = Some(BufWriter::new(private_file(&self.dir.join("blobs.txt"))?));
        }
        Ok(())
    }

    /// Lists a live blob; with `bytes_included`, its bytes follow through [`blob_bytes`].
    ///
    /// [`blob_bytes`]: BackupWriter::blob_bytes
    pub fn blob(&mut self, digest: &Digest, size: u64) -> Result<()> {
        self.end_tables()?;
        let list = self.list.as_mut().expect("opened");
        writeln!(list, "{digest} {size}")?;
        self.report.blobs += 1;
        self.report.blob_bytes = self.report.blob_bytes.saturating_add(size);
        Ok(())
    }

    /// Copies a blob's bytes into the backup, checking them against `digest` and `size` as
    /// they pass (and telling `progress`): a copy that does not match is removed and the
    /// backup fails.
    pub async fn blob_bytes<S, E>(
        &mut self,
        digest: &Digest,
        size: u64,
        mut bytes: S,
        progress: &dyn Progress,
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self
            .dir
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex());
        let algorithm_dir = path.parent().expect("has a parent");
        if !algorithm_dir.is_dir() {
            private_dir(&self.dir.join("blobs")).or_else(exists_already)?;
            private_dir(algorithm_dir)?;
        }
        let mut file = BufWriter::new(private_file(&path)?);
        let mut hasher = Hasher::new(digest.algorithm());
        let mut got = 0u64;
        let damaged = |why: String| {
            let _ = std::fs::remove_file(&path);
            invalid(format!("blob {digest}: {why}"))
        };
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|e| damaged(e.to_string()))?;
            got += chunk.len() as u64;
            if got > size {
                return Err(damaged(format!("more than its {size} bytes")));
            }
            hasher.update(&chunk);
            file.write_all(&chunk)?;
            progress.advance(chunk.len() as u64);
        }
        if got != size {
            return Err(damaged(format!("{got} of its {size} bytes")));
        }
        if hasher.finish() != *digest {
            return Err(damaged("the bytes do not match the digest".into()));
        }
        file.flush()?;
        file.get_ref().sync_all()?;
        Ok(())
    }

    /// The rows written so far.
    pub fn rows(&self) -> u64 {
        self.report.rows
    }

    /// Completes the backup: `backup.json` with what it holds, written last.
    pub fn finish(mut self, created_ms: i64) -> Result<BackupReport> {
        self.end_tables()?;
        if let Some(mut list) = self.list.take() {
            list.flush()?;
        }
        let r = &self.report;
        let manifest = json!({
            "format": FORMAT,
            "created_ms": created_ms,
            "rows": r.rows,
            "blobs": r.blobs,
            "blob_bytes": r.blob_bytes,
            "bytes_included": r.bytes_included,
        });
        let mut done = private_file(&self.dir.join("backup.json"))?;
        done.write_all(format!("{manifest:#}\n").as_bytes())?;
        done.sync_all()?;
        Ok(self.report)
    }
}
