//! `zoll sign` and `zoll attest`: parse, open the key and the repository, call
//! `zoll_trust::image`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use zoll_client::{ImageRef, Location, Repository};
use zoll_trust::image::{self, SignOptions, SignatureFormat};
use zoll_trust::keys;
use zoll_trust::notation::EnvelopeFormat;

use crate::connect::Connection;
use crate::runtime;

#[derive(clap::Args)]
pub struct SignArgs {
    /// host[:port]/repo:tag, host[:port]/repo@sha256:..., oci:DIR[:tag]. A tag is resolved
    /// to its digest; the digest is signed.
    reference: String,
    /// Private key: a PEM file or a pkcs11: URI. With --remote: the name of a quorum key
    /// the registry holds.
    #[arg(long)]
    key: String,
    /// Certificate chain (PEM, signing certificate first); required for Notation.
    #[arg(long, conflicts_with = "remote")]
    cert: Option<PathBuf>,
    /// notation, cosign (bundle v0.3 referrer) or cosign-legacy (sha256-<hex>.sig tag).
    #[arg(long, default_value = "notation")]
    format: String,
    /// Notation envelope: jws or cose.
    #[arg(long, default_value = "jws")]
    envelope: String,
    /// Notation: the signature expires after this many days.
    #[arg(long, conflicts_with = "remote")]
    expiry_days: Option<i64>,
    /// The pipeline stage this signature vouches for (ci, scan, staging, ...): signed into
    /// the payload as the claim stage=NAME, which trust policies require per stage.
    #[arg(long)]
    stage: Option<String>,
    /// A further signed claim KEY=VALUE (repeatable).
    #[arg(long = "claim")]
    claims: Vec<String>,
    /// Ask the registry's quorum key named by --key to sign: creates a pending signing
    /// request (printed: its id) that signs once enough approvers ran `zoll approve`.
    /// The key's own format applies.
    #[arg(long)]
    remote: bool,
    /// With --remote: the account that asks; the password comes from ZOLL_PASSWORD or
    /// standard input. Unused without --remote (so ZOLL_USER in the environment is harmless).
    #[arg(long, env = "ZOLL_USER", default_value = "admin")]
    user: String,
    #[command(flatten)]
    connection: Connection,
}

#[derive(clap::Args)]
pub struct AttestArgs {
    /// The image, as for `zoll sign`.
    reference: String,
    /// The predicate: a JSON file (SBOM, vulnerability report, provenance, ...).
    #[arg(long)]
    predicate: PathBuf,
    /// The predicate type URI, e.g. https://spdx.dev/Document.
    #[arg(long = "type")]
    predicate_type: String,
    /// Private key: a PEM file or a pkcs11: URI.
    #[arg(long)]
    key: String,
    #[command(flatten)]
    connection: Connection,
}

/// Opens the repository of a reference.
pub fn open(reference: &str, connection: &Connection) -> anyhow::Result<(ImageRef, Repository)> {
    let image: ImageRef = reference.parse()?;
    let repo = Repository::open(&image, &connection.client_config()?)?;
    Ok((image, repo))
}

/// `registry/repository` (Notation policy scope, cosign identity); a layout's directory.
pub fn scope(image: &ImageRef) -> String {
    match &image.location {
        Location::Registry { registry, repo } => format!("{registry}/{repo}"),
        Location::Layout { dir } => dir.display().to_string(),
    }
}

/// `--claim KEY=VALUE`s and `--stage NAME` (the claim `stage`, which must not be given
/// twice with different values).
fn parse_claims(
    claims: &[String],
    stage: Option<&str>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for c in claims {
        match c.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.insert(k.to_owned(), v.to_owned()),
            _ => bail!("--claim {c:?} must be KEY=VALUE"),
        };
    }
    if let Some(stage) = stage {
        if stage.is_empty() || stage.bytes().any(|b| b.is_ascii_control()) {
            bail!("--stage {stage:?}: give a stage name");
        }
        let key = zoll_policy::STAGE_CLAIM;
        match out.insert(key.to_owned(), stage.to_owned()) {
            Some(other) if other != stage => {
                bail!("--stage {stage} and --claim {key}={other} disagree")
            }
            _ => {}
        }
    }
    Ok(out)
}

pub fn sign(args: SignArgs) -> anyhow::Result<()> {
    let claims = parse_claims(&args.claims, args.stage.as_deref())?;
    if args.remote {
        let image: ImageRef = args.reference.parse()?;
        return super::approvals::request(&image, &args.key, &claims, &args.user, &args.connection);
    }
    let format = match (args.format.as_str(), args.envelope.as_str()) {
        ("notation", "jws") => SignatureFormat::Notation(EnvelopeFormat::Jws),
        ("notation", "cose") => SignatureFormat::Notation(EnvelopeFormat::Cose),
        ("notation", other) => bail!("--envelope {other:?}: use jws or cose"),
        ("cosign", _) => SignatureFormat::CosignBundle,
        ("cosign-legacy", _) => SignatureFormat::CosignLegacy,
        (other, _) => bail!("--format {other:?}: use notation, cosign or cosign-legacy"),
    };
    let key = keys::open_key(&args.key)?;
    let chain = match &args.cert {
        Some(path) => {
            let text =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            keys::certificates_from_pem(&text)?
        }
        None if matches!(format, SignatureFormat::Notation(_)) => {
            bail!("Notation signatures need --cert (the certificate chain of the key)")
        }
        None => Vec::new(),
    };
    let (image, repo) = open(&args.reference, &args.connection)?;
    let opts = SignOptions {
        key: key.as_ref(),
        format,
        chain,
        expiry: args.expiry_days.map(time::Duration::days),
        claims,
        docker_reference: scope(&image),
    };
    let signed = runtime()?.block_on(image::sign(&repo, image.reference.as_ref(), &opts))?;
    println!(
        "Signed {}@{} ({})",
        scope(&image),
        signed.subject.digest,
        signed.signature.digest
    );
    Ok(())
}

pub fn attest(args: AttestArgs) -> anyhow::Result<()> {
    let text = std::fs::read(&args.predicate)
        .with_context(|| format!("cannot read {}", args.predicate.display()))?;
    let predicate: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not JSON", args.predicate.display()))?;
    let key = keys::open_key(&args.key)?;
    let (image, repo) = open(&args.reference, &args.connection)?;
    let signed = runtime()?.block_on(image::attest(
        &repo,
        image.reference.as_ref(),
        key.as_ref(),
        &args.predicate_type,
        predicate,
    ))?;
    println!(
        "Attested {}@{} ({})",
        scope(&image),
        signed.subject.digest,
        signed.signature.digest
    );
    Ok(())
}
