//! `tessera new`: start a component from a template, and add it to an app's manifest.
//!
//! The templates are the directories under `templates/` of the Tessera checkout the binary was
//! built from (or `$TESSERA_HOME/templates`). Each holds the component's files and a
//! `tessera.toml` fragment (its routes, component and build sections). In both, `{{name}}` is
//! the component's id, `{{crate}}` the id as a Rust crate's file name, `{{dir}}` the
//! component's directory relative to the manifest, and `{{sdk_path}}` where tessera-sdk is.
//! The WASI packages the Python and JavaScript toolchains build against are written from the
//! binary's own copies (`wit`), not from the templates.

use std::path::{Path, PathBuf};

use crate::wit;

/// The templates `tessera new` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// A Rust component on tessera-sdk (WASI 0.2).
    Rust,
    /// A Rust component on WASI 0.3, with an async handler (`wasip3`).
    RustP3,
    /// A Python component built with componentize-py.
    Python,
    /// A JavaScript component built with ComponentizeJS.
    Js,
}

impl Template {
    /// Every template, with its name.
    pub const ALL: [(&'static str, Self); 3] = [
        ("rust", Self::Rust),
        ("python", Self::Python),
        ("js", Self::Js),
    ];

    /// The template called `name`.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// The template for WASI `version` ("0.2", the default, or "0.3"), or why there is none.
    pub fn for_wasi(self, version: &str) -> Result<Self, String> {
        match (self, version) {
            (_, "0.2") => Ok(self),
            (Self::Rust | Self::RustP3, "0.3") => Ok(Self::RustP3),
            (_, "0.3") => Err(
                "only the rust template has a WASI 0.3 variant; the python and js toolchains \
                 build WASI 0.2 components"
                    .into(),
            ),
            (_, other) => Err(format!("WASI \"{other}\" is not 0.2 or 0.3")),
        }
    }

    /// The WASI packages the template's toolchain builds against, if it needs them written.
    fn wit_deps(self) -> Option<wit::Label> {
        match self {
            Self::Rust | Self::RustP3 => None,
            Self::Python => Some(wit::Label::Current),
            Self::Js => Some(wit::Label::V0_2_10),
        }
    }

    fn dir_name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::RustP3 => "rust-p3",
            Self::Python => "python",
            Self::Js => "js",
        }
    }
}

/// Why a component could not be created.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// The name is not a valid component id.
    #[error("\"{0}\" is not a valid component name")]
    BadName(String),
    /// The directory exists.
    #[error("{} already exists", .0.display())]
    Exists(PathBuf),
    /// The manifest already has the component.
    #[error("{} already has a component \"{name}\"", manifest.display())]
    Duplicate {
        /// The manifest.
        manifest: PathBuf,
        /// The name.
        name: String,
    },
    /// The templates are not where they should be.
    #[error("the templates are not in {} ({source})", dir.display())]
    NoTemplates {
        /// Where they were looked for.
        dir: PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// Writing failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// What.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl NewError {
    /// What to do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            Self::BadName(_) => {
                "use lower-case letters, digits, `-` and `_`, starting with a letter"
            }
            Self::Exists(_) | Self::Duplicate { .. } => "pick another name",
            Self::NoTemplates { .. } => {
                "set TESSERA_HOME to the Tessera checkout (the directory holding templates/)"
            }
            Self::Write { .. } => "check the directory's permissions",
        }
    }
}

/// Where Tessera's templates and SDK are: `$TESSERA_HOME`, or the checkout this binary was
/// built from.
pub fn tessera_home() -> PathBuf {
    std::env::var_os("TESSERA_HOME").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
        PathBuf::from,
    )
}

/// What [`create`] made.
#[derive(Debug)]
pub struct Created {
    /// The component's directory.
    pub dir: PathBuf,
    /// The manifest, written or extended.
    pub manifest: PathBuf,
    /// Whether the manifest was new.
    pub new_manifest: bool,
}

/// Creates component `name` from `template` in a directory beside `manifest`, and adds its
/// routes and sections to `manifest` (creating it if it does not exist).
pub fn create(template: Template, name: &str, manifest: &Path) -> Result<Created, NewError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(NewError::BadName(name.to_string()));
    }
    let app_dir = match manifest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = app_dir.join(name);
    if dir.exists() {
        return Err(NewError::Exists(dir));
    }
    let existing = std::fs::read_to_string(manifest).ok();
    if let Some(text) = &existing
        && let Ok(table) = text.parse::<toml::Table>()
        && table
            .get("component")
            .and_then(toml::Value::as_table)
            .is_some_and(|c| c.contains_key(name))
    {
        return Err(NewError::Duplicate {
            manifest: manifest.to_path_buf(),
            name: name.to_string(),
        });
    }

    let home = tessera_home();
    let source = home.join("templates").join(template.dir_name());
    let sdk = home.join("crates/sdk");
    let sdk = sdk.canonicalize().unwrap_or(sdk);
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{dir}}", name)
            .replace("{{sdk_path}}", &sdk.display().to_string())
    };
    let fragment = std::fs::read_to_string(source.join("tessera.toml")).map_err(|e| {
        NewError::NoTemplates {
            dir: source.clone(),
            source: e,
        }
    })?;
    copy_filled(&source, &dir, &fill)?;
    if let Some(label) = template.wit_deps() {
        wit::write_deps(&dir, label).map_err(|e| NewError::Write {
            path: dir.join("wit/deps"),
            source: e,
        })?;
    }

    let fragment = fill(&fragment);
    let text = match &existing {
        Some(text) => format!("{}\n\n{fragment}", text.trim_end()),
        None => fragment,
    };
    std::fs::write(manifest, text).map_err(|e| NewError::Write {
        path: manifest.to_path_buf(),
        source: e,
    })?;
    Ok(Created {
        dir,
        manifest: manifest.to_path_buf(),
        new_manifest: existing.is_none(),
    })
}

fn copy_filled(from: &Path, to: &Path, fill: &dyn Fn(&str) -> String) -> Result<(), NewError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NewError::Write { path, source }
    };
    std::fs::create_dir_all(to).map_err(write_error(to))?;
    let entries = std::fs::read_dir(from).map_err(|e| NewError::NoTemplates {
        dir: from.to_path_buf(),
        source: e,
    })?;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_filled(&path, &target, fill)?;
        } else if entry.file_name() != "tessera.toml" {
            // (The fragment goes into the manifest, not into the component's directory.)
            let text = std::fs::read_to_string(&path).map_err(|e| NewError::NoTemplates {
                dir: path.clone(),
                source: e,
            })?;
            std::fs::write(&target, fill(&text)).map_err(write_error(&target))?;
        }
    }
    Ok(())
}
