//! The subcommands.

mod build;
mod check;
mod load;
mod new;
mod up;

use std::process::ExitCode;

use crate::args::Command;

/// Runs one subcommand.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Up(args) => up::run(*args).await,
        Command::Check(args) => check::run(&args).await,
        Command::Build(args) => build::run(&args).await,
        Command::New(args) => Ok(new::run(&args)),
    }
}
