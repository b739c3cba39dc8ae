//! zoll-crypt integration tests: interoperability with skopeo (ocicrypt), SoftHSM2 through
//! PKCS#11, a key provider command, and adversarial input.

mod adversarial;
mod fixtures;
mod keyprovider;
mod layout;
mod pkcs11;
mod registry;
mod rewrap;
mod skopeo;

use zoll_crypt::image::{self, Operation, Report, Selection};
use zoll_crypt::{KeyRing, Recipient, Result, WrapSettings};

use layout::Layout;

pub fn recipients(specs: &[String]) -> Vec<Recipient> {
    specs.iter().map(|s| Recipient::parse(s).unwrap()).collect()
}

/// Runs one image operation from `src:tag` to `dst:dst_tag` through the library.
pub fn transform(
    src: &Layout,
    tag: &str,
    dst: &Layout,
    dst_tag: &str,
    op: &Operation<'_>,
    selection: &Selection,
) -> Result<Report> {
    let root = src.resolve(tag);
    let (new_root, bytes, report) = image::transform(src, dst, &root, op, selection)?;
    dst.tag(&new_root, &bytes, dst_tag);
    Ok(report)
}

pub fn encrypt(
    src: &Layout,
    dst: &Layout,
    recipient_specs: &[String],
    selection: &Selection,
) -> Result<Report> {
    let rs = recipients(recipient_specs);
    let op = Operation::Encrypt {
        recipients: &rs,
        settings: WrapSettings::default(),
    };
    transform(src, "v1", dst, "v1", &op, selection)
}

pub fn decrypt(src: &Layout, dst: &Layout, key_specs: &[String]) -> Result<Report> {
    let keys = KeyRing::parse(key_specs)?;
    transform(
        src,
        "v1",
        dst,
        "v1",
        &Operation::Decrypt { keys: &keys },
        &Selection::default(),
    )
}
