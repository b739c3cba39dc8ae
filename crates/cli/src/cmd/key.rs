//! `zoll key`: generate keys and certificates, import cosign keys. Parsing only; the work is
//! in `zoll_trust::keys`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use zoll_trust::keys::{
    self, CertificateProfile, CertificateRequest, KeyKind, KeySource, TestCa,
    certificates_from_pem, certificates_to_pem,
};

#[derive(clap::Subcommand)]
pub enum KeyCommand {
    /// Generate a key pair: PREFIX.key (PKCS#8, mode 0600), PREFIX.pub, and with --x509
    /// PREFIX.crt (leaf first, then the issuer's chain).
    Generate(GenerateArgs),
    /// Make a certificate for an existing key (a PEM file or a pkcs11: URI): the key signs
    /// its own certificate, or --issuer signs it.
    Certify(CertifyArgs),
    /// Convert a cosign-encrypted private key (cosign.key) into PREFIX.key / PREFIX.pub.
    /// The password is read from the file named by --password-file, else $COSIGN_PASSWORD.
    ImportCosign(ImportArgs),
}

#[derive(clap::Args)]
pub struct CertArgs {
    /// Subject of the certificate, e.g. "CN=release,O=Example,C=DE".
    #[arg(long, default_value = "CN=zoll signer")]
    subject: String,
    /// Make a certificate authority certificate instead of a code-signing one.
    #[arg(long)]
    ca: bool,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    days: i64,
    /// Issuing CA as a PREFIX with PREFIX.key and PREFIX.crt (default: self-signed).
    #[arg(long)]
    issuer: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// ecdsa-p256, ecdsa-p384, ecdsa-p521, rsa-3072, rsa-4096 or ed25519.
    #[arg(long = "type", default_value = "ecdsa-p256")]
    kind: String,
    /// Output prefix.
    #[arg(long)]
    out: PathBuf,
    /// Also write an X.509 certificate.
    #[arg(long)]
    x509: bool,
    #[command(flatten)]
    cert: CertArgs,
}

#[derive(clap::Args)]
pub struct CertifyArgs {
    /// The key: a PEM file or a pkcs11: URI.
    #[arg(long)]
    key: String,
    /// Where to write the certificate chain (PEM).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    cert: CertArgs,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The cosign key file.
    file: PathBuf,
    /// Output prefix.
    #[arg(long)]
    out: PathBuf,
    /// A file holding the password (one line).
    #[arg(long)]
    password_file: Option<PathBuf>,
}

pub fn run(command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Generate(args) => generate(args),
        KeyCommand::Certify(args) => {
            let key = keys::open_key(&args.key)?;
            let chain = certificate(key.as_ref(), &args.cert)?;
            write_new(&args.out, certificates_to_pem(&chain).as_bytes())
        }
        KeyCommand::ImportCosign(args) => import(args),
    }
}

fn with_ext(prefix: &Path, ext: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if path.exists() {
        bail!("{} exists; refusing to overwrite it", path.display());
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let kind: KeyKind = args.kind.parse()?;
    let generated = keys::generate_key(kind)?;
    let chain = if args.x509 {
        Some(certificate(&generated.key, &args.cert)?)
    } else {
        None
    };
    keys::write_private_key(&with_ext(&args.out, "key"), &generated.private_pem)?;
    write_new(
        &with_ext(&args.out, "pub"),
        generated.key.public_key().to_pem().as_bytes(),
    )?;
    if let Some(chain) = chain {
        write_new(
            &with_ext(&args.out, "crt"),
            certificates_to_pem(&chain).as_bytes(),
        )?;
    }
    println!(
        "{} key sha256:{}",
        kind,
        generated.key.public_key().fingerprint()
    );
    Ok(())
}

fn certificate(key: &dyn KeySource, args: &CertArgs) -> anyhow::Result<Vec<Vec<u8>>> {
    let profile = if args.ca {
        CertificateProfile::Ca
    } else {
        CertificateProfile::CodeSigning
    };
    let request = CertificateRequest::new(&args.subject, profile, args.days);
    match &args.issuer {
        None => Ok(vec![keys::self_signed_certificate(key, &request)?]),
        Some(prefix) => {
            let issuer_key = keys::open_key(&with_ext(prefix, "key").display().to_string())?;
            let crt = with_ext(prefix, "crt");
            let text =
                std::fs::read(&crt).with_context(|| format!("cannot read {}", crt.display()))?;
            let ca = TestCa::load(issuer_key, certificates_from_pem(&text)?)?;
            Ok(ca.issue_chain(key.public_key(), &request)?)
        }
    }
}

fn import(args: ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let password = match &args.password_file {
        Some(path) => {
            let p = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            zeroize::Zeroizing::new(p.trim_end_matches(['\r', '\n']).to_owned())
        }
        None => zeroize::Zeroizing::new(std::env::var("COSIGN_PASSWORD").unwrap_or_default()),
    };
    let (pem, key) = keys::import_cosign_key(&text, password.as_bytes())?;
    keys::write_private_key(&with_ext(&args.out, "key"), &pem)?;
    write_new(
        &with_ext(&args.out, "pub"),
        key.public_key().to_pem().as_bytes(),
    )?;
    println!(
        "{} key sha256:{}",
        key.public_key().kind(),
        key.public_key().fingerprint()
    );
    Ok(())
}
