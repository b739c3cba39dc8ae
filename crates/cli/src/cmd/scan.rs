//! `zoll scan TARGET` and `zoll db import|info`: argument parsing, reading the target through
//! `zoll-client`, and printing. What is inside an image and what is wrong with it is decided
//! in `zoll-scan`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::runtime::Handle;
use zoll_client::{ImageRef, Repository};
use zoll_oci::{Descriptor, Reference};
use zoll_scan::job::{self, BlobSource, Inspection};
use zoll_scan::lint::Level;
use zoll_scan::report::{self, Report};
use zoll_scan::vuln::{self, Db, Finding, Severity, Suppressions};
use zoll_scan::{Limits, ScanError};

use crate::StoreArgs;
use crate::config;
use crate::connect::Connection;
use crate::output::plural;
use crate::progress::Bar;
use zoll_stdx::progress::{Counted, Progress};

#[derive(clap::Args)]
pub struct ScanArgs {
    /// What to scan: `dir:PATH`, `oci:DIR[:tag|@digest]`, `host[:port]/repo[:tag|@digest]`, or
    /// `sbom:FILE` (a CycloneDX SBOM zoll wrote: re-matched without reading layers).
    target: String,
    /// table, json, yaml, cyclonedx, spdx or sarif (`--format` and `-o FILE` as in trivy).
    #[arg(long, short = 'f', default_value = "table")]
    format: String,
    /// Only report vulnerabilities of these severities (comma-separated:
    /// UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL).
    #[arg(long, value_delimiter = ',')]
    severity: Vec<String>,
    /// Exit with this status when a reported vulnerability is not suppressed (or, with
    /// --lint-fail, when the lint reaches that level).
    #[arg(long, default_value_t = 0)]
    exit_code: u8,
    /// Lint level (INFO, WARN, FATAL) that also triggers --exit-code.
    #[arg(long)]
    lint_fail: Option<String>,
    /// OpenVEX documents whose not_affected / fixed statements suppress findings.
    #[arg(long)]
    vex: Vec<PathBuf>,
    /// Allowlist files (TOML `[[allow]]` entries with id, reason, author, expires).
    #[arg(long)]
    allowlist: Vec<PathBuf>,
    /// The vulnerability database file (default: DATA/vulndb/osv.jsonl).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Do not match vulnerabilities (SBOM and lint only; no database needed).
    #[arg(long)]
    skip_db: bool,
    /// Fail when there is no vulnerability database (without it: SBOM and lint with a
    /// warning, as if --skip-db).
    #[arg(long, conflicts_with = "skip_db")]
    require_db: bool,
    /// Platform to pick from an image index.
    #[arg(long, default_value = "linux/amd64")]
    platform: String,
    /// Write the report to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(clap::Args)]
pub struct DbArgs {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(clap::Subcommand)]
enum DbCommand {
    /// Import OSV zip dumps (one per ecosystem, as osv.dev publishes them) or OSV JSON files.
    Import {
        /// OSV zip dumps or JSON files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The database file (default: DATA/vulndb/osv.jsonl).
        #[arg(long)]
        db: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Re-match stored CycloneDX SBOMs (ones zoll wrote) against the database without reading
    /// any layer; prints one line per SBOM and a total.
    Rematch {
        /// CycloneDX SBOM files zoll wrote.
        #[arg(required = true)]
        sboms: Vec<PathBuf>,
        /// The database file (default: DATA/vulndb/osv.jsonl).
        #[arg(long)]
        db: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show what the database holds.
    Info {
        /// The database file (default: DATA/vulndb/osv.jsonl).
        #[arg(long)]
        db: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn db_path(explicit: Option<PathBuf>, store: &StoreArgs) -> anyhow::Result<PathBuf> {
    match explicit {
        Some(p) => Ok(p),
        None => Ok(Db::path_in(&config::load_for(store)?.storage.data_dir)),
    }
}

pub fn db(args: DbArgs) -> anyhow::Result<()> {
    match args.command {
        DbCommand::Import { files, db, store } => {
            let path = db_path(db, &store)?;
            let r = vuln::import(&path, &files)?;
            println!(
                "imported {} file(s) into {}: {} added, {} updated, {} unchanged, {} withdrawn; {} advisories in all",
                r.files,
                path.display(),
                r.added,
                r.updated,
                r.unchanged,
                r.withdrawn,
                r.total
            );
            if !r.rejected.is_empty() {
                eprintln!(
                    "zoll: skipped members that are not OSV JSON: {}",
                    r.rejected.join(", ")
                );
            }
            Ok(())
        }
        DbCommand::Rematch { sboms, db, store } => {
            let started = std::time::Instant::now();
            let d = Db::load(&db_path(db, &store)?)?;
            let loaded = started.elapsed();
            let mut stdout = std::io::stdout().lock();
            let mut total = 0usize;
            for path in &sboms {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let doc: serde_json::Value = serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is not JSON", path.display()))?;
                let (subject, findings) = vuln::rematch_sbom(&doc, &d)?;
                let critical = findings
                    .iter()
                    .filter(|f| f.severity == Severity::Critical)
                    .count();
                total += findings.len();
                writeln!(
                    stdout,
                    "{} ({}): {}, {} critical",
                    path.display(),
                    subject.name,
                    plural(findings.len() as u64, "finding", "findings"),
                    critical
                )?;
            }
            writeln!(
                stdout,
                "re-matched {} against {}: {} in {:.3}s (database load {:.3}s)",
                plural(sboms.len() as u64, "SBOM", "SBOMs"),
                plural(d.advisories.len() as u64, "advisory", "advisories"),
                plural(total as u64, "finding", "findings"),
                started.elapsed().as_secs_f64(),
                loaded.as_secs_f64()
            )?;
            Ok(())
        }
        DbCommand::Info { db, store } => {
            let path = db_path(db, &store)?;
            let d = Db::load(&path)?;
            println!(
                "{}: {}, version {}",
                path.display(),
                plural(d.advisories.len() as u64, "advisory", "advisories"),
                d.digest
            );
            for s in &d.header.sources {
                println!(
                    "  {} ({}, sha256 {}, imported {})",
                    s.file,
                    plural(s.records as u64, "record", "records"),
                    s.sha256,
                    s.imported_at
                );
            }
            Ok(())
        }
    }
}

pub fn scan(args: ScanArgs) -> anyhow::Result<()> {
    let format = args.format.to_ascii_lowercase();
    if !["table", "json", "yaml", "cyclonedx", "spdx", "sarif"].contains(&format.as_str()) {
        bail!(
            "unknown format {:?} (table, json, yaml, cyclonedx, spdx, sarif)",
            args.format
        );
    }
    let severities: Vec<Severity> = args
        .severity
        .iter()
        .map(|s| Severity::parse(s).with_context(|| format!("unknown severity {s:?}")))
        .collect::<anyhow::Result<_>>()?;
    let lint_fail = match &args.lint_fail {
        Some(l) => Some(Level::parse(l).with_context(|| format!("unknown lint level {l:?}"))?),
        None => None,
    };
    let mut suppressions = Suppressions::default();
    for f in args.vex.iter().chain(&args.allowlist) {
        suppressions.add_file(f)?;
    }
    let limits = Limits::default();
    // Machine-readable reports on standard output get no progress bar.
    let json = format != "table" && args.output.is_none();
    let (inspection, stored_findings) = inspect(
        &args.target,
        &args.platform,
        &limits,
        &args.connection,
        json,
    )?;
    let mut needs_db = !args.skip_db && format != "spdx";
    let path = db_path(args.db.clone(), &args.store)?;
    // The default database not there yet (a first run): the SBOM and the lint still answer,
    // and the warning says what is missing and how to get it. A database named with --db,
    // or --require-db, must be there.
    if needs_db && args.db.is_none() && !args.require_db && !path.exists() {
        eprintln!(
            "zoll: warning: no vulnerability database at {}: vulnerabilities are not matched \
             (import OSV dumps with `zoll db import ZIP...`, e.g. \
             https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip; \
             --require-db makes this an error)",
            path.display()
        );
        needs_db = false;
    }
    let (findings, database) = if needs_db {
        let db = Db::load(&path)?;
        let findings = match stored_findings {
            Some(f) => f(&db)?,
            None => vuln::match_catalog(&inspection.catalog, &db),
        };
        (findings, Some(db.digest.clone()))
    } else {
        (Vec::new(), None)
    };
    let now = zoll_stdx::time::now_secs();
    for e in suppressions.expired(now) {
        eprintln!(
            "zoll: allowlist entry {} ({}) expired on {}: it suppresses nothing",
            e.id, e.author, e.expires
        );
    }
    let mut findings = report::filter_severity(findings, &severities);
    let subject_ids: Vec<&str> = [
        Some(inspection.subject.name.as_str()),
        inspection.subject.digest.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    suppressions.apply(&mut findings, &subject_ids, now);
    // With every finding in view (no --severity filter), an entry that suppresses none is
    // stale or mistyped: say so, as for an expired one.
    if severities.is_empty() && needs_db {
        for e in suppressions.unmatched(&findings, now) {
            eprintln!(
                "zoll: allowlist entry {} ({}) matches no finding of {}",
                e.id, e.author, inspection.subject.name
            );
        }
    }

    let out = match format.as_str() {
        "table" => table(&inspection, &findings, needs_db),
        "json" | "yaml" => {
            let report =
                serde_json::to_value(Report::new(&inspection, findings.clone(), database))?;
            if format == "yaml" {
                crate::output::yaml(&report)
            } else {
                pretty(&report)?
            }
        }
        "cyclonedx" => pretty(&report::cyclonedx_with_vulnerabilities(
            &inspection,
            &findings,
        ))?,
        "spdx" => pretty(&inspection.spdx())?,
        _ => pretty(&report::sarif(&inspection, &findings))?,
    };
    match &args.output {
        Some(p) => {
            std::fs::write(p, out).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(out.as_bytes())?;
            stdout.flush()?;
        }
    }
    let vulnerable = findings.iter().any(|f| f.suppressed.is_none());
    let lint_failed = lint_fail
        .is_some_and(|l| inspection.lint.level() >= l && inspection.lint.level() > Level::Pass);
    if args.exit_code != 0 && (vulnerable || lint_failed) {
        std::process::exit(i32::from(args.exit_code));
    }
    Ok(())
}

type Rematch = Box<dyn FnOnce(&Db) -> Result<Vec<Finding>, ScanError>>;

/// Reads the target into an inspection; for `sbom:` targets also returns the re-match to run.
fn inspect(
    target: &str,
    platform: &str,
    limits: &Limits,
    connection: &Connection,
    json: bool,
) -> anyhow::Result<(Inspection, Option<Rematch>)> {
    if let Some(dir) = target.strip_prefix("dir:") {
        return Ok((job::inspect_dir(Path::new(dir), limits)?, None));
    }
    if let Some(file) = target.strip_prefix("sbom:") {
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {file}"))?;
        let doc: serde_json::Value =
            serde_json::from_slice(&bytes).with_context(|| format!("{file} is not JSON"))?;
        let (subject, catalog) = zoll_scan::sbom::from_cyclonedx(&doc)?;
        let inspection = Inspection {
            subject,
            catalog,
            lint: Default::default(),
            warnings: Vec::new(),
        };
        let rematch: Rematch = Box::new(move |db: &Db| Ok(vuln::rematch_sbom(&doc, db)?.1));
        return Ok((inspection, Some(rematch)));
    }
    let image: ImageRef = target
        .parse()
        .with_context(|| format!("bad target {target:?}"))?;
    let (os, arch) = platform.split_once('/').context("--platform is OS/ARCH")?;
    let runtime = zoll_stdx::rt::single_worker()?;
    let inspection = runtime.block_on(async {
        let repo = Arc::new(Repository::open(&image, &connection.client_config()?)?);
        let desc = repo.resolve(image.reference.as_ref()).await?;
        let (_, mut bytes) = repo
            .fetch_manifest(&Reference::Digest(desc.digest.clone()))
            .await?;
        let mut digest = desc.digest.clone();
        if job::is_index(&bytes) {
            let (_, d, _) = job::select_platform(&bytes, os, arch)?;
            digest = d
                .parse()
                .map_err(|e| anyhow::anyhow!("bad digest in index: {e}"))?;
            bytes = repo
                .fetch_manifest(&Reference::Digest(digest.clone()))
                .await?
                .1;
        }
        let handle = Handle::current();
        let name = target.to_owned();
        let limits = limits.clone();
        let bar = Bar::new("scan", json);
        if let Ok(m) = zoll_oci::Manifest::parse(&bytes, None) {
            bar.grow(m.layers.iter().map(|l| l.size).sum());
        }
        tokio::task::spawn_blocking(move || {
            let mut source = ClientSource { repo, handle, bar };
            job::inspect_image(&name, digest.as_str(), &bytes, &mut source, &limits)
        })
        .await
        .context("scan worker failed")?
        .map_err(anyhow::Error::from)
    })?;
    Ok((inspection, None))
}

/// Blob reads through `zoll-client`, bridged to the synchronous reader the walker streams.
struct ClientSource {
    repo: Arc<Repository>,
    handle: Handle,
    /// Counts the layer bytes read.
    bar: Bar,
}

impl BlobSource for ClientSource {
    fn open(
        &mut self,
        media_type: &str,
        digest: &str,
        size: u64,
    ) -> Result<Box<dyn Read + '_>, ScanError> {
        let desc = Descriptor {
            media_type: media_type.to_owned(),
            digest: digest
                .parse()
                .map_err(|e| ScanError::BadManifest(format!("bad digest {digest}: {e}")))?,
            size,
            artifact_type: None,
            annotations: None,
            urls: None,
        };
        let stream = self
            .handle
            .block_on(self.repo.fetch_blob(&desc))
            .map_err(|e| ScanError::Io {
                context: format!("fetching {digest}"),
                source: std::io::Error::other(e.to_string()),
            })?;
        let reader = tokio_util::io::StreamReader::new(stream);
        let bridge = tokio_util::io::SyncIoBridge::new_with_handle(reader, self.handle.clone());
        Ok(Box::new(Counted::new(bridge, &self.bar)))
    }
}

fn pretty(v: &serde_json::Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

/// The human report: a summary line, vulnerabilities (or packages without a database), lint.
fn table(inspection: &Inspection, findings: &[Finding], matched: bool) -> String {
    let mut out = String::new();
    let distro = inspection
        .catalog
        .distro
        .as_ref()
        .map(|d| format!(" ({} {})", d.id, d.version_id.as_deref().unwrap_or("")))
        .unwrap_or_default();
    out.push_str(&format!(
        "{}{}: {}",
        inspection.subject.name,
        distro,
        plural(
            inspection.catalog.packages.len() as u64,
            "package",
            "packages"
        )
    ));
    if matched {
        let open: Vec<&Finding> = findings.iter().filter(|f| f.suppressed.is_none()).collect();
        let count = |s: Severity| open.iter().filter(|f| f.severity == s).count();
        out.push_str(&format!(
            ", {} (CRITICAL: {}, HIGH: {}, MEDIUM: {}, LOW: {}, UNKNOWN: {}), {} suppressed\n",
            plural(open.len() as u64, "vulnerability", "vulnerabilities"),
            count(Severity::Critical),
            count(Severity::High),
            count(Severity::Medium),
            count(Severity::Low),
            count(Severity::Unknown),
            findings.len() - open.len()
        ));
        let rows: Vec<[String; 7]> = findings
            .iter()
            .map(|f| {
                [
                    f.package.clone(),
                    f.id.clone(),
                    f.severity.as_str().to_owned(),
                    f.version.clone(),
                    f.fixed.clone().unwrap_or_default(),
                    f.suppressed
                        .as_ref()
                        .map(|s| format!("suppressed ({})", s.by))
                        .unwrap_or_else(|| "affected".into()),
                    f.summary.chars().take(60).collect(),
                ]
            })
            .collect();
        out.push_str(&columns(
            &[
                "PACKAGE",
                "VULNERABILITY",
                "SEVERITY",
                "INSTALLED",
                "FIXED",
                "STATUS",
                "TITLE",
            ],
            &rows,
        ));
    } else {
        out.push('\n');
        let rows: Vec<[String; 4]> = inspection
            .catalog
            .packages
            .iter()
            .map(|p| {
                [
                    p.name.clone(),
                    p.version.clone(),
                    format!("{:?}", p.kind).to_lowercase(),
                    p.location.clone(),
                ]
            })
            .collect();
        out.push_str(&columns(&["PACKAGE", "VERSION", "TYPE", "LOCATION"], &rows));
    }
    let failed: Vec<_> = inspection.lint.failed().collect();
    if !failed.is_empty() {
        out.push_str("\nLINT\n");
        for r in failed {
            out.push_str(&format!(
                "{:<6} {} {}\n",
                format!("{:?}", r.level).to_uppercase(),
                r.code,
                r.title
            ));
            for a in &r.alerts {
                out.push_str(&format!("         * {a}\n"));
            }
        }
    }
    if !inspection.warnings.is_empty() {
        out.push_str(&format!(
            "\n{} layer entries skipped as unsafe (see --format json)\n",
            inspection.warnings.len()
        ));
    }
    out
}

fn columns<const N: usize>(head: &[&str; N], rows: &[[String; N]]) -> String {
    let mut width: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut l = String::new();
        for (k, (c, w)) in cells.iter().zip(&width).enumerate() {
            if k + 1 == N {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  ", w = *w));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(head.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}
