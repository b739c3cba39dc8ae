//! The in-memory index of the squashed filesystem: paths, metadata, the layer that wrote each
//! entry, and the few file contents catalogers asked for. Nothing here touches the host.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a file's bytes are, when a cataloger asked for them.
#[derive(Debug, Clone, Default)]
pub enum Content {
    #[default]
    NotKept,
    Bytes(Arc<Vec<u8>>),
    Spooled(Arc<SpoolFile>),
}

/// A file readable with random access: a copy in the scan's own workspace (removed when
/// dropped), or, for `dir:` targets, the file itself on the host (only read, never removed).
#[derive(Debug)]
pub struct SpoolFile {
    pub path: PathBuf,
    pub len: u64,
    /// Whether the walk created the file (and so removes it).
    pub owned: bool,
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    File,
    Dir,
    Symlink(String),
    Other,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// Index of the layer that last wrote this entry.
    pub layer: usize,
    pub content: Content,
}

/// Why one entry was not applied (the scan goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unresolvable {
    /// `..` would leave the root.
    Escapes,
    /// More symbolic links than allowed on the way (a loop, or a chain built to exhaust us).
    SymlinkLoop,
    /// A parent on the way is a regular file.
    NotADirectory,
    /// Too many components.
    TooDeep,
}

#[derive(Debug, Default)]
pub struct FsIndex {
    nodes: BTreeMap<String, Node>,
}

impl FsIndex {
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every entry, in path order. Paths are relative to the root, without a leading `/`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Entries strictly below `dir` ("" is the root).
    pub fn children<'a>(
        &'a self,
        dir: &str,
    ) -> impl Iterator<Item = (&'a str, &'a Node)> + use<'a> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let start = prefix.clone();
        self.nodes
            .range(start..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (k.as_str(), v))
    }

    pub(crate) fn insert(&mut self, path: String, node: Node) {
        if node.kind != NodeKind::Dir {
            self.remove_below(&path, node.layer);
        }
        match self.nodes.get_mut(&path) {
            Some(old) if old.kind == NodeKind::Dir && node.kind == NodeKind::Dir => {
                old.mode = node.mode;
                old.uid = node.uid;
                old.gid = node.gid;
                old.layer = node.layer;
            }
            _ => {
                self.nodes.insert(path, node);
            }
        }
    }

    /// A whiteout: removes `path` and everything below it that lower layers wrote.
    pub(crate) fn remove_tree(&mut self, path: &str, layer: usize) -> bool {
        let mut removed = self.remove_below(path, layer);
        if self.nodes.get(path).is_some_and(|n| n.layer < layer) {
            self.nodes.remove(path);
            removed = true;
        }
        removed
    }

    /// An opaque directory, or a non-directory replacing a directory: removes everything below
    /// `dir` that lower layers wrote.
    pub(crate) fn remove_below(&mut self, dir: &str, layer: usize) -> bool {
        let doomed: Vec<String> = self
            .children(dir)
            .filter(|(_, n)| n.layer < layer)
            .map(|(k, _)| k.to_owned())
            .collect();
        for k in &doomed {
            self.nodes.remove(k);
        }
        !doomed.is_empty()
    }

    /// Resolves `rest` relative to the directory `base` (already resolved), following symbolic
    /// links inside the image as a chroot would: `..` at the root stays at the root and absolute
    /// targets start at the image root, so no path ever leaves the image. The last component is
    /// followed only when `follow_last`.
    pub fn resolve(
        &self,
        base: &str,
        rest: &str,
        follow_last: bool,
        max_hops: usize,
        max_depth: usize,
    ) -> Result<String, Unresolvable> {
        let mut stack: Vec<String> = base
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let mut queue: VecDeque<String> = rest
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let mut hops = 0usize;
        while let Some(c) = queue.pop_front() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    stack.pop();
                    continue;
                }
                _ => {}
            }
            stack.push(c);
            if stack.len() > max_depth || queue.len() > max_depth * 4 {
                return Err(Unresolvable::TooDeep);
            }
            if queue.is_empty() && !follow_last {
                break;
            }
            let here = stack.join("/");
            match self.nodes.get(&here).map(|n| &n.kind) {
                Some(NodeKind::Symlink(target)) => {
                    hops += 1;
                    if hops > max_hops {
                        return Err(Unresolvable::SymlinkLoop);
                    }
                    stack.pop();
                    if target.starts_with('/') {
                        stack.clear();
                    }
                    for comp in target.split('/').rev().filter(|c| !c.is_empty()) {
                        queue.push_front(comp.to_owned());
                    }
                }
                Some(NodeKind::File | NodeKind::Other) if !queue.is_empty() => {
                    return Err(Unresolvable::NotADirectory);
                }
                _ => {}
            }
        }
        Ok(stack.join("/"))
    }

    /// The node at `path` after following symbolic links (for catalogers and lint).
    pub fn lookup(&self, path: &str) -> Option<(String, &Node)> {
        let real = self.resolve("", path, true, 40, 256).ok()?;
        self.nodes.get(&real).map(|n| (real, n))
    }
}

/// Lexical clean-up of an archive member name: drops `/`, `.` and empty components and applies
/// `..`; `Err(Escapes)` when `..` climbs above the root.
pub fn normalize(raw: &str, max_depth: usize) -> Result<Vec<&str>, Unresolvable> {
    let mut out: Vec<&str> = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(Unresolvable::Escapes);
                }
            }
            c => {
                out.push(c);
                if out.len() > max_depth {
                    return Err(Unresolvable::TooDeep);
                }
            }
        }
    }
    Ok(out)
}
