//! The offline vulnerability database: one file of normalised advisories.
//!
//! Format: JSON lines, a header line (`format`, the imported sources) then one [`Advisory`] per
//! line, sorted by id. Why not SQLite: matching needs every advisory of a package in memory
//! anyway, and a re-match of a thousand SBOMs wants one sequential read and a hash index, not
//! a hundred thousand queries; one file replaced atomically (write, fsync, rename) also gives
//! the registry a single digest that names the database version, which is what triggers
//! re-matching stored SBOMs.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::osv::{Advisory, OsvRecord};
use crate::error::ScanError;

const FORMAT: &str = "zoll-osv-1";
/// Bytes of one OSV document we parse (the largest real ones are a few hundred KiB).
const MAX_RECORD: u64 = 16 << 20;
/// Members of one zip dump we look at (the largest ecosystem dump has a few hundred thousand).
const MAX_MEMBERS: usize = 2_000_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Source {
    pub file: String,
    pub sha256: String,
    pub records: usize,
    pub imported_at: String,
}

/// What one import did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    pub files: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub withdrawn: usize,
    /// Members that were not OSV JSON (their names, first few).
    pub rejected: Vec<String>,
    pub total: usize,
}

/// The database, loaded and indexed for matching.
#[derive(Debug, Default)]
pub struct Db {
    pub header: Header,
    pub advisories: Vec<Advisory>,
    /// (ecosystem, name) → (advisory, affected entry).
    index: HashMap<(String, String), Vec<(u32, u32)>>,
    /// sha-256 of the file the database was loaded from: its version.
    pub digest: String,
}

impl Db {
    /// The default file inside a zoll data directory.
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join("vulndb").join("osv.jsonl")
    }

    pub fn from_advisories(header: Header, advisories: Vec<Advisory>) -> Db {
        let mut index: HashMap<(String, String), Vec<(u32, u32)>> = HashMap::new();
        for (i, a) in advisories.iter().enumerate() {
            for (j, aff) in a.affected.iter().enumerate() {
                index
                    .entry((aff.ecosystem.clone(), aff.name.clone()))
                    .or_default()
                    .push((i as u32, j as u32));
            }
        }
        Db {
            header,
            advisories,
            index,
            digest: String::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Db, ScanError> {
        let file = fs::File::open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ScanError::NoDatabase(path.display().to_string())
            } else {
                ScanError::io(path.display().to_string())(e)
            }
        })?;
        let mut hasher = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut line = String::new();
        let mut header: Option<Header> = None;
        let mut advisories = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(ScanError::io(path.display().to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(line.as_bytes());
            if header.is_none() {
                let h: Header = serde_json::from_str(&line)
                    .map_err(|e| ScanError::Database(format!("bad header: {e}")))?;
                if h.format != FORMAT {
                    return Err(ScanError::Database(format!(
                        "unknown format {:?}",
                        h.format
                    )));
                }
                header = Some(h);
                continue;
            }
            let a: Advisory = serde_json::from_str(&line)
                .map_err(|e| ScanError::Database(format!("bad record: {e}")))?;
            advisories.push(a);
        }
        let mut db = Db::from_advisories(header.unwrap_or_default(), advisories);
        db.digest = format!(
            "sha256:{}",
            zoll_stdx::hex::encode(hasher.finish().as_ref())
        );
        Ok(db)
    }

    pub(crate) fn candidates(
        &self,
        ecosystem: &str,
        name: &str,
    ) -> impl Iterator<Item = (&Advisory, usize)> + use<'_> {
        self.index
            .get(&(ecosystem.to_owned(), name.to_owned()))
            .into_iter()
            .flatten()
            .map(|&(a, j)| (&self.advisories[a as usize], j as usize))
    }

    /// Writes the database atomically: a temporary file beside it, fsync, rename.
    pub fn save(&self, path: &Path) -> Result<(), ScanError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(ScanError::io(dir.display().to_string()))?;
        let tmp = path.with_extension("jsonl.tmp");
        let ctx = || tmp.display().to_string();
        let file = fs::File::create(&tmp).map_err(ScanError::io(ctx()))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut header = self.header.clone();
        header.format = FORMAT.to_owned();
        serde_json::to_writer(&mut w, &header).map_err(|e| ScanError::Database(e.to_string()))?;
        w.write_all(b"\n").map_err(ScanError::io(ctx()))?;
        for a in &self.advisories {
            serde_json::to_writer(&mut w, a).map_err(|e| ScanError::Database(e.to_string()))?;
            w.write_all(b"\n").map_err(ScanError::io(ctx()))?;
        }
        let file = w
            .into_inner()
            .map_err(|e| ScanError::io(ctx())(e.into_error()))?;
        file.sync_all().map_err(ScanError::io(ctx()))?;
        fs::rename(&tmp, path).map_err(ScanError::io(path.display().to_string()))?;
        Ok(())
    }
}

/// Imports OSV zip dumps and OSV JSON files (one record, or an array of records) into the
/// database at `db_path`, creating it when missing. A record replaces a stored one with the same
/// id only when its `modified` time is newer (or equal: a re-import is idempotent).
pub fn import(db_path: &Path, files: &[PathBuf]) -> Result<ImportReport, ScanError> {
    let existing = match Db::load(db_path) {
        Ok(db) => Some(db),
        Err(ScanError::NoDatabase(_)) => None,
        Err(e) => return Err(e),
    };
    let (mut header, old) = match existing {
        Some(db) => (db.header, db.advisories),
        None => (Header::default(), Vec::new()),
    };
    let mut by_id: BTreeMap<String, Advisory> =
        old.into_iter().map(|a| (a.id.clone(), a)).collect();
    let mut report = ImportReport::default();
    for file in files {
        // Records are normalised as they are read: the raw OSV documents are never all in memory.
        let (sha, records) = read_source(file, &mut report)?;
        let count = records.len();
        for adv in records {
            if adv.withdrawn {
                report.withdrawn += 1;
            }
            match by_id.get(&adv.id) {
                None => {
                    report.added += 1;
                    by_id.insert(adv.id.clone(), adv);
                }
                Some(old) if *old == adv => report.unchanged += 1,
                Some(old) if adv.modified >= old.modified => {
                    report.updated += 1;
                    by_id.insert(adv.id.clone(), adv);
                }
                Some(_) => report.unchanged += 1,
            }
        }
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        header.sources.retain(|s| s.file != name);
        header.sources.push(Source {
            file: name,
            sha256: sha,
            records: count,
            imported_at: crate::sbom::rfc3339_now(),
        });
        report.files += 1;
    }
    report.total = by_id.len();
    let db = Db::from_advisories(header, by_id.into_values().collect());
    db.save(db_path)?;
    Ok(report)
}

fn read_source(
    file: &Path,
    report: &mut ImportReport,
) -> Result<(String, Vec<Advisory>), ScanError> {
    let ctx = || file.display().to_string();
    let mut f = fs::File::open(file).map_err(ScanError::io(ctx()))?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(ScanError::io(ctx()))?;
    let sha = file_sha256(file)?;
    if n == 4 && &magic == b"PK\x03\x04" {
        let mut zip = zip::ZipArchive::new(fs::File::open(file).map_err(ScanError::io(ctx()))?)
            .map_err(|e| ScanError::bad_input(ctx(), format!("not a readable zip: {e}")))?;
        if zip.len() > MAX_MEMBERS {
            return Err(ScanError::bad_input(
                ctx(),
                format!("{} members, above {MAX_MEMBERS}", zip.len()),
            ));
        }
        let mut out = Vec::new();
        // One inflater for every member: a decoder per member (what the zip crate's reader
        // makes) left ~18 KiB of heap behind each, 2 GB over a 100,000-record dump.
        let mut inflater = flate2::Decompress::new(false);
        for i in 0..zip.len() {
            let mut entry = zip
                .by_index_raw(i)
                .map_err(|e| ScanError::bad_input(ctx(), e))?;
            let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
            if !name.ends_with(".json") || entry.is_dir() {
                continue;
            }
            if entry.size() > MAX_RECORD || entry.compressed_size() > MAX_RECORD {
                reject(report, &name);
                continue;
            }
            let (method, size, crc) = (entry.compression(), entry.size(), entry.crc32());
            let mut raw = Vec::with_capacity(entry.compressed_size() as usize);
            (&mut entry)
                .take(MAX_RECORD)
                .read_to_end(&mut raw)
                .map_err(ScanError::io(format!("{}:{name}", ctx())))?;
            let bytes = match method {
                zip::CompressionMethod::Stored => raw,
                zip::CompressionMethod::Deflated => match inflate(&mut inflater, &raw, size) {
                    Some(b) => b,
                    None => {
                        reject(report, &name);
                        continue;
                    }
                },
                _ => {
                    reject(report, &name);
                    continue;
                }
            };
            let mut check = flate2::Crc::new();
            check.update(&bytes);
            if check.sum() != crc {
                return Err(ScanError::bad_input(ctx(), format!("{name}: CRC mismatch")));
            }
            match serde_json::from_slice::<OsvRecord>(&bytes) {
                Ok(r) => out.push(r.normalize()),
                Err(_) => reject(report, &name),
            }
        }
        return Ok((sha, out));
    }
    let meta = fs::metadata(file).map_err(ScanError::io(ctx()))?;
    if meta.len() > MAX_RECORD * 64 {
        return Err(ScanError::bad_input(
            ctx(),
            "JSON file too large; import the zip dump instead",
        ));
    }
    let bytes = fs::read(file).map_err(ScanError::io(ctx()))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ScanError::bad_input(ctx(), format!("not JSON: {e}")))?;
    let items = match value {
        serde_json::Value::Array(a) => a,
        v => vec![v],
    };
    let mut out = Vec::new();
    for (k, v) in items.into_iter().enumerate() {
        match serde_json::from_value::<OsvRecord>(v) {
            Ok(r) => out.push(r.normalize()),
            Err(e) => {
                return Err(ScanError::bad_input(
                    ctx(),
                    format!("record {k} is not OSV: {e}"),
                ));
            }
        }
    }
    Ok((sha, out))
}

/// Inflates one raw deflate member of the size the zip directory declares (bounded by it).
fn inflate(inflater: &mut flate2::Decompress, raw: &[u8], size: u64) -> Option<Vec<u8>> {
    inflater.reset(false);
    let mut out = Vec::with_capacity(size as usize);
    match inflater.decompress_vec(raw, &mut out, flate2::FlushDecompress::Finish) {
        Ok(flate2::Status::StreamEnd) if out.len() as u64 == size => Some(out),
        _ => None,
    }
}

fn reject(report: &mut ImportReport, name: &str) {
    if report.rejected.len() < 20 {
        report.rejected.push(name.to_owned());
    }
}

fn file_sha256(file: &Path) -> Result<String, ScanError> {
    let mut f = fs::File::open(file).map_err(ScanError::io(file.display().to_string()))?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(ScanError::io(file.display().to_string()))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(zoll_stdx::hex::encode(ctx.finish().as_ref()))
}
