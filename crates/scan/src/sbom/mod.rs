//! SBOM documents: CycloneDX 1.6 JSON and SPDX 2.3 JSON, both with purls, and the reader that
//! turns a CycloneDX document zoll wrote back into a catalog (so stored SBOMs can be re-matched
//! without reading layers).

mod cyclonedx;
mod spdx;
pub(crate) mod time;

pub(crate) use cyclonedx::kind_name as kind_label;
pub use cyclonedx::{from_cyclonedx, to_cyclonedx};
pub use spdx::to_spdx;
pub use zoll_stdx::time::rfc3339_now;

use serde::{Deserialize, Serialize};

/// What was scanned: the subject the SBOM describes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Subject {
    /// A reference (`registry/repo:tag`, `oci:DIR:tag`) or a directory.
    pub name: String,
    /// The manifest digest, for images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Layer digests in order; packages name their layer by index into this list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
}

/// A stable identifier derived from the document's content (sha-256), shaped as a UUID, so the
/// same image scanned twice gets the same serial number and namespace.
pub(crate) fn content_uuid(parts: &[&str]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p.as_bytes());
        ctx.update(b"\0");
    }
    let d = ctx.finish();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50; // version 5 layout (name-based)
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = zoll_stdx::hex::encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
