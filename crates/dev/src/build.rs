//! `tessera build`: run each component's build command, in parallel, skipping components
//! whose inputs did not change since their last build.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tessera_manifest::{BuildSpec, ComponentSpec, Manifest};
use tokio::process::Command;
use tokio::sync::Semaphore;

use crate::inputs::{Inputs, file_digest};

/// How many lines of a failed build's output an error keeps.
const OUTPUT_TAIL_LINES: usize = 40;

/// What happens during a build, for progress output.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// `rustup target add wasm32-wasip2` is running.
    InstallingTarget,
    /// A component's build command started.
    Started {
        /// The component.
        id: &'a str,
        /// Its command.
        command: &'a str,
        /// Where it runs.
        workdir: &'a Path,
    },
    /// A component is built, or was up to date.
    Finished {
        /// The component.
        id: &'a str,
        /// How.
        outcome: &'a Outcome,
    },
}

/// A component's build that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The command ran.
    Built {
        /// How long it took.
        elapsed: Duration,
    },
    /// Its inputs and its `.wasm` are as the last build left them; nothing ran.
    UpToDate,
}

/// Why a component's build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The command could not be started.
    #[error("cannot run `{command}` in {}: {source}", workdir.display())]
    Spawn {
        /// The command.
        command: String,
        /// Where.
        workdir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The command failed.
    #[error("`{command}` failed ({status}); the end of its output:\n{output}")]
    Failed {
        /// The command.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The last lines of its stdout and stderr.
        output: String,
    },
    /// The command succeeded but `source` is not there.
    #[error("`{command}` succeeded but did not write {}", output.display())]
    NoOutput {
        /// The command.
        command: String,
        /// The component's `source`, which the command should have written.
        output: PathBuf,
    },
    /// The inputs could not be read.
    #[error("cannot read the build's inputs under {}: {source}", workdir.display())]
    Inputs {
        /// The workdir.
        workdir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl BuildError {
    /// What to do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            Self::Spawn { .. } => "check that `sh` and the build's tools are installed",
            Self::Failed { .. } => "fix the error above, then build again",
            Self::NoOutput { .. } => {
                "point the component's `source` at the file the command writes"
            }
            Self::Inputs { .. } => "check the permissions of the files `watch` selects",
        }
    }
}

/// Builds components.
#[derive(Debug, Clone)]
pub struct Builder {
    records: PathBuf,
    jobs: usize,
    force: bool,
}

/// What the last successful build of a component read and wrote.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    inputs: String,
    output: String,
}

impl Builder {
    /// A builder that remembers builds under `state_dir/build` and runs up to `jobs` at once.
    pub fn new(state_dir: &Path, jobs: usize) -> Self {
        Self {
            records: state_dir.join("build"),
            jobs: jobs.max(1),
            force: false,
        }
    }

    /// Rebuild even components whose inputs did not change.
    #[must_use]
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Builds every component of `manifest` that has a `build` section (or only those in
    /// `only`, if not empty), in parallel. Returns each one's result, in id order.
    pub async fn build_all(
        &self,
        manifest: &Manifest,
        only: &[String],
        progress: &(dyn Fn(Event<'_>) + Sync),
    ) -> Vec<(String, Result<Outcome, BuildError>)> {
        let specs: Vec<&ComponentSpec> = manifest
            .components
            .values()
            .filter(|c| c.build.is_some() && (only.is_empty() || only.contains(&c.id)))
            .collect();
        if specs
            .iter()
            .filter_map(|c| c.build.as_ref())
            .any(|b| b.command.contains("wasm32-wasip2"))
        {
            ensure_wasm_target(progress).await;
        }
        let permits = Arc::new(Semaphore::new(self.jobs));
        let builds = specs.iter().map(|spec| {
            let permits = permits.clone();
            async move {
                let _permit = permits
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                let result = self.build(spec, progress).await;
                (spec.id.clone(), result)
            }
        });
        let mut results = futures_util::future::join_all(builds).await;
        results.sort_by(|a, b| a.0.cmp(&b.0));
        results
    }

    /// Builds one component, unless its inputs and output are as its last build left them.
    /// A component without a `build` section is up to date.
    pub async fn build(
        &self,
        spec: &ComponentSpec,
        progress: &(dyn Fn(Event<'_>) + Sync),
    ) -> Result<Outcome, BuildError> {
        let Some(build) = &spec.build else {
            return Ok(Outcome::UpToDate);
        };
        let inputs = Inputs::of(build);
        let fingerprint = match &inputs {
            Some(inputs) => Some(fingerprint(inputs, build).await?),
            None => None,
        };
        let record_file = self.records.join(format!("{}.json", spec.id));
        if !self.force
            && let Some(fingerprint) = &fingerprint
            && let Some(record) = read_record(&record_file)
            && record.inputs == *fingerprint
            && file_digest(&spec.source).as_ref() == Some(&record.output)
        {
            let outcome = Outcome::UpToDate;
            progress(Event::Finished {
                id: &spec.id,
                outcome: &outcome,
            });
            return Ok(outcome);
        }
        progress(Event::Started {
            id: &spec.id,
            command: &build.command,
            workdir: &build.workdir,
        });
        let started = Instant::now();
        run(build).await?;
        let Some(output) = file_digest(&spec.source) else {
            return Err(BuildError::NoOutput {
                command: build.command.clone(),
                output: spec.source.clone(),
            });
        };
        if let Some(inputs) = fingerprint {
            // Losing the record only costs a rebuild next time.
            let _ = std::fs::create_dir_all(&self.records).and_then(|()| {
                std::fs::write(
                    &record_file,
                    serde_json::to_vec(&Record { inputs, output }).expect("a record serialises"),
                )
            });
        }
        let outcome = Outcome::Built {
            elapsed: started.elapsed(),
        };
        progress(Event::Finished {
            id: &spec.id,
            outcome: &outcome,
        });
        Ok(outcome)
    }
}

async fn fingerprint(inputs: &Inputs, build: &BuildSpec) -> Result<String, BuildError> {
    let (inputs, command) = (inputs.clone(), build.command.clone());
    tokio::task::spawn_blocking(move || {
        inputs
            .fingerprint(&command)
            .map_err(|source| BuildError::Inputs {
                workdir: inputs.workdir().to_path_buf(),
                source,
            })
    })
    .await
    .expect("fingerprinting does not panic")
}

fn read_record(file: &Path) -> Option<Record> {
    serde_json::from_slice(&std::fs::read(file).ok()?).ok()
}

/// Runs the build command with `sh -c` in its workdir, output captured.
async fn run(build: &BuildSpec) -> Result<(), BuildError> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(&build.command)
        .current_dir(&build.workdir)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|source| BuildError::Spawn {
            command: build.command.clone(),
            workdir: build.workdir.clone(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = text.lines().collect();
    let tail = if lines.is_empty() {
        "(it printed nothing)".to_string()
    } else {
        lines[lines.len().saturating_sub(OUTPUT_TAIL_LINES)..].join("\n")
    };
    Err(BuildError::Failed {
        command: build.command.clone(),
        status: output.status,
        output: tail,
    })
}

/// Installs the `wasm32-wasip2` Rust target with rustup if it is missing. Without rustup
/// nothing happens: the build's own error will say what is wrong.
async fn ensure_wasm_target(progress: &(dyn Fn(Event<'_>) + Sync)) {
    let Ok(installed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .await
    else {
        return;
    };
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|t| t.trim() == "wasm32-wasip2")
    {
        return;
    }
    progress(Event::InstallingTarget);
    match Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .output()
        .await
    {
        Ok(out) if out.status.success() => {}
        Ok(out) => tracing::warn!(
            "rustup target add wasm32-wasip2 failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(error) => tracing::warn!("cannot run rustup: {error}"),
    }
}
