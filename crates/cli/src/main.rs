//! The `tessera` command. Parses flags and hands over to the library crates.
//!
//! # Layout
//! - `args`: the flags, with their environment variables (clap).
//! - `commands`: `check`, `up` (with `load`, the shared loading through the `tessera`
//!   library), `build` and `new`.
//! - `logging`: log lines on stderr, filtered by `TESSERA_LOG`.
//! - `traces`: the OpenTelemetry exporter of `tessera up --otlp-endpoint`.
//! - `backtrace`: backtraces in error values, off unless asked for by name.

// The flags' doc comments are their `--help` text, written the way command-line help is
// (`[component.<id>.build]`, `<state dir>`), not as HTML.
#![allow(rustdoc::invalid_html_tags)]

mod args;
mod backtrace;
mod commands;
mod logging;
mod traces;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: every request allocates a store, resource
/// tables, header maps and channels across worker threads, and glibc's malloc costs several
/// microseconds more per request there (bench/instructions.sh and the load benchmark show it).
/// Built with `no_thp`: otherwise mimalloc asks for transparent huge pages on its first arena,
/// and the few kilobytes an idle server has allocated occupy 14 MiB of 2 MiB pages.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    backtrace::quiet_error_backtraces();
    let args = args::Cli::parse();
    let started = commands::start_engine(&args.command);
    logging::init(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Not "worker": Tokio gives its blocking-pool threads the same name as its workers
        // (it starts the workers through that pool), so a name saying "worker" misleads in `top`.
        .thread_name("tessera-rt")
        // Tells the runtime which workers have requests waiting (tessera_runtime's busy.rs).
        .on_thread_park(tessera_runtime::on_worker_park)
        .build()
        .expect("a Tokio runtime starts unless the process is out of resources");
    let result = runtime.block_on(commands::run(args.command, started));
    // Guest instances still running in detached tasks must not hold up the exit.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
