//! `zoll encrypt` and `zoll decrypt`: argument parsing for zoll-crypt.

use anyhow::{Context, bail};
use zoll_client::ImageRef;
use zoll_crypt::image::{Operation, Platform, Selection};
use zoll_crypt::{KeyRing, OaepHash, Recipient, WrapSettings};

use crate::connect::Connection;
use crate::progress::Bar;

/// Which layers and platforms; shared by both commands.
#[derive(clap::Args)]
pub struct SelectArgs {
    /// Only this layer (0 is the base; -1 the top). Repeatable.
    #[arg(long = "layer", value_name = "INDEX", allow_negative_numbers = true)]
    layers: Vec<i64>,
    /// Only this platform of an index, OS/ARCH[/VARIANT]. Repeatable; other platforms are
    /// copied unchanged.
    #[arg(long = "platform", value_name = "OS/ARCH")]
    platforms: Vec<String>,
    #[command(flatten)]
    connection: Connection,
}

#[derive(clap::Args)]
pub struct EncryptArgs {
    /// Source image: host[:port]/repo[:tag|@digest] or oci:DIR[:tag].
    src: String,
    /// Destination image (a tag).
    dst: String,
    /// Who can decrypt: jwe:PUBKEY.pem, pkcs7:CERT.pem, pkcs11:URI, pkcs11:FILE
    /// (key file or PEM public key), provider:NAME[:PARAMS]. Repeatable.
    #[arg(long = "recipient", value_name = "R")]
    recipients: Vec<String>,
    /// Re-wrap an encrypted image for more recipients (needs --key); layer data is kept.
    #[arg(long = "add-recipient", value_name = "R")]
    add: Vec<String>,
    /// Remove recipients from an encrypted image; layer data is kept.
    #[arg(long = "remove-recipient", value_name = "R")]
    remove: Vec<String>,
    /// A key that can decrypt the image (for --add-recipient): FILE[:PASSWORD], pkcs11:URI,
    /// provider:NAME[:PARAMS].
    #[arg(long = "key", value_name = "K")]
    keys: Vec<String>,
    /// OAEP hash of the pkcs11 scheme (default: $OCICRYPT_OAEP_HASHALG, else sha256;
    /// SoftHSM 2.6 needs sha1).
    #[arg(long, value_name = "sha1|sha256")]
    pkcs11_oaep_hash: Option<String>,
    #[command(flatten)]
    select: SelectArgs,
}

#[derive(clap::Args)]
pub struct DecryptArgs {
    /// Source image: host[:port]/repo[:tag|@digest] or oci:DIR[:tag].
    src: String,
    /// Destination image (a tag).
    dst: String,
    /// Decryption key: FILE[:PASSWORD] (PEM private key, or a certificate for PKCS#7),
    /// pkcs11:URI or a PKCS#11 key file, provider:NAME[:PARAMS]. Repeatable.
    #[arg(long = "key", value_name = "K", required = true)]
    keys: Vec<String>,
    #[command(flatten)]
    select: SelectArgs,
}

fn selection(args: &SelectArgs) -> anyhow::Result<Selection> {
    let platforms = args
        .platforms
        .iter()
        .map(|p| p.parse::<Platform>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Selection {
        layers: args.layers.clone(),
        platforms,
    })
}

fn refs(src: &str, dst: &str) -> anyhow::Result<(ImageRef, ImageRef)> {
    let s: ImageRef = src.parse().with_context(|| format!("source {src}"))?;
    let d: ImageRef = dst.parse().with_context(|| format!("destination {dst}"))?;
    Ok((s, d))
}

/// Set in the environment of the re-started process (see [`with_module_env`]).
const ENV_APPLIED: &str = "ZOLL_PKCS11_MODULE_ENV_APPLIED";

/// The environment PKCS#11 key files ask for (`module.env`, e.g. `SOFTHSM2_CONF`) must be
/// the process's own before the module initializes; changing it while threads run is
/// unsound. When it differs, zoll runs itself again with it set and exits with that
/// process's status; `Ok(())` means this process may go on.
fn with_module_env<'a>(keys: impl Iterator<Item = &'a zoll_crypt::TokenKey>) -> anyhow::Result<()> {
    let mut wanted = std::collections::BTreeMap::new();
    for key in keys {
        for (k, v) in &key.env {
            if let Some(other) = wanted.insert(k.clone(), v.clone()).filter(|o| o != v) {
                bail!("PKCS#11 key files disagree on {k}: {other} and {v}");
            }
        }
    }
    let missing = zoll_crypt::pkcs11_env_mismatches(&wanted);
    if missing.is_empty() {
        return Ok(());
    }
    if std::env::var_os(ENV_APPLIED).is_some() {
        bail!(
            "the PKCS#11 module environment could not be applied ({})",
            missing[0].0
        );
    }
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .envs(missing.iter().map(|(k, v, _)| (k, v)))
        .env(ENV_APPLIED, "1")
        .status()
        .context("cannot restart zoll with the PKCS#11 module environment")?;
    std::process::exit(status.code().unwrap_or(1));
}

fn pkcs11_recipients(r: &[Recipient]) -> impl Iterator<Item = &zoll_crypt::TokenKey> {
    r.iter().filter_map(|r| match r {
        Recipient::Pkcs11(zoll_crypt::Pkcs11Recipient::Token(key)) => Some(key),
        _ => None,
    })
}

fn parse_all(specs: &[String]) -> anyhow::Result<Vec<Recipient>> {
    Ok(specs
        .iter()
        .map(|s| Recipient::parse(s))
        .collect::<Result<_, _>>()?)
}

pub fn encrypt(args: EncryptArgs) -> anyhow::Result<()> {
    let (src, dst) = refs(&args.src, &args.dst)?;
    let sel = selection(&args.select)?;
    let mut settings = WrapSettings::default();
    if let Some(h) = &args.pkcs11_oaep_hash {
        settings.pkcs11_oaep_hash = OaepHash::parse(h)?;
    }
    let config = args.select.connection.client_config()?;
    let rewrap = !args.add.is_empty() || !args.remove.is_empty();
    if rewrap && !args.recipients.is_empty() {
        bail!(
            "--recipient encrypts plain layers; --add-recipient / --remove-recipient re-wrap encrypted ones: use one or the other"
        );
    }
    if !rewrap {
        if args.recipients.is_empty() {
            bail!("give at least one --recipient");
        }
        let recipients = parse_all(&args.recipients)?;
        with_module_env(pkcs11_recipients(&recipients))?;
        let op = Operation::Encrypt {
            recipients: &recipients,
            settings,
        };
        let (desc, report) =
            zoll_crypt::run_with(&src, &dst, &config, &op, &sel, &Bar::new("encrypt", false))?;
        println!(
            "encrypted {} layer(s) of {src} into {dst} ({})",
            report.layers_changed, desc.digest
        );
        return Ok(());
    }
    let mut from = src;
    if !args.add.is_empty() {
        if args.keys.is_empty() {
            bail!("--add-recipient needs a --key that can decrypt the image");
        }
        let keys = KeyRing::parse(&args.keys)?;
        let recipients = parse_all(&args.add)?;
        with_module_env(keys.pkcs11.iter().chain(pkcs11_recipients(&recipients)))?;
        let op = Operation::AddRecipients {
            keys: &keys,
            recipients: &recipients,
            settings,
        };
        let (desc, report) =
            zoll_crypt::run_with(&from, &dst, &config, &op, &sel, &Bar::new("encrypt", false))?;
        println!(
            "added {} recipient(s) to {} layer(s) into {dst} ({})",
            recipients.len(),
            report.layers_changed,
            desc.digest
        );
        from = dst.clone();
    }
    if !args.remove.is_empty() {
        let recipients = parse_all(&args.remove)?;
        let op = Operation::RemoveRecipients {
            recipients: &recipients,
        };
        let (desc, report) =
            zoll_crypt::run_with(&from, &dst, &config, &op, &sel, &Bar::new("encrypt", false))?;
        println!(
            "removed {} recipient(s) from {} layer(s) into {dst} ({})",
            recipients.len(),
            report.layers_changed,
            desc.digest
        );
    }
    Ok(())
}

pub fn decrypt(args: DecryptArgs) -> anyhow::Result<()> {
    let (src, dst) = refs(&args.src, &args.dst)?;
    let sel = selection(&args.select)?;
    let keys = KeyRing::parse(&args.keys)?;
    with_module_env(keys.pkcs11.iter())?;
    let op = Operation::Decrypt { keys: &keys };
    let (desc, report) = zoll_crypt::run_with(
        &src,
        &dst,
        &args.select.connection.client_config()?,
        &op,
        &sel,
        &Bar::new("decrypt", false),
    )?;
    if report.digest_claims_corrected > 0 {
        eprintln!(
            "zoll: note: {} layer(s) decrypted to other bytes than their encryption options named \
             (the encrypting tool recompressed them); they are stored under their real digest",
            report.digest_claims_corrected
        );
    }
    println!(
        "decrypted {} layer(s) of {src} into {dst} ({})",
        report.layers_changed, desc.digest
    );
    Ok(())
}
