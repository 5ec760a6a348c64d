//! Finding files and noticing what happened to them: glob scans, file identity, rotation,
//! truncation and deletion.
//!
//! A file is identified by device and inode, never by name: Kubernetes' `/var/log/containers`
//! entries are symlinks to files that kubelet rotates by renaming, and the same file may
//! match a glob under two names. Paths are resolved through symlinks (`stat`, as Fluent Bit
//! does) so a rotation behind a symlink is seen as a new inode at the same path.
//!
//! Discovery is polling: a glob scan every `Refresh_Interval`, and for each followed file a
//! `stat` of its path and an `fstat` of its handle a few times a second. That is a few
//! system calls per file per second, keeps CPU near zero when idle, and works on every
//! filesystem (inotify misses changes on overlay and network filesystems and has per-user
//! watch limits that busy nodes exhaust).

use std::fs::{File, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file's identity: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl Identity {
    /// The identity in `meta`.
    pub fn of(meta: &Metadata) -> Self {
        Identity { dev: meta.dev(), ino: meta.ino() }
    }
}

/// Regular files matching any of `patterns` and none of `exclude`, in glob order
/// (alphabetical per pattern), each once.
pub fn scan(patterns: &[String], exclude: &[glob::Pattern]) -> Vec<(PathBuf, Metadata)> {
    let mut found: Vec<(PathBuf, Metadata)> = Vec::new();
    for pattern in patterns {
        let Ok(paths) = glob::glob(pattern) else { continue };
        for path in paths.flatten() {
            if excluded(&path, exclude) || found.iter().any(|(p, _)| *p == path) {
                continue;
            }
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => found.push((path, meta)),
                _ => {}
            }
        }
    }
    found
}

/// Whether `path` matches an `Exclude_Path` pattern.
pub fn excluded(path: &Path, exclude: &[glob::Pattern]) -> bool {
    exclude.iter().any(|p| p.matches_path(path))
}

/// What became of a followed file's path since the last look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathState {
    /// The path still names the file.
    Same,
    /// The path names another file now, or nothing: the file was renamed (rotated) or
    /// deleted. `replaced` tells whether a new file stands at the path.
    Moved {
        /// Whether the file itself is gone (no links left).
        deleted: bool,
        /// Whether another file exists at the path.
        replaced: bool,
    },
}

/// Compare the file at `path` with the open `file` of identity `id`.
pub fn path_state(path: &Path, file: &File, id: Identity) -> std::io::Result<PathState> {
    let at_path = match std::fs::metadata(path) {
        Ok(m) => Some(Identity::of(&m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if at_path == Some(id) {
        return Ok(PathState::Same);
    }
    let deleted = file.metadata()?.nlink() == 0;
    Ok(PathState::Moved { deleted, replaced: at_path.is_some() })
}

/// The current name of an open file (after a rename), from `/proc/self/fd` on Linux.
pub fn current_name(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let link = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    let s = link.to_string_lossy();
    if s.ends_with(" (deleted)") {
        return None;
    }
    Some(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_globs_with_excludes_once_each() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.log", "b.log", "c.txt", "skip.log"] {
            std::fs::write(dir.path().join(name), "x\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        let d = dir.path().display();
        let found =
            scan(&[format!("{d}/*.log"), format!("{d}/a.*")], &[glob::Pattern::new(&format!("{d}/skip*")).unwrap()]);
        let names: Vec<_> = found.iter().map(|(p, _)| p.file_name().unwrap().to_str().unwrap().to_owned()).collect();
        assert_eq!(names, ["a.log", "b.log"]);
    }

    #[test]
    fn sees_rename_replace_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "x\n").unwrap();
        let file = File::open(&path).unwrap();
        let id = Identity::of(&file.metadata().unwrap());
        assert_eq!(path_state(&path, &file, id).unwrap(), PathState::Same);
        std::fs::rename(&path, dir.path().join("a.log.1")).unwrap();
        assert_eq!(path_state(&path, &file, id).unwrap(), PathState::Moved { deleted: false, replaced: false });
        assert_eq!(current_name(&file).unwrap(), dir.path().join("a.log.1"));
        std::fs::write(&path, "y\n").unwrap();
        assert_eq!(path_state(&path, &file, id).unwrap(), PathState::Moved { deleted: false, replaced: true });
        std::fs::remove_file(dir.path().join("a.log.1")).unwrap();
        assert_eq!(path_state(&path, &file, id).unwrap(), PathState::Moved { deleted: true, replaced: true });
    }
}
