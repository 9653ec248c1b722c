//! `[component.<id>.build]`: how `tessera build` makes a component's `.wasm`.

use std::path::{Path, PathBuf};

use crate::raw::RawBuild;
use crate::validate::Checker;

/// How to build one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// A shell command (run with `sh -c`), which must write the component's `source`.
    pub command: String,
    /// Where the command runs: the manifest's directory, or `workdir` relative to it.
    pub workdir: PathBuf,
    /// Globs, relative to `workdir`, of the files the build reads. A component whose
    /// matching files did not change since its last build is not rebuilt, and
    /// `tessera up --watch` rebuilds it when one changes. Empty: always rebuilt, never
    /// watched.
    pub watch: Vec<String>,
    /// The line of the section's `command`, for messages.
    pub line: Option<usize>,
}

pub(crate) fn check_build(
    checker: &mut Checker<'_>,
    component_key: &str,
    raw: &RawBuild,
    dir: &Path,
) -> Option<BuildSpec> {
    let key = format!("{component_key}.build");
    let before = checker.diagnostics.len();
    let line = checker.line(&raw.command);
    if raw.command.get_ref().trim().is_empty() {
        checker.report(
            format!("{key}.command"),
            line,
            "the build command is empty",
            "write the command that builds the .wasm, e.g. \
             `command = \"cargo build --release --target wasm32-wasip2\"`",
        );
    }
    let workdir = match &raw.workdir {
        Some(workdir) => {
            let path = dir.join(workdir.get_ref());
            if !path.is_dir() {
                checker.report(
                    format!("{key}.workdir"),
                    checker.line(workdir),
                    format!("{} is not a directory", path.display()),
                    "name the component's project directory, relative to the manifest",
                );
            }
            path
        }
        None => dir.to_path_buf(),
    };
    for glob in &raw.watch {
        if let Err(error) = globset::Glob::new(glob.get_ref()) {
            checker.report(
                format!("{key}.watch"),
                checker.line(glob),
                format!(
                    "\"{}\" is not a valid glob: {}",
                    glob.get_ref(),
                    error.kind()
                ),
                "write globs such as \"src/**/*.rs\" or \"Cargo.toml\", relative to workdir",
            );
        }
        if Path::new(glob.get_ref()).is_absolute() || glob.get_ref().starts_with("..") {
            checker.report(
                format!("{key}.watch"),
                checker.line(glob),
                format!("\"{}\" reaches outside workdir", glob.get_ref()),
                "watch files inside workdir, or set workdir to a directory that holds them",
            );
        }
    }
    (checker.diagnostics.len() == before).then(|| BuildSpec {
        command: raw.command.get_ref().clone(),
        workdir,
        watch: raw.watch.iter().map(|g| g.get_ref().clone()).collect(),
        line,
    })
}
