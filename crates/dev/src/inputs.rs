//! What a build reads: the files its `watch` globs match, and a fingerprint of them.

use std::io;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use sha2::{Digest as _, Sha256};
use tessera_manifest::BuildSpec;

/// Directories never searched for inputs: build outputs and dependency caches, which are large
/// and which a build writes itself (matching them would make every build look stale).
pub const SKIPPED_DIRS: &[&str] = &["target", "node_modules", ".git", ".tessera", "__pycache__"];

/// The files a build reads, as its `watch` globs select them.
#[derive(Debug, Clone)]
pub struct Inputs {
    workdir: PathBuf,
    globs: GlobSet,
}

impl Inputs {
    /// The inputs of `build`; `None` if it watches nothing.
    pub fn of(build: &BuildSpec) -> Option<Self> {
        if build.watch.is_empty() {
            return None;
        }
        let mut set = GlobSetBuilder::new();
        for glob in &build.watch {
            set.add(Glob::new(glob).expect("the manifest checked the globs"));
        }
        Some(Self {
            // Absolute and without `.` components: file-system events name absolute paths.
            workdir: real_path(&build.workdir),
            globs: set.build().expect("the manifest checked the globs"),
        })
    }

    /// The directory the globs are relative to.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Whether `path` (absolute, or relative to the working directory of the process) is one
    /// of the inputs.
    pub fn contains(&self, path: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(&self.workdir) else {
            return false;
        };
        !relative
            .components()
            .any(|c| SKIPPED_DIRS.iter().any(|d| c.as_os_str() == *d))
            && self.globs.is_match(relative)
    }

    /// Every input file, relative to the workdir, sorted.
    pub fn files(&self) -> io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        let walk = walkdir::WalkDir::new(&self.workdir)
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !(e.file_type().is_dir() && SKIPPED_DIRS.iter().any(|d| e.file_name() == *d))
            });
        for entry in walk {
            let entry = entry.map_err(io::Error::other)?;
            if entry.file_type().is_file()
                && let Ok(relative) = entry.path().strip_prefix(&self.workdir)
                && self.globs.is_match(relative)
            {
                files.push(relative.to_path_buf());
            }
        }
        files.sort();
        Ok(files)
    }

    /// A digest of `command` and every input's path and contents: equal fingerprints mean
    /// the build would read the same things.
    pub fn fingerprint(&self, command: &str) -> io::Result<String> {
        let mut hash = Sha256::new();
        hash.update(command.as_bytes());
        hash.update([0]);
        for file in self.files()? {
            hash.update(file.to_string_lossy().as_bytes());
            hash.update([0]);
            hash.update(Sha256::digest(std::fs::read(self.workdir.join(&file))?));
        }
        Ok(hex(&hash.finalize()))
    }
}

/// `path` absolute, symlinks and `.`/`..` resolved as far as it exists.
pub fn real_path(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => real_path(parent).join(name),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

/// The SHA-256 of a file, hex; `None` if it cannot be read.
pub fn file_digest(path: &Path) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|bytes| hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, watch: &[&str]) -> BuildSpec {
        BuildSpec {
            command: "true".into(),
            workdir: dir.to_path_buf(),
            watch: watch.iter().map(ToString::to_string).collect(),
            line: None,
        }
    }

    #[test]
    fn fingerprint_follows_matching_files_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("target/src")).expect("mkdir");
        std::fs::write(dir.path().join("src/lib.rs"), "a").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "x").expect("write");
        let inputs = Inputs::of(&spec(dir.path(), &["src/**/*.rs"])).expect("watches");
        let first = inputs.fingerprint("cargo build").expect("fingerprint");

        std::fs::write(dir.path().join("notes.txt"), "y").expect("write");
        std::fs::write(dir.path().join("target/src/gen.rs"), "y").expect("write");
        assert_eq!(inputs.fingerprint("cargo build").expect("fp"), first);
        assert_ne!(
            inputs.fingerprint("cargo build --release").expect("fp"),
            first
        );

        std::fs::write(dir.path().join("src/lib.rs"), "b").expect("write");
        assert_ne!(inputs.fingerprint("cargo build").expect("fp"), first);
        assert!(inputs.contains(&dir.path().join("src/lib.rs")));
        assert!(!inputs.contains(&dir.path().join("notes.txt")));
        assert!(!inputs.contains(&dir.path().join("target/src/gen.rs")));
    }

    #[test]
    fn no_globs_no_inputs() {
        assert!(Inputs::of(&spec(Path::new("."), &[])).is_none());
    }
}
