//! The OCI vocabulary zoll speaks: digests, repository names, tags, media types and the
//! manifest shapes a registry must understand. Pure data and validation: no I/O, no HTTP,
//! no storage, no crypto beyond hashing content into a [`Digest`] (and checking a byte stream
//! against one as it flows).

mod digest;
pub mod json;
mod manifest;
mod media_type;
mod name;
mod verify;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use manifest::{Descriptor, Manifest, ManifestError, ManifestKind};
pub use media_type::{is_encrypted_layer, is_filesystem_layer, is_non_distributable, media_types};
pub use name::{NameError, Reference, RepoName, Tag};
pub use verify::VerifiedStream;
