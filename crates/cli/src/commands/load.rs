//! From the command line's flags to the library's [`AppBuilder`], and how a load that failed
//! is told. Shared by `check` and `up`.

use tessera::{AppBuilder, Error};
use tessera_manifest::ManifestError;

use crate::args::AppArgs;

/// The builder for the application the flags name.
pub fn builder(args: &AppArgs) -> AppBuilder {
    let mut builder = tessera::App::builder()
        .manifest(&args.manifest)
        .max_instances(args.max_instances);
    if let Some(file) = &args.runtime_config {
        builder = builder.runtime_config(file);
    }
    if let Some(dir) = &args.state_dir {
        builder = builder.state_dir(dir);
    }
    if args.no_cache {
        builder = builder.no_cache();
    } else if let Some(dir) = &args.cache_dir {
        builder = builder.cache_dir(dir);
    }
    builder
}

/// Prints what is wrong with the application, as `check` and `up` both do; anything that is
/// not about the application (the engine, the system) is returned.
pub fn report_failure(error: Error) -> anyhow::Result<()> {
    match error {
        Error::Invalid(error) => {
            report(&error);
            Ok(())
        }
        other => Err(other.into()),
    }
}

pub fn report(error: &ManifestError) {
    eprintln!("{error}");
    let count = error.diagnostics.len();
    let file = error
        .diagnostics
        .first()
        .map(|d| d.file.display().to_string())
        .unwrap_or_default();
    eprintln!(
        "{file}: {count} error{}; nothing was started",
        if count == 1 { "" } else { "s" }
    );
}
