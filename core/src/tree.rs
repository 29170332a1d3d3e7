//! Reading a folder tree into memory, bounded: the organisers' content folder and the web client's build both go
//! through [`read`]. Symbolic links are never followed (they are skipped and reported), so a folder cannot make
//! plaza read outside it.

use std::collections::BTreeMap;
use std::path::Path;

/// Bounds on what [`read`] takes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted file.
    pub max_file_bytes: u64,
    /// Largest accepted tree.
    pub max_total_bytes: u64,
    /// Most files read.
    pub max_files: usize,
    /// Deepest folder level read (the root's files are level 1); deeper folders are skipped and reported.
    pub max_depth: usize,
    /// Skip entries whose name starts with `.` (`.git`).
    pub skip_hidden: bool,
}

/// The files of a tree by `/`-separated relative path, and what was skipped, one line each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    /// Path → contents.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Entries skipped (symlinks, folders too deep), as warnings.
    pub skipped: Vec<String>,
}

/// Reads `root` recursively within `limits`; a file or the tree over its limit is an error naming it.
pub fn read(root: &Path, limits: &Limits) -> Result<Tree, String> {
    let mut out = Tree::default();
    let mut total = 0u64;
    let mut pending = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, prefix, depth)) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            if limits.skip_hidden && name.starts_with('.') {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(|e| format!("cannot stat {rel}: {e}"))?;
            if kind.is_symlink() {
                out.skipped.push(format!("{rel}: symbolic link skipped"));
            } else if kind.is_dir() {
                if depth + 1 < limits.max_depth {
                    pending.push((entry.path(), format!("{rel}/"), depth + 1));
                } else {
                    out.skipped
                        .push(format!("{rel}/: folder too deep, skipped"));
                }
            } else if kind.is_file() {
                let size = entry
                    .metadata()
                    .map_err(|e| format!("cannot stat {rel}: {e}"))?
                    .len();
                if size > limits.max_file_bytes {
                    return Err(format!(
                        "{rel} is {size} bytes; files are limited to {}",
                        limits.max_file_bytes
                    ));
                }
                total += size;
                if total > limits.max_total_bytes || out.files.len() >= limits.max_files {
                    return Err(format!(
                        "{} is too large (limits: {} files, {} bytes)",
                        root.display(),
                        limits.max_files,
                        limits.max_total_bytes
                    ));
                }
                let bytes =
                    std::fs::read(entry.path()).map_err(|e| format!("cannot read {rel}: {e}"))?;
                out.files.insert(rel, bytes);
            }
        }
    }
    Ok(out)
}
