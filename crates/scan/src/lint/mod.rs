//! Hardening lint on the image config and the squashed filesystem: the checks Dockle runs, with
//! Dockle's codes and levels, so reports line up with what users already know.

mod config;
mod files;

pub use config::ImageConfig;

use serde::{Deserialize, Serialize};

use crate::walk::FsIndex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Pass,
    Info,
    Warn,
    Fatal,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "pass" => Some(Level::Pass),
            "info" => Some(Level::Info),
            "warn" => Some(Level::Warn),
            "fatal" => Some(Level::Fatal),
            _ => None,
        }
    }
}

/// One check's outcome; `alerts` say what tripped it (paths, variable names — never values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LintResult {
    pub code: String,
    pub title: String,
    pub level: Level,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LintReport {
    /// Every check that ran (those that passed at level PASS); checks that need an image config
    /// are absent when there is none (`dir:` targets).
    pub results: Vec<LintResult>,
}

impl LintReport {
    /// The worst level found.
    pub fn level(&self) -> Level {
        self.results
            .iter()
            .map(|r| r.level)
            .max()
            .unwrap_or(Level::Pass)
    }

    pub fn failed(&self) -> impl Iterator<Item = &LintResult> {
        self.results.iter().filter(|r| r.level > Level::Pass)
    }
}

struct Check {
    code: &'static str,
    title: &'static str,
    level: Level,
}

const fn check(code: &'static str, title: &'static str, level: Level) -> Check {
    Check { code, title, level }
}

const USER: Check = check(
    "CIS-DI-0001",
    "Create a user for the container",
    Level::Warn,
);
const HEALTHCHECK: Check = check(
    "CIS-DI-0006",
    "Add HEALTHCHECK instruction to the container image",
    Level::Info,
);
const UPDATE_ALONE: Check = check(
    "CIS-DI-0007",
    "Do not use update instructions alone in the Dockerfile",
    Level::Fatal,
);
const SETUID: Check = check(
    "CIS-DI-0008",
    "Confirm safety of setuid/setgid files",
    Level::Info,
);
const ADD: Check = check(
    "CIS-DI-0009",
    "Use COPY instead of ADD in Dockerfile",
    Level::Fatal,
);
const SECRETS: Check = check(
    "CIS-DI-0010",
    "Do not store credentials in environment variables/files",
    Level::Fatal,
);
const SUDO: Check = check("DKL-DI-0001", "Avoid sudo command", Level::Fatal);
const VOLUMES: Check = check(
    "DKL-DI-0002",
    "Avoid sensitive directory mounting",
    Level::Fatal,
);
const DIST_UPGRADE: Check = check("DKL-DI-0003", "Avoid apt-get dist-upgrade", Level::Warn);
const APK_CACHE: Check = check("DKL-DI-0004", "Use apk add with --no-cache", Level::Fatal);
const CACHES: Check = check("DKL-DI-0005", "Clear package manager caches", Level::Fatal);
const LATEST: Check = check("DKL-DI-0006", "Avoid latest tag", Level::Warn);
const EMPTY_PASSWORD: Check = check("DKL-LI-0001", "Avoid empty password", Level::Fatal);
const UNIQUE_IDS: Check = check("DKL-LI-0002", "Be unique UID/GROUPs", Level::Fatal);
const UNNEEDED: Check = check("DKL-LI-0003", "Only put necessary files", Level::Info);

/// Environment variable names that suggest a credential (matched on upper-cased name parts).
const SECRET_ENV_WORDS: &[&str] = &[
    "PASSWD",
    "PASSWORD",
    "PASS",
    "SECRET",
    "KEY",
    "ACCESS",
    "TOKEN",
    "CREDENTIAL",
];
/// Names that only look like secrets: public key fingerprints and paths.
const SECRET_ENV_ALLOWED: &[&str] = &["GPG_KEY", "GPG_KEYS", "PUBLIC_KEY"];
const SENSITIVE_VOLUMES: &[&str] = &[
    "/",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/proc",
    "/sys",
    "/usr",
    "/var/run/docker.sock",
    "/run/docker.sock",
];

/// Runs every check. `config` is absent for directories; `reference` is how the image was named
/// (for the `latest` check; empty when unknown).
pub fn run(index: &FsIndex, config: Option<&ImageConfig>, reference: &str) -> LintReport {
    let mut results = Vec::new();
    let mut emit = |c: &Check, alerts: Vec<String>| {
        results.push(LintResult {
            code: c.code.to_owned(),
            title: c.title.to_owned(),
            level: if alerts.is_empty() {
                Level::Pass
            } else {
                c.level
            },
            alerts,
        });
    };
    if let Some(cfg) = config {
        let user = cfg.user.split(':').next().unwrap_or("");
        emit(
            &USER,
            if user.is_empty() || user == "root" || user == "0" {
                vec!["last user is root".into()]
            } else {
                vec![]
            },
        );
        emit(
            &HEALTHCHECK,
            if cfg.healthcheck {
                vec![]
            } else {
                vec!["no HEALTHCHECK".into()]
            },
        );
        let runs: Vec<&str> = cfg.history.iter().map(String::as_str).collect();
        emit(
            &UPDATE_ALONE,
            runs.iter()
                .filter(|r| update_alone(r))
                .map(|r| short(r))
                .collect(),
        );
        emit(
            &ADD,
            runs.iter()
                .filter(|r| uses_add(r))
                .map(|r| short(r))
                .collect(),
        );
        let mut secrets: Vec<String> = cfg
            .env
            .iter()
            .filter_map(|e| e.split_once('='))
            .filter(|(k, v)| !v.is_empty() && secret_env_name(k))
            .map(|(k, _)| format!("suspicious environment variable {k}"))
            .collect();
        secrets.extend(files::credential_files(index));
        emit(&SECRETS, secrets);
        let mut sudo: Vec<String> = runs
            .iter()
            .filter(|r| runs_sudo(r))
            .map(|r| short(r))
            .collect();
        sudo.extend(files::sudo(index));
        emit(&SUDO, sudo);
        emit(
            &VOLUMES,
            cfg.volumes
                .iter()
                .filter(|v| {
                    SENSITIVE_VOLUMES.contains(&v.trim_end_matches('/')) || v.as_str() == "/"
                })
                .map(|v| format!("volume {v}"))
                .collect(),
        );
        emit(
            &DIST_UPGRADE,
            runs.iter()
                .filter(|r| r.contains("dist-upgrade"))
                .map(|r| short(r))
                .collect(),
        );
        emit(
            &APK_CACHE,
            runs.iter()
                .filter(|r| r.contains("apk add") && !r.contains("--no-cache"))
                .map(|r| short(r))
                .collect(),
        );
    } else {
        emit(&SECRETS, files::credential_files(index));
        emit(&SUDO, files::sudo(index));
    }
    emit(&SETUID, files::setuid(index));
    emit(&CACHES, files::package_caches(index));
    if !reference.is_empty() {
        emit(
            &LATEST,
            if is_latest(reference) {
                vec![format!("{reference} uses the latest tag")]
            } else {
                vec![]
            },
        );
    }
    emit(&EMPTY_PASSWORD, files::empty_passwords(index));
    emit(&UNIQUE_IDS, files::duplicate_ids(index));
    emit(&UNNEEDED, files::unneeded(index));
    LintReport { results }
}

/// `sudo` as the command of one of the shell commands in a RUN step (not `apk del sudo`).
fn runs_sudo(run: &str) -> bool {
    run.split(['&', ';', '|', '\n'])
        .filter_map(|cmd| cmd.split_whitespace().find(|w| !w.contains('=')))
        .any(|first| first == "sudo")
}

fn secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if SECRET_ENV_ALLOWED.contains(&upper.as_str()) {
        return false;
    }
    upper
        .split(['_', '-'])
        .any(|part| SECRET_ENV_WORDS.contains(&part))
}

/// `apt-get update` / `apk update` / `yum update` in a RUN step that installs nothing.
fn update_alone(run: &str) -> bool {
    let updates = [
        "apt-get update",
        "apt update",
        "apk update",
        "yum update",
        "dnf update",
    ]
    .iter()
    .any(|u| run.contains(u));
    updates
        && !["install", "upgrade", "apk add"]
            .iter()
            .any(|i| run.contains(i))
}

/// `ADD` of something other than the base image's root filesystem (`ADD file:<hash> in /`).
fn uses_add(run: &str) -> bool {
    let s = run.trim_start_matches("/bin/sh -c #(nop) ").trim();
    s.starts_with("ADD ") && !s.starts_with("ADD file:") && !s.starts_with("ADD dir:")
}

fn is_latest(reference: &str) -> bool {
    if reference.contains('@') {
        return false;
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    match last.rsplit_once(':') {
        Some((_, tag)) => tag == "latest",
        None => !reference.starts_with("oci:"),
    }
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.len() > 120 {
        let mut end = 120;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s.to_owned()
    }
}
