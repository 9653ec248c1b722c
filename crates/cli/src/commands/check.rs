//! `tessera check`: everything `up` does before binding its port.

use std::process::ExitCode;

use crate::args::AppArgs;
use crate::commands::load::{builder, report_failure};

pub async fn run(args: &AppArgs) -> anyhow::Result<ExitCode> {
    let checked = match builder(args).check().await {
        Ok(checked) => checked,
        Err(error) => {
            report_failure(error)?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let manifest = &checked.manifest;
    println!(
        "{}: ok ({} route{}, {} component{})",
        manifest.file.display(),
        manifest.routes.len(),
        plural(manifest.routes.len()),
        manifest.components.len(),
        plural(manifest.components.len()),
    );
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
