//! Tessera's developer workflow: building components from their `[component.<id>.build]`
//! sections, watching their sources to replace them in a running server, and the templates
//! `tessera new` starts a component from.
//!
//! # Layout
//! - `inputs`: the files a build reads (its `watch` globs) and their fingerprint.
//! - `build`: [`Builder`]: runs build commands in parallel, skipping unchanged components.
//! - `new`: [`new::create`]: a component from a template, added to a manifest.
//! - `watch`: [`watch`]: rebuilds and replaces components in a running server.
//! - `wit`: the WASI packages `tessera new` writes for Python and JavaScript components.

mod build;
mod inputs;
pub mod new;
mod watch;
mod wit;

pub use build::{BuildError, Builder, Event, Outcome};
pub use inputs::{Inputs, SKIPPED_DIRS};
pub use watch::{SETTLE, watch};
