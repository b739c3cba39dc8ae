//! `zoll policy explain`: the decision of the trust-policy evaluator for one image, with
//! every check behind it, computed here from a policy file and the signatures the image's
//! registry (or OCI layout) serves — the same engine the registry's pull gate runs.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use zoll_client::{ImageRef, Location};
use zoll_policy::{ClientSource, Engine, Gate, PolicySet, Target};

use crate::connect::Connection;
use crate::output::OutputArg;
use crate::runtime;

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Print the decision for an image and every check behind it; exit status 0 only when
    /// the image is allowed.
    Explain {
        /// host[:port]/repo:tag, host[:port]/repo@sha256:..., oci:DIR[:tag].
        reference: String,
        /// The policy file (TOML, docs/policy.md).
        #[arg(long)]
        policy: PathBuf,
        /// The gate to decide for: pull or admission.
        #[arg(long, default_value = "pull")]
        gate: String,
        #[command(flatten)]
        out: OutputArg,
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn policy(cmd: PolicyCmd) -> anyhow::Result<()> {
    let PolicyCmd::Explain {
        reference,
        policy,
        gate,
        out,
        connection,
    } = cmd;
    let Some(gate) = Gate::parse(&gate) else {
        bail!("--gate {gate:?}: use pull or admission");
    };
    let set = PolicySet::load(&policy)?;
    let image: ImageRef = reference.parse()?;
    let (registry, repository) = match &image.location {
        Location::Registry { registry, repo } => (registry.clone(), repo.to_string()),
        Location::Layout { dir } => (format!("oci:{}", dir.display()), String::new()),
    };
    let source = ClientSource::new(connection.client_config()?);
    let engine = Engine::new(set);
    let decision = runtime()?.block_on(async {
        let subject = source
            .repository(&registry, &repository)?
            .resolve(image.reference.as_ref())
            .await
            .with_context(|| format!("cannot resolve {reference}"))?;
        let target = Target {
            gate,
            registry: &registry,
            repository: &repository,
            subject: &subject,
        };
        anyhow::Ok(engine.decide(target, &source).await?)
    })?;
    if out.output.is_machine() {
        out.output.print(&serde_json::to_value(&decision)?, None);
    } else {
        print!("{}", decision.explain());
    }
    if !decision.allowed {
        bail!("denied: {}", decision.reason());
    }
    Ok(())
}
