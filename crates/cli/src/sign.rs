//! `zoll sign` and `zoll attest`: parse, open the key and the repository, call
//! `zoll_trust::image`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use zoll_client::{ClientConfig, ImageRef, Location, Repository};
use zoll_trust::image::{self, SignOptions, SignatureFormat};
use zoll_trust::keys;
use zoll_trust::notation::EnvelopeFormat;

#[derive(clap::Args)]
pub struct SignArgs {
    /// host[:port]/repo:tag, host[:port]/repo@sha256:..., oci:DIR[:tag]. A tag is resolved
    /// to its digest; the digest is signed.
    reference: String,
    /// Private key: a PEM file or a pkcs11: URI.
    #[arg(long)]
    key: String,
    /// Certificate chain (PEM, signing certificate first); required for Notation.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// notation, cosign (bundle v0.3 referrer) or cosign-legacy (sha256-<hex>.sig tag).
    #[arg(long, default_value = "notation")]
    format: String,
    /// Notation envelope: jws or cose.
    #[arg(long, default_value = "jws")]
    envelope: String,
    /// Notation: the signature expires after this many days.
    #[arg(long)]
    expiry_days: Option<i64>,
    /// A signed claim KEY=VALUE (repeatable), e.g. --claim stage=ci.
    #[arg(long = "claim")]
    claims: Vec<String>,
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
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Opens the repository of a reference.
pub fn open(reference: &str) -> anyhow::Result<(ImageRef, Repository)> {
    let image: ImageRef = reference.parse()?;
    let repo = Repository::open(&image, &ClientConfig::default())?;
    Ok((image, repo))
}

/// `registry/repository` (Notation policy scope, cosign identity); a layout's directory.
pub fn scope(image: &ImageRef) -> String {
    match &image.location {
        Location::Registry { registry, repo } => format!("{registry}/{repo}"),
        Location::Layout { dir } => dir.display().to_string(),
    }
}

fn parse_claims(claims: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    claims
        .iter()
        .map(|c| match c.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => bail!("--claim {c:?} must be KEY=VALUE"),
        })
        .collect()
}

pub fn sign(args: SignArgs) -> anyhow::Result<()> {
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
    let (image, repo) = open(&args.reference)?;
    let opts = SignOptions {
        key: key.as_ref(),
        format,
        chain,
        expiry: args.expiry_days.map(time::Duration::days),
        claims: parse_claims(&args.claims)?,
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
    let (image, repo) = open(&args.reference)?;
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
