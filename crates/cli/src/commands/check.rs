//! `tessera check`: everything `up` does before binding its port.

use std::process::ExitCode;

use crate::args::AppArgs;
use crate::commands::load::load;
use tessera_runtime::Purpose;

pub async fn run(args: &AppArgs) -> anyhow::Result<ExitCode> {
    let Some(loaded) = load(args, Purpose::Check).await? else {
        return Ok(ExitCode::FAILURE);
    };
    println!(
        "{}: ok ({} route{}, {} component{})",
        loaded.manifest.file.display(),
        loaded.manifest.routes.len(),
        plural(loaded.manifest.routes.len()),
        loaded.manifest.components.len(),
        plural(loaded.manifest.components.len()),
    );
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
