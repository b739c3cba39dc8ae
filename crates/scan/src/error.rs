//! The one error type at the `zoll-scan` boundary.

use std::io;

/// Why a scan, an import or a match failed. Hostile input that can be skipped safely is not an
/// error: it becomes a [`crate::walk::Warning`] in the report instead.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("layer {layer}: decompressed size passed {limit} bytes")]
    LayerTooLarge { layer: usize, limit: u64 },
    #[error("layer {layer}: decompression ratio above {ratio}:1 (decompression bomb)")]
    DecompressionBomb { layer: usize, ratio: u64 },
    #[error("layer {layer}: entry {path:?} claims {size} bytes, above the limit of {limit}")]
    EntryTooLarge {
        layer: usize,
        path: String,
        size: u64,
        limit: u64,
    },
    #[error("image has more than {limit} filesystem entries")]
    TooManyEntries { limit: usize },
    #[error("layer {layer}: not a tar archive: {reason}")]
    BadTar { layer: usize, reason: String },
    #[error("layer {layer}: unsupported media type {media_type}")]
    UnsupportedLayer { layer: usize, media_type: String },
    #[error("layer {layer} is encrypted ({media_type}): decrypt the image to scan it")]
    Encrypted { layer: usize, media_type: String },
    #[error("image has {count} layers, above the limit of {limit}")]
    TooManyLayers { count: usize, limit: usize },
    #[error("not an image manifest: {0}")]
    BadManifest(String),
    #[error("bad image config: {0}")]
    BadConfig(String),
    #[error("{what}: {reason}")]
    BadInput { what: String, reason: String },
    #[error("vulnerability database: {0}")]
    Database(String),
    #[error("vulnerability database is missing; run `zoll db import` first ({0})")]
    NoDatabase(String),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

impl ScanError {
    pub fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> ScanError {
        let context = context.into();
        move |source| ScanError::Io { context, source }
    }

    pub(crate) fn bad_input(what: impl Into<String>, reason: impl ToString) -> ScanError {
        ScanError::BadInput {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
