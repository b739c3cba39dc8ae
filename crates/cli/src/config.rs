//! Configuration: defaults, then a TOML file (`--config`), then `ZOLL_<SECTION>_<KEY>`
//! environment variables, then command-line flags — each later source overriding.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: Server,
    pub storage: Storage,
    pub metadata: Metadata,
    pub s3: S3,
    pub limits: Limits,
    pub log: Log,
    pub gc: Gc,
    pub scrub: Scrub,
    pub auth: Auth,
    pub audit: Audit,
    pub projects: Projects,
    pub metrics: MetricsSection,
    pub webhooks: Webhooks,
    pub retention: Retention,
    pub scan: Scan,
    pub approvals: ApprovalsSection,
    pub policy: PolicySection,
    pub admission: crate::serve::AdmissionConfig,
    pub ui: Ui,
}

/// The web console under `/ui/` (`docs/console.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ui {
    /// Serve the console; false: `/ui/` is not found.
    pub enabled: bool,
    /// Console sessions one account keeps at most (1 to 100); a login beyond ends its
    /// oldest.
    pub max_sessions_per_account: u32,
    /// The origin browsers use (`https://registry.example.com[:port]`) when a proxy in
    /// front terminates TLS or changes the host name; unset: the request's own.
    pub origin: Option<String>,
}

impl Default for Ui {
    fn default() -> Self {
        let d = zoll_registry::ui::UiSettings::default();
        Ui {
            enabled: d.enabled,
            max_sessions_per_account: d.max_sessions_per_account,
            origin: None,
        }
    }
}

/// The trust policy the pull gate enforces (`docs/policy.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySection {
    /// The policy file; unset: manifests are served ungated.
    pub file: Option<PathBuf>,
    /// Seconds a decision is reused for the same image and signatures (0: no cache).
    pub cache_ttl_secs: u64,
    /// Seconds between checks of the file for a change; a changed file that does not parse
    /// is logged and the previous policy stays in force.
    pub reload_secs: u64,
    /// This registry's name as clients write it (`registry.example.com[:port]`): Notation
    /// trust-policy scopes are matched against `<registry>/<repository>`. Required when one
    /// names scopes; the client's Host header is never used.
    pub registry: Option<String>,
}

impl Default for PolicySection {
    fn default() -> Self {
        PolicySection {
            file: None,
            cache_ttl_secs: 30,
            reload_secs: 5,
            registry: None,
        }
    }
}

/// Quorum-approved signing inside `serve` (`docs/policy.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsSection {
    /// The quorum keys file (`approvals.toml`); unset: no server-held keys, and
    /// `/api/v1/approvals` answers that approvals are not configured.
    pub keys: Option<PathBuf>,
    /// Seconds between passes that expire requests, end those whose tag moved and sign
    /// those whose timelock passed.
    pub tick_secs: u64,
}

impl Default for ApprovalsSection {
    fn default() -> Self {
        ApprovalsSection {
            keys: None,
            tick_secs: 1,
        }
    }
}

/// Scanning of pushed images inside `serve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scan {
    /// Queue a scan of every pushed container image.
    pub on_push: bool,
    /// Concurrent scans in this process (0: queue only; another replica scans).
    pub workers: usize,
    /// The OSV database (`zoll db import` writes `DATA/vulndb/osv.jsonl`).
    pub db: Option<PathBuf>,
    /// `<dir>/<project>/*.toml` allowlists and `*.json` OpenVEX documents per project
    /// (default `DATA/scan-suppressions`).
    pub suppressions_dir: Option<PathBuf>,
    /// Seconds between checks of the database file for a new version.
    pub db_check_secs: u64,
}

impl Default for Scan {
    fn default() -> Self {
        Scan {
            on_push: true,
            workers: 1,
            db: None,
            suppressions_dir: None,
            db_check_secs: 60,
        }
    }
}

/// Authentication. `enabled = false` is what `serve --no-auth` sets: only for local
/// experiments, and refused on non-loopback listeners.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    pub enabled: bool,
    /// `iss` of the registry tokens.
    pub issuer: String,
    /// `aud` of the tokens and `service` of the challenges.
    pub service: String,
    pub token_ttl_secs: u64,
    /// Token endpoint URL announced to clients; unset: derived from the Host header.
    pub realm: Option<String>,
    /// Password of the `admin` account created on first start; unset: generated and
    /// printed once.
    pub admin_password: Option<String>,
    /// Failed logins from one source address within `failed_login_window_secs` after which
    /// further attempts from it are refused (429) until the window ends; 0: no limit.
    pub failed_logins_per_source: u32,
    /// The same per account name; 0: no limit.
    pub failed_logins_per_account: u32,
    pub failed_login_window_secs: u64,
    /// Password hashes computed at once (19 MiB each while running); 0: one per core, at
    /// most four.
    pub password_checks: usize,
    /// Token requests per second from one client address (bursts of five times as many);
    /// 0: unlimited.
    pub token_rate_per_source: u32,
}

impl Default for Auth {
    fn default() -> Self {
        let d = zoll_registry::AuthSettings::enabled();
        Auth {
            enabled: true,
            issuer: d.issuer,
            service: d.service,
            token_ttl_secs: d.token_ttl.as_secs(),
            realm: None,
            admin_password: None,
            failed_logins_per_source: d.throttle.per_source,
            failed_logins_per_account: d.throttle.per_account,
            failed_login_window_secs: d.throttle.window.as_secs(),
            password_checks: d.password_checks,
            token_rate_per_source: d.token_rate_per_source,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Audit {
    /// Record every manifest pull (mutations and denials are always recorded).
    pub pulls: bool,
}

impl Default for Audit {
    fn default() -> Self {
        Audit { pulls: true }
    }
}

/// Who reads `/metrics` besides system administrators.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// A file holding the token (32 to 1024 visible ASCII characters) a dedicated scraper
    /// sends as `Authorization: Bearer <token>` (Prometheus: `authorization:
    /// credentials_file`). It reads `/metrics` and nothing else; unset: administrators only.
    pub token_file: Option<PathBuf>,
}

/// Projects (`README.md`, Governance).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Projects {
    /// Who makes a project that does not exist by pushing into it: `admins` (a system
    /// administrator's push creates it, private and audited) or `never` (only `zoll project
    /// create`). Other accounts' pushes into a missing project are refused either way.
    pub create_on_push: zoll_registry::push_rules::CreateOnPush,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Webhooks {
    /// Delay before the first retry of a failed delivery; doubled for each further one.
    pub retry_base_secs: u64,
    pub max_attempts: u32,
    pub timeout_secs: u64,
    /// Internal networks (CIDR, e.g. `10.20.0.0/16`) webhooks may be delivered to; public
    /// addresses always may, loopback, link-local and private ones only when listed.
    pub allowed_networks: Vec<String>,
    /// Days settled deliveries and their attempt logs are kept.
    pub history_days: u64,
}

impl Default for Webhooks {
    fn default() -> Self {
        let d = zoll_registry::HookSettings::default();
        Webhooks {
            retry_base_secs: d.retry_base.as_secs(),
            max_attempts: d.max_attempts,
            timeout_secs: d.timeout.as_secs(),
            allowed_networks: Vec::new(),
            history_days: d.history.as_secs() / 86_400,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Seconds between runs of the projects' retention policies inside `serve`; 0 = off.
    pub interval_secs: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            interval_secs: 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    pub listen: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (e.g. behind a TLS-terminating proxy).
    pub danger_allow_plain_http: bool,
    pub shutdown_grace_secs: u64,
    /// How often the TLS files are checked for a renewed certificate (reloaded in place;
    /// 1 s to 1 day).
    pub tls_reload_secs: u64,
    /// A new connection must send its request headers within this, and a request's headers
    /// must be complete this long after its first byte.
    pub header_timeout_secs: u64,
    /// A keep-alive connection with no request in flight is closed after this.
    pub keepalive_timeout_secs: u64,
    /// A request body from which no byte arrived for this long fails (slow uploads are fine
    /// while bytes keep coming).
    pub body_timeout_secs: u64,
    /// A response the client stopped reading for this long is abandoned.
    pub send_timeout_secs: u64,
    /// Open connections at most; 0: the open-file limit minus 64, at most 1024. Over the
    /// limit the connection idle longest is closed; when all are busy a new one gets 503.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    pub data_dir: PathBuf,
    pub verify_reads: bool,
    pub upload_ttl_secs: u64,
    pub cache_bytes: usize,
}

/// Where registry metadata lives. Unset: the embedded SQLite database in the data directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metadata {
    /// `postgres://user:password@host:port/database` to share metadata between replicas.
    pub url: Option<String>,
    /// Apply pending schema migrations when the store opens. Off: start-up fails until
    /// `zoll migrate` ran (for operators who migrate as a separate, deliberate step).
    pub migrate_on_start: bool,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            url: None,
            migrate_on_start: true,
        }
    }
}

/// Blobs in an S3-compatible object store. Unset bucket: blobs on local disk in the data
/// directory. Credentials left unset come from the usual `AWS_*` environment variables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3 {
    pub bucket: Option<String>,
    /// e.g. `https://s3.eu-central-1.amazonaws.com` or `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Key prefix inside the bucket (e.g. `zoll/`), so a bucket can be shared.
    pub prefix: String,
    /// `endpoint/bucket/key` requests, as MinIO-style servers expect.
    pub path_style: bool,
    /// Allow a plain-HTTP endpoint. Only for servers on a trusted network.
    pub danger_allow_http: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_manifest_bytes: usize,
    /// Deepest nesting of arrays and objects in a manifest (1 to 128).
    pub max_json_depth: usize,
    pub max_name_len: usize,
    pub max_blob_bytes: u64,
    pub max_page: u64,
    /// Open upload sessions per project.
    pub max_upload_sessions: u64,
    /// Repositories per project.
    pub max_repositories: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gc {
    /// Seconds between garbage collections inside `serve`; 0 turns them off.
    pub interval_secs: u64,
    /// Unreferenced blobs uploaded or linked more recently are kept.
    pub grace_secs: u64,
    /// Also remove untagged manifests that no tag, index or present subject needs (and
    /// pushed longer than the grace window ago).
    pub untagged: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scrub {
    /// Seconds between scrubs inside `serve`; 0 turns them off.
    pub interval_secs: u64,
}

impl Default for Gc {
    fn default() -> Self {
        Gc {
            interval_secs: 3600,
            grace_secs: 24 * 3600,
            untagged: false,
        }
    }
}

impl Default for Scrub {
    fn default() -> Self {
        Scrub {
            interval_secs: 7 * 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// `human` or `json`.
    pub format: String,
    /// A tracing filter such as `info` or `zoll_registry=debug,info`.
    pub level: String,
    /// One info line per request (method, path, status, duration, user, source, bytes);
    /// false: reads are logged at debug only.
    pub access: bool,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: "127.0.0.1:5000".into(),
            tls_cert: None,
            tls_key: None,
            danger_allow_plain_http: false,
            shutdown_grace_secs: 30,
            tls_reload_secs: 60,
            header_timeout_secs: 20,
            keepalive_timeout_secs: 60,
            body_timeout_secs: 60,
            send_timeout_secs: 60,
            max_connections: 0,
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        let store = zoll_store::StoreConfig::new("./zoll-data");
        Storage {
            data_dir: store.data_dir,
            verify_reads: store.verify_reads,
            upload_ttl_secs: store.upload_ttl.as_secs(),
            cache_bytes: store.cache_bytes,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        let http = zoll_registry::Limits::default();
        Limits {
            max_manifest_bytes: http.max_manifest_bytes,
            max_json_depth: http.max_json_depth,
            max_name_len: http.max_name_len,
            max_blob_bytes: zoll_store::StoreConfig::new(".").max_blob_bytes,
            max_page: http.max_page,
            max_upload_sessions: zoll_store::StoreConfig::new(".").max_upload_sessions,
            max_repositories: zoll_store::StoreConfig::new(".").max_repositories,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            format: "human".into(),
            level: "info".into(),
            access: true,
        }
    }
}

/// `[ui] origin` as browsers send it in `Origin`: `scheme://host[:port]`, lower case.
fn ui_origin(text: &str) -> anyhow::Result<String> {
    let bad = || anyhow::anyhow!("ui.origin {text:?}: give https://host[:port] (or http://)");
    let url = reqwest::Url::parse(text).map_err(|_| bad())?;
    if !matches!(url.scheme(), "https" | "http")
        || url.host_str().is_none()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

const SECTIONS: [&str; 19] = [
    "server",
    "storage",
    "metadata",
    "s3",
    "limits",
    "log",
    "gc",
    "scrub",
    "auth",
    "audit",
    "projects",
    "metrics",
    "webhooks",
    "retention",
    "scan",
    "approvals",
    "policy",
    "admission",
    "ui",
];

/// Loads the file (if any) and applies `ZOLL_<SECTION>_<KEY>` overrides from `env`.
pub fn load(
    file: Option<&Path>,
    env: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<Config> {
    let mut doc: toml::Table = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("config file {} is not valid TOML", path.display()))?
        }
        None => toml::Table::new(),
    };
    for (key, value) in env {
        let Some(rest) = key.strip_prefix("ZOLL_") else {
            continue;
        };
        let rest = rest.to_ascii_lowercase();
        let Some((section, field)) = SECTIONS
            .iter()
            .find_map(|s| Some((*s, rest.strip_prefix(s)?.strip_prefix('_')?)))
        else {
            continue;
        };
        let table = doc
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(table) = table.as_table_mut() else {
            bail!("config section [{section}] is not a table");
        };
        table.insert(field.to_owned(), env_value(&value));
    }
    let config: Config = toml::Value::Table(doc)
        .try_into()
        .context("invalid configuration")?;
    Ok(config)
}

/// Loads the configuration and applies the data-directory flag.
pub fn load_for(args: &crate::StoreArgs) -> anyhow::Result<Config> {
    let mut c = load(args.config.as_deref(), std::env::vars())?;
    if let Some(v) = &args.data {
        c.storage.data_dir = v.clone();
    }
    Ok(c)
}

impl Config {
    pub fn scan_settings(&self) -> zoll_registry::scanner::ScanSettings {
        let data = &self.storage.data_dir;
        zoll_registry::scanner::ScanSettings {
            workers: self.scan.workers,
            db: Some(
                self.scan
                    .db
                    .clone()
                    .unwrap_or_else(|| data.join("vulndb/osv.jsonl")),
            ),
            suppressions: Some(
                self.scan
                    .suppressions_dir
                    .clone()
                    .unwrap_or_else(|| data.join("scan-suppressions")),
            ),
            db_check: std::time::Duration::from_secs(self.scan.db_check_secs.max(1)),
            ..Default::default()
        }
    }

    pub fn auth_settings(&self, tls: bool) -> anyhow::Result<zoll_registry::AuthSettings> {
        let a = &self.auth;
        let max_ttl = zoll_registry::auth::MAX_TOKEN_TTL.as_secs();
        if !(1..=max_ttl).contains(&a.token_ttl_secs) {
            bail!(
                "auth.token_ttl_secs must be 1 to {max_ttl}, not {}",
                a.token_ttl_secs
            );
        }
        if a.failed_login_window_secs == 0 || a.failed_login_window_secs > 86_400 {
            bail!(
                "auth.failed_login_window_secs must be 1 to 86400, not {}",
                a.failed_login_window_secs
            );
        }
        if a.password_checks > 64 {
            bail!(
                "auth.password_checks must be 0 (automatic) to 64, not {}",
                a.password_checks
            );
        }
        Ok(zoll_registry::AuthSettings {
            enabled: a.enabled,
            issuer: a.issuer.clone(),
            service: a.service.clone(),
            token_ttl: std::time::Duration::from_secs(a.token_ttl_secs),
            realm: a.realm.clone(),
            scheme: if tls { "https" } else { "http" },
            throttle: zoll_registry::auth::ThrottleSettings {
                window: std::time::Duration::from_secs(a.failed_login_window_secs),
                per_source: a.failed_logins_per_source,
                per_account: a.failed_logins_per_account,
            },
            password_checks: a.password_checks,
            token_rate_per_source: a.token_rate_per_source,
        })
    }

    /// The scraper's token of `[metrics] token_file`, read once at start.
    pub fn metrics_reader(&self) -> anyhow::Result<Option<zoll_registry::ReaderToken>> {
        let Some(path) = &self.metrics.token_file else {
            return Ok(None);
        };
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| {
                f.take(zoll_registry::ReaderToken::MAX_LEN as u64 + 64)
                    .read_to_string(&mut text)
            })
            .with_context(|| format!("cannot read metrics.token_file {}", path.display()))?;
        let token = zoll_registry::ReaderToken::new(&text)
            .map_err(|e| anyhow::anyhow!("metrics.token_file {}: {e}", path.display()))?;
        Ok(Some(token))
    }

    /// The console's settings. Its cookie is `Secure` (and named `__Host-zoll_session`)
    /// unless the server speaks plain HTTP on a loopback address: behind a TLS-terminating
    /// proxy (`danger_allow_plain_http` on another address) the browser speaks HTTPS.
    pub fn ui_settings(
        &self,
        tls: bool,
        listen: std::net::SocketAddr,
    ) -> anyhow::Result<zoll_registry::ui::UiSettings> {
        let n = self.ui.max_sessions_per_account;
        if !(1..=100).contains(&n) {
            bail!("ui.max_sessions_per_account must be 1 to 100, not {n}");
        }
        let origin = self.ui.origin.as_deref().map(ui_origin).transpose()?;
        Ok(zoll_registry::ui::UiSettings {
            enabled: self.ui.enabled,
            secure_cookie: match &origin {
                Some(o) => o.starts_with("https://"),
                None => tls || !listen.ip().is_loopback(),
            },
            max_sessions_per_account: n,
            origin,
            ..Default::default()
        })
    }

    /// Timeouts and the connection limit of `[server]`, each timeout 1 s to 1 hour.
    pub fn connection_limits(
        &self,
    ) -> anyhow::Result<zoll_registry::connections::ConnectionLimits> {
        let s = &self.server;
        let secs = |name: &str, v: u64| -> anyhow::Result<std::time::Duration> {
            if !(1..=3600).contains(&v) {
                bail!("server.{name} must be 1 to 3600 seconds, not {v}");
            }
            Ok(std::time::Duration::from_secs(v))
        };
        secs("body_timeout_secs", s.body_timeout_secs)?;
        Ok(zoll_registry::connections::ConnectionLimits {
            header_timeout: secs("header_timeout_secs", s.header_timeout_secs)?,
            keepalive_timeout: secs("keepalive_timeout_secs", s.keepalive_timeout_secs)?,
            send_timeout: secs("send_timeout_secs", s.send_timeout_secs)?,
            max_connections: match s.max_connections {
                0 => zoll_registry::connections::default_max_connections(),
                n => n,
            },
        })
    }

    pub fn store_config(&self) -> zoll_store::StoreConfig {
        let mut s = zoll_store::StoreConfig::new(&self.storage.data_dir);
        s.max_blob_bytes = self.limits.max_blob_bytes;
        s.max_upload_sessions = self.limits.max_upload_sessions;
        s.max_repositories = self.limits.max_repositories;
        s.upload_ttl = std::time::Duration::from_secs(self.storage.upload_ttl_secs);
        s.verify_reads = self.storage.verify_reads;
        s.cache_bytes = self.storage.cache_bytes;
        s.metadata_url = self.metadata.url.clone();
        s.migrate = self.metadata.migrate_on_start;
        s.scan_on_push = self.scan.on_push;
        s.s3 = self.s3.bucket.as_ref().map(|bucket| zoll_store::S3Config {
            endpoint: self.s3.endpoint.clone(),
            bucket: bucket.clone(),
            region: self.s3.region.clone(),
            access_key_id: self.s3.access_key_id.clone(),
            secret_access_key: self.s3.secret_access_key.clone(),
            prefix: self.s3.prefix.clone(),
            path_style: self.s3.path_style,
            allow_http: self.s3.danger_allow_http,
        });
        s
    }
}

/// Environment values are text; numbers and booleans are recognised so they can fill typed
/// fields.
fn env_value(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>() {
        toml::Value::Integer(i)
    } else if let Ok(b) = v.parse::<bool>() {
        toml::Value::Boolean(b)
    } else {
        toml::Value::String(v.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = std::env::temp_dir().join(format!("zoll-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("zoll.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:6000\"\n[limits]\nmax_name_len = 100\n",
        )
        .unwrap();
        let env = [
            ("ZOLL_LIMITS_MAX_NAME_LEN", "50"),
            ("ZOLL_STORAGE_VERIFY_READS", "false"),
            ("ZOLL_LOG_FORMAT", "json"),
            ("ZOLL_S3_BUCKET", "blobs"),
            ("ZOLL_S3_PATH_STYLE", "true"),
            ("ZOLL_APPROVALS_KEYS", "/etc/zoll/approvals.toml"),
            ("ZOLL_POLICY_FILE", "/etc/zoll/policy.toml"),
            ("UNRELATED", "x"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let c = load(Some(&file), env.into_iter()).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:6000");
        assert_eq!(c.limits.max_name_len, 50);
        assert!(!c.storage.verify_reads);
        assert_eq!(c.log.format, "json");
        let s3 = c.store_config().s3.expect("a bucket selects S3");
        assert_eq!((s3.bucket.as_str(), s3.path_style), ("blobs", true));
        assert_eq!(
            c.approvals.keys.as_deref(),
            Some(Path::new("/etc/zoll/approvals.toml"))
        );
        assert_eq!(c.approvals.tick_secs, 1);
        assert_eq!(
            c.policy.file.as_deref(),
            Some(Path::new("/etc/zoll/policy.toml"))
        );
        assert_eq!(c.policy.cache_ttl_secs, 30);

        std::fs::write(&file, "[server]\nlisten_typo = 1\n").unwrap();
        let err = load(Some(&file), std::iter::empty()).unwrap_err();
        assert!(format!("{err:#}").contains("listen_typo"), "{err:#}");
    }

    #[test]
    fn projects_and_the_metrics_token_file() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("metrics.token");
        let env = |file: &Path| {
            [
                ("ZOLL_PROJECTS_CREATE_ON_PUSH", "never".to_owned()),
                ("ZOLL_METRICS_TOKEN_FILE", file.display().to_string()),
            ]
            .map(|(k, v)| (k.to_owned(), v))
        };
        std::fs::write(&token, format!("{}\n", "t".repeat(40))).unwrap();
        let c = load(None, env(&token).into_iter()).unwrap();
        assert_eq!(
            c.projects.create_on_push,
            zoll_registry::push_rules::CreateOnPush::Never
        );
        assert!(c.metrics_reader().unwrap().is_some());
        // A short token is refused at start, without printing it.
        std::fs::write(&token, "short-secret").unwrap();
        let err = format!("{:#}", c.metrics_reader().unwrap_err());
        assert!(err.contains("32 to 1024 characters"), "{err}");
        assert!(!err.contains("short-secret"), "{err}");
        assert!(
            load(
                None,
                [("ZOLL_PROJECTS_CREATE_ON_PUSH".to_owned(), "all".to_owned())].into_iter()
            )
            .is_err()
        );
    }

    #[test]
    fn the_console_is_on_by_default_and_its_cookie_secure_except_plain_loopback() {
        let loopback: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let public: std::net::SocketAddr = "0.0.0.0:5000".parse().unwrap();
        let c = load(None, std::iter::empty()).unwrap();
        let ui = c.ui_settings(false, loopback).unwrap();
        assert!(ui.enabled && !ui.secure_cookie);
        assert!(c.ui_settings(true, loopback).unwrap().secure_cookie);
        assert!(
            c.ui_settings(false, public).unwrap().secure_cookie,
            "TLS ends at a proxy"
        );
        let env = [("ZOLL_UI_ORIGIN", "https://Registry.Example.com:8443/")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let c = load(None, env.into_iter()).unwrap();
        let ui = c.ui_settings(false, loopback).unwrap();
        assert_eq!(
            ui.origin.as_deref(),
            Some("https://registry.example.com:8443")
        );
        assert!(
            ui.secure_cookie,
            "a TLS proxy in front of a loopback listener"
        );
        for bad in [
            "registry.example.com",
            "https://r.example/ui",
            "ftp://r.example",
        ] {
            let env = [("ZOLL_UI_ORIGIN", bad)].map(|(k, v)| (k.to_owned(), v.to_owned()));
            let c = load(None, env.into_iter()).unwrap();
            assert!(c.ui_settings(false, loopback).is_err(), "{bad}");
        }
        let env = [
            ("ZOLL_UI_ENABLED", "false"),
            ("ZOLL_UI_MAX_SESSIONS_PER_ACCOUNT", "3"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let c = load(None, env.into_iter()).unwrap();
        let ui = c.ui_settings(true, loopback).unwrap();
        assert!(!ui.enabled);
        assert_eq!(ui.max_sessions_per_account, 3);
        let env =
            [("ZOLL_UI_MAX_SESSIONS_PER_ACCOUNT", "0")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        let c = load(None, env.into_iter()).unwrap();
        let err = c.ui_settings(true, loopback).unwrap_err();
        assert!(
            err.to_string().contains("ui.max_sessions_per_account"),
            "{err}"
        );
    }
}
