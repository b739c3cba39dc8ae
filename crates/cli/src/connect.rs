//! How every client command reaches a registry: one set of flags (`--registry-ca`,
//! `--insecure-skip-tls-verify`, `--plain-http`, `--creds`, `--authfile`, `--verbose`) turned
//! into one `zoll_client::ClientConfig`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use zoll_client::{ClientConfig, CredentialReport, CredentialSource, Credentials, PlainHttp};

/// How the registry's TLS certificate is checked: shared by the image commands and the
/// management commands.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Tls {
    /// A PEM file of root certificates to trust for the registry's TLS certificate, beside
    /// the system's (repeatable).
    #[arg(long = "registry-ca", value_name = "FILE")]
    registry_ca: Vec<PathBuf>,
    /// Do not verify the registry's TLS certificate (test setups only: anyone on the path
    /// can then read and change what is transferred).
    #[arg(long)]
    insecure_skip_tls_verify: bool,
}

impl Tls {
    /// Whether a TLS flag was given: the registry then speaks TLS, loopback or not (a TLS
    /// zoll on 127.0.0.1 could not be reached at all before).
    fn given(&self) -> bool {
        !self.registry_ca.is_empty() || self.insecure_skip_tls_verify
    }

    /// The client settings these flags make (loopback plain HTTP unless a flag is given).
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            plain_http: if self.given() {
                PlainHttp::Never
            } else {
                PlainHttp::Loopback
            },
            extra_roots: self.registry_ca.clone(),
            danger_accept_invalid_certs: self.insecure_skip_tls_verify,
            ..ClientConfig::default()
        }
    }
}

/// Connection flags shared by the commands that read or write a registry.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Connection {
    #[command(flatten)]
    tls: Tls,
    /// Speak plain HTTP to the registry. Without it loopback hosts get plain HTTP unless a
    /// TLS flag above is given, every other host HTTPS.
    #[arg(long, conflicts_with_all = ["registry_ca", "insecure_skip_tls_verify"])]
    plain_http: bool,
    /// USER[:PASSWORD] for the registry (without the password: ZOLL_PASSWORD, a prompt, or
    /// standard input). Without it, the auth files skopeo and docker use are read.
    #[arg(long, value_name = "USER[:PASSWORD]")]
    creds: Option<String>,
    /// The auth file to read credentials from instead of the usual ones (skopeo's and
    /// podman's `--authfile`).
    #[arg(long, value_name = "FILE", conflicts_with = "creds")]
    authfile: Option<PathBuf>,
    /// Say on standard error where the credentials for each registry came from (which auth
    /// file, credential helper or --creds), or which files were looked at when none did.
    #[arg(short, long)]
    verbose: bool,
}

impl Connection {
    pub fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let credentials = match &self.creds {
            None => None,
            Some(creds) => Some(match creds.split_once(':') {
                Some((username, password)) => Credentials {
                    username: username.to_owned(),
                    password: password.to_owned(),
                },
                None => Credentials {
                    username: creds.clone(),
                    password: crate::remote::read_password(creds, false)?,
                },
            }),
        };
        if let Some(file) = &self.authfile {
            anyhow::ensure!(
                file.is_file(),
                "--authfile {}: no such file",
                file.display()
            );
        }
        let tls = self.tls.client_config();
        Ok(ClientConfig {
            plain_http: if self.plain_http {
                PlainHttp::Always
            } else {
                tls.plain_http
            },
            credentials,
            auth_file: self.authfile.clone(),
            on_credentials: self
                .verbose
                .then(|| Arc::new(Verbose::default()) as Arc<dyn CredentialReport>),
            ..tls
        })
    }
}

/// `--verbose`: where each registry's credentials came from, once per registry.
#[derive(Debug, Default)]
struct Verbose {
    told: Mutex<HashSet<String>>,
}

impl CredentialReport for Verbose {
    fn report(&self, host: &str, source: &CredentialSource) {
        if !self.told.lock().expect("poisoned").insert(host.to_owned()) {
            return;
        }
        eprintln!("{}", credentials_line(host, source));
    }
}

/// What `--verbose` says about the credentials for `host`.
pub(crate) fn credentials_line(host: &str, source: &CredentialSource) -> String {
    match source {
        CredentialSource::Given => format!("credentials for {host}: from --creds"),
        CredentialSource::AuthFile(file) => {
            format!(
                "credentials for {host}: from the auth file {}",
                file.display()
            )
        }
        CredentialSource::Helper { name, file } => format!(
            "credentials for {host}: from the credential helper docker-credential-{name} \
             (named in {})",
            file.display()
        ),
        CredentialSource::NotFound(looked) if looked.is_empty() => {
            format!("no credentials for {host}: no auth file to look in")
        }
        CredentialSource::NotFound(looked) => {
            let mut line = format!("no credentials for {host} in:");
            for (file, miss) in looked {
                line.push_str(&format!("\n  {}: {miss}", file.display()));
            }
            line
        }
    }
}
