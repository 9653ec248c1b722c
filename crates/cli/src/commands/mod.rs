//! The subcommands.

mod build;
mod check;
mod load;
mod new;
mod up;

use std::process::ExitCode;

use tessera::AppBuilder;

use crate::args::Command;

/// For `up` (without `--build`): the application's builder with its engine already being
/// made, so that reserving the instance pool overlaps the logging's and the Tokio runtime's
/// start. `main` calls it first.
pub fn start_engine(command: &Command) -> Option<AppBuilder> {
    match command {
        Command::Up(args) if !args.build => Some(load::builder(&args.app).start_engine()),
        _ => None,
    }
}

/// Runs one subcommand; `started` is what [`start_engine`] gave.
pub async fn run(command: Command, started: Option<AppBuilder>) -> anyhow::Result<ExitCode> {
    match command {
        Command::Up(args) => up::run(*args, started).await,
        Command::Check(args) => check::run(&args).await,
        Command::Build(args) => build::run(&args).await,
        Command::New(args) => Ok(new::run(&args)),
    }
}
