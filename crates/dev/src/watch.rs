//! `tessera up --watch`: rebuild a component when its inputs change and replace it in the
//! running server; reload a component whose `.wasm` changed.
//!
//! Changes are handled one batch at a time on one task: events arriving within
//! [`SETTLE`] of each other are one batch (an editor's save is several events), and a batch
//! that arrives while a build runs waits for it. A source event caused by a build's own
//! output finds the version already serving and does nothing.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tessera_server::LiveApp;
use tokio::sync::mpsc;

use crate::inputs::{Inputs, SKIPPED_DIRS, file_digest, real_path};
use crate::{Builder, Event};

/// How long after a change more changes are awaited before acting.
pub const SETTLE: Duration = Duration::from_millis(150);

/// What a watched component reacts to.
struct Watched {
    id: String,
    inputs: Option<Inputs>,
    source: PathBuf,
}

/// Watches every component of `live`'s manifest until the returned task is dropped or
/// aborted. Fails if the file system cannot be watched.
pub fn watch(
    live: Arc<LiveApp>,
    builder: Builder,
    progress: fn(Event<'_>),
) -> notify::Result<tokio::task::JoinHandle<()>> {
    let watched: Vec<Watched> = live
        .manifest()
        .components
        .values()
        .map(|c| Watched {
            id: c.id.clone(),
            inputs: c.build.as_ref().and_then(Inputs::of),
            source: real_path(&c.source),
        })
        .collect();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })?;
    // Directories one by one rather than recursively: a Rust or JS project's `target` and
    // `node_modules` hold tens of thousands of directories no build input lives in.
    let mut dirs = BTreeSet::new();
    for w in &watched {
        if let Some(inputs) = &w.inputs {
            dirs.extend(input_dirs(inputs.workdir()));
        }
        if let Some(parent) = w.source.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    for dir in &dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    tracing::info!(
        "watching {} component(s) in {} directories",
        watched.len(),
        dirs.len()
    );

    Ok(tokio::spawn(async move {
        let mut watcher = watcher;
        while let Some(first) = rx.recv().await {
            let mut events = vec![first];
            tokio::time::sleep(SETTLE).await;
            while let Ok(more) = rx.try_recv() {
                events.push(more);
            }
            let mut changed = HashSet::new();
            for event in events.into_iter().filter_map(Result::ok) {
                if matches!(event.kind, EventKind::Access(_)) {
                    continue;
                }
                for path in event.paths {
                    // A new directory inside a project: watch it too.
                    if matches!(event.kind, EventKind::Create(_))
                        && path.is_dir()
                        && !is_skipped(&path)
                        && watched.iter().any(|w| {
                            w.inputs
                                .as_ref()
                                .is_some_and(|i| path.starts_with(i.workdir()))
                        })
                    {
                        let _ = watcher.watch(&path, RecursiveMode::NonRecursive);
                    }
                    changed.insert(path);
                }
            }
            for w in &watched {
                react(&live, &builder, progress, w, &changed).await;
            }
        }
    }))
}

async fn react(
    live: &LiveApp,
    builder: &Builder,
    progress: fn(Event<'_>),
    watched: &Watched,
    changed: &HashSet<PathBuf>,
) {
    let id = watched.id.as_str();
    let input = watched
        .inputs
        .as_ref()
        .and_then(|inputs| changed.iter().find(|p| inputs.contains(p)));
    if let Some(input) = input {
        tracing::info!(component = id, "{} changed: rebuilding", input.display());
        let spec = &live.manifest().components[id];
        if let Err(error) = builder.build(spec, &progress).await {
            tracing::error!(
                component = id,
                "build failed, the running version keeps serving: {error}"
            );
            return;
        }
    } else if !changed.contains(&watched.source) {
        return;
    }
    // Built, or the .wasm changed: replace it unless this version already serves.
    let serving = live
        .current()
        .components()
        .get(id)
        .map(|c| c.digest().to_string());
    let on_disk = file_digest(&watched.source);
    if let (Some(serving), Some(on_disk)) = (&serving, &on_disk)
        && on_disk.starts_with(serving.as_str())
    {
        return;
    }
    if on_disk.is_none() {
        // Removed, or mid-write: a later event brings the new file.
        return;
    }
    if let Err(error) = live.replace(id, None).await {
        tracing::error!(component = id, "{error}");
    }
}

fn is_skipped(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| SKIPPED_DIRS.iter().any(|d| name == *d))
}

/// `workdir` and every directory below it that may hold inputs.
fn input_dirs(workdir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(workdir)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !(e.file_type().is_dir() && is_skipped(e.path())))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir())
        .map(walkdir::DirEntry::into_path)
        .collect()
}
