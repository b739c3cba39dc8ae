//! How every client command reaches a registry: one set of flags (`--registry-ca`,
//! `--insecure-skip-tls-verify`, `--plain-http`) turned into one `zoll_client::ClientConfig`.

use std::path::PathBuf;

use zoll_client::{ClientConfig, PlainHttp};

/// Connection flags shared by the commands that read or write a registry.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Connection {
    /// A PEM file of root certificates to trust for the registry's TLS certificate, beside
    /// the system's (repeatable).
    #[arg(long = "registry-ca", value_name = "FILE")]
    registry_ca: Vec<PathBuf>,
    /// Do not verify the registry's TLS certificate (test setups only: anyone on the path
    /// can then read and change what is transferred).
    #[arg(long)]
    insecure_skip_tls_verify: bool,
    /// Speak plain HTTP to the registry. Without it loopback hosts get plain HTTP unless a
    /// TLS flag above is given, every other host HTTPS.
    #[arg(long, conflicts_with_all = ["registry_ca", "insecure_skip_tls_verify"])]
    plain_http: bool,
}

impl Connection {
    pub fn client_config(&self) -> ClientConfig {
        // A TLS flag says the registry speaks TLS, loopback or not (a TLS zoll on
        // 127.0.0.1 could not be reached at all before).
        let plain_http = if self.plain_http {
            PlainHttp::Always
        } else if !self.registry_ca.is_empty() || self.insecure_skip_tls_verify {
            PlainHttp::Never
        } else {
            PlainHttp::Loopback
        };
        ClientConfig {
            plain_http,
            extra_roots: self.registry_ca.clone(),
            danger_accept_invalid_certs: self.insecure_skip_tls_verify,
            ..ClientConfig::default()
        }
    }
}
