//! `tessera build`: build the components that have a `[component.<id>.build]` section.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tessera_dev::{Builder, Event, Outcome};
use tessera_manifest::Manifest;

use crate::args::BuildArgs;
use crate::commands::load::report;

pub async fn run(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let ok = build(
        &args.manifest,
        args.state_dir.as_deref(),
        &args.components,
        args.force,
    )
    .await;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The state directory the build records live in: `--state-dir`, or `.tessera` beside the
/// manifest (as for the embedded stores).
pub fn state_dir(manifest: &Manifest, state_dir: Option<&Path>) -> PathBuf {
    state_dir.map_or_else(|| manifest.dir.join(".tessera"), Path::to_path_buf)
}

/// Builds `only` (or every component with a build section), printing progress on stderr.
/// Returns whether every build succeeded.
pub async fn build(manifest: &Path, state: Option<&Path>, only: &[String], force: bool) -> bool {
    let manifest = match Manifest::load_for_build(manifest) {
        Ok(manifest) => manifest,
        Err(error) => {
            report(&error);
            return false;
        }
    };
    for id in only {
        if !manifest.components.contains_key(id) {
            eprintln!(
                "error: {}: no component \"{id}\"\n  fix: name one of: {}",
                manifest.file.display(),
                manifest
                    .components
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return false;
        }
        if manifest.components[id].build.is_none() {
            eprintln!(
                "error: {}: `component.{id}` has no build section\n  fix: add \
                 [component.{id}.build] with the command that writes its source",
                manifest.file.display()
            );
            return false;
        }
    }
    if manifest.components.values().all(|c| c.build.is_none()) {
        eprintln!(
            "{}: no component has a [component.<id>.build] section; nothing to build",
            manifest.file.display()
        );
        return true;
    }
    let jobs = std::thread::available_parallelism().map_or(2, usize::from);
    let builder = Builder::new(&state_dir(&manifest, state), jobs).force(force);
    let results = builder.build_all(&manifest, only, &print_progress).await;
    let (mut built, mut fresh, mut failed) = (0, 0, 0);
    for (id, result) in &results {
        match result {
            Ok(Outcome::Built { .. }) => built += 1,
            Ok(Outcome::UpToDate) => fresh += 1,
            Err(error) => {
                failed += 1;
                eprintln!("error: build {id}: {error}\n  fix: {}", error.fix());
            }
        }
    }
    eprintln!("built {built}, up to date {fresh}, failed {failed}");
    failed == 0
}

pub fn print_progress(event: Event<'_>) {
    match event {
        Event::InstallingTarget => {
            eprintln!("installing the wasm32-wasip2 Rust target (rustup target add wasm32-wasip2)");
        }
        Event::Started {
            id,
            command,
            workdir,
        } => eprintln!("build {id}: {command}  (in {})", workdir.display()),
        Event::Finished { id, outcome } => match outcome {
            Outcome::Built { elapsed } => {
                eprintln!("build {id}: built in {:.1} s", elapsed.as_secs_f64());
            }
            Outcome::UpToDate => eprintln!("build {id}: up to date"),
        },
    }
}
