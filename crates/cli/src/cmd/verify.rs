//! `zoll verify`: with public keys (cosign style) and/or a Notation trust store and policy.

use std::path::PathBuf;

use anyhow::{Context, bail};
use zoll_trust::keys::{self, PublicKey};
use zoll_trust::notation::policy::PolicySet;
use zoll_trust::notation::trust_store::TrustStore;
use zoll_trust::verify::{Identity, NotationTrust, Report, TrustRoots, TrustedKey};

use super::sign::{open, scope};
use crate::connect::Connection;
use crate::output::OutputArg;
use crate::runtime;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The image, as for `zoll sign`.
    reference: String,
    /// A trusted public key: a PEM file (PUBLIC KEY, or a private key whose public half is
    /// meant) or a pkcs11: URI (repeatable).
    #[arg(long)]
    key: Vec<String>,
    /// Notation trust store directory (x509/ca/NAME/*.pem, ...).
    #[arg(long, requires = "trust_policy")]
    trust_store: Option<PathBuf>,
    /// Notation trustpolicy.json.
    #[arg(long, requires = "trust_store")]
    trust_policy: Option<PathBuf>,
    #[command(flatten)]
    out: OutputArg,
    #[command(flatten)]
    connection: Connection,
}

fn trusted_key(spec: &str) -> anyhow::Result<TrustedKey> {
    let key = if spec.starts_with("pkcs11:") {
        keys::open_key(spec)?.public_key().clone()
    } else {
        let text = std::fs::read(spec).with_context(|| format!("cannot read {spec}"))?;
        match PublicKey::from_pem(&text) {
            Ok(k) => k,
            Err(_) => keys::open_key(spec)?.public_key().clone(),
        }
    };
    Ok(TrustedKey {
        name: spec.split('?').next().unwrap_or(spec).to_owned(),
        key,
    })
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let mut roots = TrustRoots::default();
    for k in &args.key {
        roots.keys.push(trusted_key(k)?);
    }
    if let (Some(store_dir), Some(policy_file)) = (&args.trust_store, &args.trust_policy) {
        let store = TrustStore::load(store_dir)?;
        let text = std::fs::read(policy_file)
            .with_context(|| format!("cannot read {}", policy_file.display()))?;
        let policies = PolicySet::parse(&text, &store).map_err(anyhow::Error::msg)?;
        roots.notation = Some(NotationTrust { store, policies });
    }
    if roots.keys.is_empty() && roots.notation.is_none() {
        bail!("give --key, or --trust-store with --trust-policy");
    }
    let (image, repo) = open(&args.reference, &args.connection)?;
    let report = runtime()?.block_on(zoll_trust::image::verify(
        &repo,
        image.reference.as_ref(),
        &roots,
        &scope(&image),
    ))?;
    if args.out.output.is_machine() {
        args.out.output.print(&serde_json::to_value(&report)?, None);
    } else {
        print_text(&report);
    }
    if report.is_trusted() {
        Ok(())
    } else {
        bail!(
            "{}@{} is not trusted: {}",
            scope(&image),
            report.subject,
            reasons(&report)
        )
    }
}

fn reasons(report: &Report) -> String {
    if report.rejected.is_empty() {
        return if report.accepted.is_empty() {
            "no signature".into()
        } else {
            "only attestations, no signature".into()
        };
    }
    report
        .rejected
        .iter()
        .map(|r| format!("{} ({})", r.failure, r.artifact))
        .collect::<Vec<_>>()
        .join("; ")
}

fn print_text(report: &Report) {
    for a in &report.accepted {
        let who = match &a.identity {
            Identity::Key { name, fingerprint } => format!("key {name} (sha256:{fingerprint})"),
            Identity::X509 {
                subject,
                trust_store,
                ..
            } => format!("{subject} via {trust_store}"),
        };
        let what = a
            .predicate_type
            .as_deref()
            .map(|p| format!(" attestation {p}"))
            .unwrap_or_default();
        println!("OK {:?}{what} by {who} ({})", a.format, a.artifact);
        for w in &a.warnings {
            println!("   warning: {w}");
        }
    }
    for r in &report.rejected {
        println!("REJECTED {:?} {}: {}", r.format, r.artifact, r.failure);
    }
    if report.verification_skipped {
        println!("verification skipped by the trust policy");
    }
}
