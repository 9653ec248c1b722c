//! What can stop an application from loading.

use tessera_manifest::ManifestError;
use tessera_runtime::LoadError;

/// Why an application did not load or serve.
///
/// An [`Error::Invalid`] is the user's to fix and prints as `tessera check` does; the others
/// are the machine's.
///
/// ```no_run
/// # async fn run() {
/// match tessera::App::builder().manifest("tessera.toml").build().await {
///     Ok(app) => drop(app),
///     Err(tessera::Error::Invalid(problems)) => eprintln!("fix the application:\n{problems}"),
///     Err(other) => eprintln!("cannot serve here: {other}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The application is wrong: the manifest, the runtime configuration, a grant, a
    /// middleware setting, a backend, a migration or a component. Every problem is listed,
    /// each with its file, key, line and fix; nothing was started.
    #[error("{0}")]
    Invalid(#[from] ManifestError),
    /// The engine could not be set up (the machine cannot reserve the instance pool's
    /// memory, for example).
    #[error(transparent)]
    Engine(#[from] LoadError),
    /// Listening or accepting failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
