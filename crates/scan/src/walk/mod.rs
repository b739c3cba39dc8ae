//! The layer walker: applies an image's layers in order onto an in-memory index, honouring
//! whiteouts and opaque directories, and keeps the few file contents the catalogers need.
//!
//! Each layer's tar stream is read exactly once. Member names never become host paths: the only
//! files written are spool copies in the walker's own temporary workspace, named by a counter.

mod bounded;
mod dir;
mod index;
mod tar;

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::Arc;

pub use dir::walk_dir;
pub use index::{Content, FsIndex, Node, NodeKind, SpoolFile, Unresolvable, normalize};

use crate::catalog::{self, Want};
use crate::error::ScanError;
use crate::limits::Limits;
use bounded::{Bounded, Counted, LimitHit};
use tar::{EntryKind, Header, TarError, TarReader};

/// Something in a layer that was skipped safely instead of applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Warning {
    pub layer: usize,
    pub path: String,
    pub kind: WarningKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// The member name climbs above the root with `..`.
    PathEscapes,
    /// Resolving the member's directory went through too many symbolic links.
    SymlinkLoop,
    /// A parent of the member is a regular file.
    NotADirectory,
    /// The member name has too many components.
    TooDeep,
    /// The member name is longer than allowed.
    PathTooLong,
    /// A hard link names a file that is not in the image.
    HardLinkTargetMissing,
    /// A file a cataloger wanted is larger than it may read, or the budget is spent.
    ContentTooLarge,
}

/// Warnings kept in a report; the rest are only counted.
const MAX_WARNINGS: usize = 1000;

/// What a layer is, for the walker: its position and the stream of its (compressed) bytes.
pub struct LayerInput<R> {
    pub reader: R,
}

/// The result of walking an image: the squashed filesystem and per-package layer attribution.
#[derive(Debug)]
pub struct Walked {
    pub index: FsIndex,
    /// `catalog key -> index of the layer that introduced it` for packages recorded in package
    /// databases (dpkg, apk, rpm), which several layers rewrite.
    pub introduced: HashMap<String, usize>,
    pub warnings: Vec<Warning>,
    pub warnings_dropped: usize,
    pub layers: usize,
    /// Keeps spooled files alive; removed with the walk.
    pub(crate) _workspace: Option<Arc<tempfile::TempDir>>,
}

pub struct Walker<'l> {
    limits: &'l Limits,
    index: FsIndex,
    introduced: HashMap<String, usize>,
    warnings: Vec<Warning>,
    warnings_dropped: usize,
    workspace: Option<Arc<tempfile::TempDir>>,
    spool_counter: u64,
    captured_total: u64,
    spooled_total: u64,
    entries: usize,
    layer: usize,
    db_dirty: bool,
}

impl<'l> Walker<'l> {
    pub fn new(limits: &'l Limits) -> Self {
        Walker {
            limits,
            index: FsIndex::default(),
            introduced: HashMap::new(),
            warnings: Vec::new(),
            warnings_dropped: 0,
            workspace: None,
            spool_counter: 0,
            captured_total: 0,
            spooled_total: 0,
            entries: 0,
            layer: 0,
            db_dirty: false,
        }
    }

    /// Applies the next layer from its blob bytes (gzip, zstd or plain tar, told apart by their
    /// magic numbers, whatever the media type claims).
    pub fn apply_layer<R: Read>(&mut self, compressed: R) -> Result<(), ScanError> {
        if self.layer >= self.limits.max_layers {
            return Err(ScanError::TooManyLayers {
                count: self.layer + 1,
                limit: self.limits.max_layers,
            });
        }
        let layer = self.layer;
        let counted = Counted::new(compressed);
        let compressed_count = counted.counter();
        let mut buffered = BufReader::with_capacity(64 << 10, counted);
        let magic = buffered
            .fill_buf()
            .map_err(ScanError::io(format!("layer {layer}")))?;
        let decoder: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            let zstd = ruzstd::decoding::StreamingDecoder::new(buffered).map_err(|e| {
                ScanError::BadTar {
                    layer,
                    reason: format!("zstd: {e}"),
                }
            })?;
            Box::new(zstd)
        } else {
            Box::new(buffered)
        };
        let bounded = Bounded::new(decoder, compressed_count, self.limits);
        let mut tar = TarReader::new(BufReader::with_capacity(64 << 10, bounded));
        loop {
            let header = match tar.next_header() {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => return Err(self.tar_error(e)),
            };
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                return Err(ScanError::TooManyEntries {
                    limit: self.limits.max_entries,
                });
            }
            if header.size > self.limits.max_entry_bytes {
                return Err(ScanError::EntryTooLarge {
                    layer,
                    path: header.path,
                    size: header.size,
                    limit: self.limits.max_entry_bytes,
                });
            }
            let result = self.apply_entry(&header, &mut tar.data());
            if let Err(e) = result {
                return Err(match e {
                    ApplyError::Io(e) => self.tar_error(TarError::Io(e)),
                    ApplyError::Scan(e) => e,
                });
            }
        }
        // Drain what follows the end-of-archive marker so the ratio and size checks see it.
        if let Err(e) = io::copy(&mut tar_inner_rest(tar), &mut io::sink()) {
            return Err(self.tar_error(TarError::Io(e)));
        }
        self.finish_layer();
        Ok(())
    }

    /// Applies one entry from any source (tar member or host directory walk).
    pub(crate) fn apply_entry(
        &mut self,
        h: &Header,
        data: &mut dyn Read,
    ) -> Result<(), ApplyError> {
        let layer = self.layer;
        if h.path.len() > self.limits.max_path_bytes || h.link.len() > self.limits.max_path_bytes {
            self.warn(&h.path, WarningKind::PathTooLong);
            return Ok(());
        }
        let comps = match normalize(&h.path, self.limits.max_depth) {
            Ok(c) if c.is_empty() => return Ok(()), // the root itself
            Ok(c) => c,
            Err(u) => {
                self.warn(&h.path, warning_for(u));
                return Ok(());
            }
        };
        let (name, parents) = comps.split_last().expect("non-empty");
        let parent = match self.resolve(&parents.join("/"), true) {
            Ok(p) => p,
            Err(u) => {
                self.warn(&h.path, warning_for(u));
                return Ok(());
            }
        };
        if matches!(
            self.index.get(&parent).map(|n| &n.kind),
            Some(NodeKind::File | NodeKind::Other)
        ) {
            self.warn(&h.path, WarningKind::NotADirectory);
            return Ok(());
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            let removed = if hidden == ".wh..opq" {
                self.index.remove_below(&parent, layer)
            } else {
                self.index.remove_tree(&join(&parent, hidden), layer)
            };
            self.db_dirty |= removed;
            return Ok(());
        }
        let path = join(&parent, name);
        let mut node = Node {
            kind: NodeKind::Other,
            mode: h.mode & 0o7777,
            uid: h.uid,
            gid: h.gid,
            size: 0,
            layer,
            content: Content::NotKept,
        };
        match h.kind {
            EntryKind::Dir => node.kind = NodeKind::Dir,
            EntryKind::Symlink => node.kind = NodeKind::Symlink(h.link.clone()),
            EntryKind::Other => {}
            EntryKind::HardLink => {
                let target = match normalize(&h.link, self.limits.max_depth)
                    .and_then(|c| self.resolve(&c.join("/"), false))
                {
                    Ok(t) => t,
                    Err(u) => {
                        self.warn(&h.path, warning_for(u));
                        return Ok(());
                    }
                };
                match self.index.get(&target) {
                    Some(t) if t.kind == NodeKind::File => {
                        node = Node { layer, ..t.clone() };
                    }
                    _ => {
                        self.warn(&h.path, WarningKind::HardLinkTargetMissing);
                        return Ok(());
                    }
                }
            }
            EntryKind::File => {
                node.kind = NodeKind::File;
                node.size = h.size;
                node.content = self.keep_content(&path, h, data)?;
            }
        }
        if catalog::is_package_db(&path) {
            self.db_dirty = true;
        }
        self.index.insert(path, node);
        Ok(())
    }

    fn keep_content(
        &mut self,
        path: &str,
        h: &Header,
        data: &mut dyn Read,
    ) -> Result<Content, ApplyError> {
        match catalog::want(path, h.mode, h.size) {
            Want::Nothing => Ok(Content::NotKept),
            Want::Bytes => {
                if h.size > self.limits.max_capture_bytes
                    || self.captured_total + h.size > self.limits.max_capture_total
                {
                    self.warn(path, WarningKind::ContentTooLarge);
                    return Ok(Content::NotKept);
                }
                let mut buf = Vec::with_capacity(h.size as usize);
                data.take(h.size).read_to_end(&mut buf)?;
                self.captured_total += buf.len() as u64;
                Ok(Content::Bytes(Arc::new(buf)))
            }
            Want::File | Want::FileIfElf => {
                let mut head = [0u8; 4];
                let mut got = 0;
                if matches!(catalog::want(path, h.mode, h.size), Want::FileIfElf) {
                    got = read_up_to(data, &mut head)?;
                    if got < 4 || &head != b"\x7fELF" {
                        return Ok(Content::NotKept);
                    }
                }
                if let Some(host) = &h.host {
                    return Ok(Content::Spooled(Arc::new(SpoolFile {
                        path: host.clone(),
                        len: h.size,
                        owned: false,
                    })));
                }
                if h.size > self.limits.max_spool_bytes
                    || self.spooled_total + h.size > self.limits.max_spool_total
                {
                    self.warn(path, WarningKind::ContentTooLarge);
                    return Ok(Content::NotKept);
                }
                let spool = self.spool(&head[..got], data, h.size)?;
                self.spooled_total += spool.len;
                Ok(Content::Spooled(Arc::new(spool)))
            }
        }
    }

    fn spool(
        &mut self,
        head: &[u8],
        data: &mut dyn Read,
        size: u64,
    ) -> Result<SpoolFile, ApplyError> {
        let dir = match &self.workspace {
            Some(d) => d.clone(),
            None => {
                let d = Arc::new(
                    tempfile::Builder::new()
                        .prefix("zoll-scan-")
                        .tempdir()
                        .map_err(ScanError::io("creating the scan workspace"))?,
                );
                self.workspace = Some(d.clone());
                d
            }
        };
        self.spool_counter += 1;
        let path = dir.path().join(format!("{}", self.spool_counter));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(ScanError::io("spooling a file into the scan workspace"))?;
        let spool = SpoolFile {
            path,
            len: size,
            owned: true,
        };
        file.write_all(head)?;
        io::copy(&mut data.take(size - head.len() as u64), &mut file)?;
        Ok(spool)
    }

    fn resolve(&self, rest: &str, follow_last: bool) -> Result<String, Unresolvable> {
        self.index.resolve(
            "",
            rest,
            follow_last,
            self.limits.max_symlink_hops,
            self.limits.max_depth,
        )
    }

    fn warn(&mut self, path: &str, kind: WarningKind) {
        if self.warnings.len() < MAX_WARNINGS {
            let path: String = path.chars().take(256).collect();
            self.warnings.push(Warning {
                layer: self.layer,
                path,
                kind,
            });
        } else {
            self.warnings_dropped += 1;
        }
    }

    fn tar_error(&self, e: TarError) -> ScanError {
        let layer = self.layer;
        match e {
            TarError::Malformed(reason) => ScanError::BadTar { layer, reason },
            TarError::Io(e) => match e.get_ref().and_then(|i| i.downcast_ref::<LimitHit>()) {
                Some(LimitHit::Bytes(limit)) => ScanError::LayerTooLarge {
                    layer,
                    limit: *limit,
                },
                Some(LimitHit::Ratio(ratio)) => ScanError::DecompressionBomb {
                    layer,
                    ratio: *ratio,
                },
                None if e.kind() == io::ErrorKind::UnexpectedEof => ScanError::BadTar {
                    layer,
                    reason: "archive ends inside an entry".into(),
                },
                None if e.kind() == io::ErrorKind::InvalidData
                    || e.kind() == io::ErrorKind::InvalidInput =>
                {
                    ScanError::BadTar {
                        layer,
                        reason: format!("corrupt compressed stream: {e}"),
                    }
                }
                None => ScanError::Io {
                    context: format!("layer {layer}"),
                    source: e,
                },
            },
        }
    }

    /// Ends a layer: re-reads the package databases it touched to attribute packages to the layer
    /// that first had them.
    pub(crate) fn finish_layer(&mut self) {
        if self.db_dirty {
            let now: HashSet<String> = catalog::package_db_keys(&self.index).into_iter().collect();
            self.introduced.retain(|k, _| now.contains(k));
            for k in now {
                self.introduced.entry(k).or_insert(self.layer);
            }
            self.db_dirty = false;
        }
        self.layer += 1;
    }

    pub fn finish(self) -> Walked {
        Walked {
            index: self.index,
            introduced: self.introduced,
            warnings: self.warnings,
            warnings_dropped: self.warnings_dropped,
            layers: self.layer,
            _workspace: self.workspace,
        }
    }
}

pub(crate) enum ApplyError {
    Io(io::Error),
    Scan(ScanError),
}

impl From<io::Error> for ApplyError {
    fn from(e: io::Error) -> Self {
        ApplyError::Io(e)
    }
}

impl From<ScanError> for ApplyError {
    fn from(e: ScanError) -> Self {
        ApplyError::Scan(e)
    }
}

fn tar_inner_rest<R: Read>(tar: TarReader<R>) -> impl Read {
    tar.into_inner()
}

fn warning_for(u: Unresolvable) -> WarningKind {
    match u {
        Unresolvable::Escapes => WarningKind::PathEscapes,
        Unresolvable::SymlinkLoop => WarningKind::SymlinkLoop,
        Unresolvable::NotADirectory => WarningKind::NotADirectory,
        Unresolvable::TooDeep => WarningKind::TooDeep,
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
