//! `tessera new`: a component from a template, added to the app's manifest.

use std::process::ExitCode;

use tessera_dev::new::{self, Template};
use tessera_manifest::Manifest;

use crate::args::NewArgs;
use crate::commands::load::report;

pub fn run(args: &NewArgs) -> ExitCode {
    let Some(template) = Template::named(&args.template) else {
        let names: Vec<&str> = Template::ALL.iter().map(|(n, _)| *n).collect();
        eprintln!(
            "error: unknown template \"{}\"\n  fix: use one of: {}",
            args.template,
            names.join(", ")
        );
        return ExitCode::FAILURE;
    };
    let template = match template.for_wasi(&args.wasi) {
        Ok(template) => template,
        Err(why) => {
            eprintln!(
                "error: --wasi {}: {why}\n  fix: use --wasi 0.2 (the default)",
                args.wasi
            );
            return ExitCode::FAILURE;
        }
    };
    let created = match new::create(template, &args.name, &args.manifest) {
        Ok(created) => created,
        Err(error) => {
            eprintln!("error: {error}\n  fix: {}", error.fix());
            return ExitCode::FAILURE;
        }
    };
    // Everything but the sources, which the first build writes.
    if let Err(error) = Manifest::load_for_build(&created.manifest) {
        report(&error);
        return ExitCode::FAILURE;
    }
    eprintln!(
        "created {} from the {} template; {} {}",
        created.dir.display(),
        args.template,
        if created.new_manifest {
            "wrote"
        } else {
            "added it to"
        },
        created.manifest.display()
    );
    let manifest = if args.manifest.as_os_str() == "tessera.toml" {
        String::new()
    } else {
        format!(" --manifest {}", args.manifest.display())
    };
    eprintln!(
        "next: tessera up --build{manifest}   then: curl http://127.0.0.1:3000/{}",
        args.name
    );
    ExitCode::SUCCESS
}
