//! The registry's scan results from the command line (`/api/v1/scans`): `zoll scans list`
//! a repository's scans, `show` one image's findings and lint, `rescan` it against today's
//! database. `zoll scan` (singular) scans locally instead.

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use zoll_oci::{Reference, RepoName};

use crate::output::{Format, View, plural};
use crate::remote::{Api, Remote};
use crate::runtime;

#[derive(Subcommand)]
pub enum ScansCmd {
    /// The scans of a repository's images: state, when, and what they found in sum.
    List {
        /// The repository (`team/app`).
        repository: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// One image's scan: its findings (suppressed ones marked) and its lint.
    Show {
        /// The image: `team/app@sha256:...` or `team/app:tag`.
        image: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Scan an image again (against the registry's current vulnerability database).
    Rescan {
        /// The image: `team/app@sha256:...` or `team/app:tag`.
        image: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `repo@digest` or `repo:tag` as the query the API takes.
fn image_query(image: &str) -> anyhow::Result<(String, String, String)> {
    let (repo, reference) = match image.split_once('@') {
        Some((r, d)) => (r, Reference::parse(d)),
        None => match image.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((r, t)) => (r, Reference::parse(t)),
            None => bail!("{image:?}: name the image as REPOSITORY@sha256:... or REPOSITORY:TAG"),
        },
    };
    let repo = RepoName::parse(repo, 255).with_context(|| format!("{image:?}"))?;
    let reference = reference.with_context(|| format!("{image:?}"))?;
    let (key, value) = match reference {
        Reference::Digest(d) => ("digest", d.to_string()),
        Reference::Tag(t) => ("tag", t.as_str().to_owned()),
    };
    Ok((repo.as_str().to_owned(), key.to_owned(), value))
}

/// The counts of a scan's summary as one cell: `2 critical, 1 high` (or `none`).
fn counts(summary: &Value) -> String {
    let by = &summary["vulnerabilities"];
    let parts: Vec<String> = ["critical", "high", "medium", "low", "unknown"]
        .iter()
        .filter_map(|s| {
            by[*s]
                .as_u64()
                .filter(|n| *n > 0)
                .map(|n| format!("{n} {s}"))
        })
        .collect();
    if summary.is_null() {
        "-".into()
    } else if summary["encrypted"] == true {
        "encrypted: not scanned".into()
    } else if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

const SCANS: View = View {
    columns: &[
        ("DIGEST", "digest"),
        ("STATE", "state"),
        ("FINISHED", "finished"),
        ("VULNERABILITIES", "found"),
        ("LINT", "summary.lint_worst"),
    ],
    empty: "no scans",
};

const FINDINGS: View = View {
    columns: &[
        ("ID", "id"),
        ("SEVERITY", "severity"),
        ("SCORE", "score"),
        ("PACKAGE", "package"),
        ("VERSION", "version"),
        ("FIXED", "fixed"),
        ("SUPPRESSED", "suppressed.reason"),
    ],
    empty: "no vulnerabilities",
};

pub fn scans(cmd: ScansCmd) -> anyhow::Result<()> {
    match cmd {
        ScansCmd::List { repository, remote } => {
            let api = Api::connect(&remote)?;
            let repo =
                RepoName::parse(&repository, 255).with_context(|| format!("{repository:?}"))?;
            let mut all = Vec::new();
            runtime()?.block_on(async {
                let mut last = String::new();
                loop {
                    let page = api
                        .call(
                            "GET",
                            &format!("/scans?repository={repo}&last={last}"),
                            None,
                        )
                        .await?;
                    all.extend(page["scans"].as_array().cloned().unwrap_or_default());
                    match page["next"].as_str() {
                        Some(next) if next > last.as_str() => last = next.to_owned(),
                        _ => break,
                    }
                }
                Ok::<_, anyhow::Error>(())
            })?;
            let format = remote.out.output;
            if format == Format::Table {
                for s in &mut all {
                    s["found"] = json!(counts(&s["summary"]));
                }
            }
            format.print(&Value::Array(all), Some(&SCANS));
            Ok(())
        }
        ScansCmd::Show { image, remote } => {
            let (repo, key, value) = image_query(&image)?;
            let api = Api::connect(&remote)?;
            let v = runtime()?.block_on(api.call(
                "GET",
                &format!("/scans?repository={repo}&{key}={value}"),
                None,
            ))?;
            let format = remote.out.output;
            if format.is_machine() {
                format.print(&v, None);
                return Ok(());
            }
            println!(
                "image      {}@{}",
                v["repository"].as_str().unwrap_or(&repo),
                v["digest"].as_str().unwrap_or("?")
            );
            println!("state      {}", v["state"].as_str().unwrap_or("?"));
            if let Some(f) = v["finished"].as_str() {
                println!("finished   {f}");
            }
            if let Some(db) = v["database"].as_str() {
                println!("database   {db}");
            }
            if let Some(e) = v["error"].as_str() {
                println!("error      {e}");
            }
            println!("found      {}", counts(&v["summary"]));
            let findings = v["vulnerabilities"].as_array().cloned().unwrap_or_default();
            println!();
            format.print(&Value::Array(findings), Some(&FINDINGS));
            let lint: Vec<&Value> = v["lint"]["results"]
                .as_array()
                .map(|r| r.iter().filter(|x| x["level"] != "PASS").collect())
                .unwrap_or_default();
            if !lint.is_empty() {
                println!(
                    "\nlint ({})",
                    plural(lint.len() as u64, "finding", "findings")
                );
                for l in lint {
                    println!(
                        "  {:<5} {} {}",
                        l["level"].as_str().unwrap_or("?"),
                        l["code"].as_str().unwrap_or("?"),
                        l["title"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(())
        }
        ScansCmd::Rescan { image, remote } => {
            let (repo, key, value) = image_query(&image)?;
            let api = Api::connect(&remote)?;
            let v = runtime()?.block_on(api.call(
                "POST",
                "/scans",
                Some(json!({"repository": repo, key: value})),
            ))?;
            let format = remote.out.output;
            if format.is_machine() {
                format.print(&v, None);
            } else {
                println!(
                    "{repo}@{} queued for scanning",
                    v["digest"].as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            image_query(&format!("team/app@{d}")).unwrap(),
            ("team/app".into(), "digest".into(), d.clone())
        );
        assert_eq!(
            image_query("team/app:v1").unwrap(),
            ("team/app".into(), "tag".into(), "v1".into())
        );
        assert!(image_query("team/app").is_err());
        assert!(image_query("team/app@sha256:zz").is_err());
    }

    #[test]
    fn summary_counts() {
        let s = json!({"vulnerabilities": {"critical": 2, "low": 1, "high": 0}});
        assert_eq!(counts(&s), "2 critical, 1 low");
        assert_eq!(counts(&json!({"vulnerabilities": {}})), "none");
        assert_eq!(
            counts(&json!({"encrypted": true})),
            "encrypted: not scanned"
        );
        assert_eq!(counts(&Value::Null), "-");
    }
}
