//! `dir:PATH`: a host directory read as if it were one layer. Symbolic links are recorded, never
//! followed on the host; what is below the directory is all that is read.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::tar::{EntryKind, Header};
use super::{ApplyError, Walked, Walker};
use crate::error::ScanError;
use crate::limits::Limits;

/// Walks a host directory tree into the same index a one-layer image would give.
pub fn walk_dir(root: &Path, limits: &Limits) -> Result<Walked, ScanError> {
    let meta = fs::symlink_metadata(root).map_err(ScanError::io(root.display().to_string()))?;
    if !meta.is_dir() {
        return Err(ScanError::bad_input(
            root.display().to_string(),
            "not a directory",
        ));
    }
    let mut walker = Walker::new(limits);
    // Depth-first with an explicit stack: no recursion, so depth costs heap, bounded by max_depth.
    let mut stack: Vec<(std::path::PathBuf, String, usize)> =
        vec![(root.to_path_buf(), String::new(), 0)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let mut entries: Vec<fs::DirEntry> = match fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(Result::ok).collect(),
            // An unreadable directory is skipped like an unreadable layer member.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => continue,
            Err(e) => return Err(ScanError::io(dir.display().to_string())(e)),
        };
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let meta = match fs::symlink_metadata(entry.path()) {
                Ok(m) => m,
                Err(_) => continue,
            };
            let ft = meta.file_type();
            let mut header = Header {
                path: path.clone(),
                link: String::new(),
                kind: EntryKind::Other,
                mode: meta.mode(),
                uid: u64::from(meta.uid()),
                gid: u64::from(meta.gid()),
                size: 0,
                host: None,
            };
            let applied = if ft.is_dir() {
                header.kind = EntryKind::Dir;
                if depth + 1 < limits.max_depth {
                    stack.push((entry.path(), path, depth + 1));
                }
                walker.apply_entry(&header, &mut io::empty())
            } else if ft.is_symlink() {
                header.kind = EntryKind::Symlink;
                header.link = fs::read_link(entry.path())
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                walker.apply_entry(&header, &mut io::empty())
            } else if ft.is_file() {
                header.kind = EntryKind::File;
                header.size = meta.len();
                header.host = Some(entry.path());
                // Opened only if a cataloger reads it: most files are never opened.
                walker.apply_entry(
                    &header,
                    &mut LazyFile {
                        path: entry.path(),
                        file: None,
                        left: meta.len(),
                    },
                )
            } else {
                walker.apply_entry(&header, &mut io::empty())
            };
            match applied {
                Ok(()) => {}
                Err(ApplyError::Scan(e)) => return Err(e),
                // Unreadable for this user: skipped like an unreadable directory.
                Err(ApplyError::Io(e)) if e.kind() == io::ErrorKind::PermissionDenied => continue,
                Err(ApplyError::Io(e)) => {
                    return Err(ScanError::io(entry.path().display().to_string())(e));
                }
            }
            walker.entries += 1;
            if walker.entries > limits.max_entries {
                return Err(ScanError::TooManyEntries {
                    limit: limits.max_entries,
                });
            }
        }
    }
    walker.finish_layer();
    Ok(walker.finish())
}

/// A host file opened on its first read, reading at most the size it had when listed.
struct LazyFile {
    path: std::path::PathBuf,
    file: Option<fs::File>,
    left: u64,
}

impl io::Read for LazyFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(fs::File::open(&self.path)?),
        };
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}
