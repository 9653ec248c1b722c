//! Loading an application: manifest, engine, components. Shared by `check` and `up`.

use std::time::Duration;

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_manifest::{Diagnostic, Manifest, ManifestError, RuntimeConfig};
use tessera_runtime::capabilities::sql::migrate::Mode as MigrationMode;
use tessera_runtime::{
    Backends, CacheOutcome, Capabilities, CompileCache, ComponentLoader, EngineSettings, Purpose,
    new_engine,
};
use tessera_server::{App, Middleware};

use crate::args::AppArgs;

/// A loaded application and what it was loaded with (to load replacements the same way).
pub struct Loaded {
    pub manifest: Manifest,
    pub runtime: RuntimeConfig,
    pub app: App,
    pub middleware: Middleware,
    pub loader: ComponentLoader,
    pub capabilities: BTreeMap<String, Arc<Capabilities>>,
}

/// Loads the manifest and every component, to serve them or only to check them (see
/// [`Purpose`]). On failure the problems have been printed and `None` is returned.
pub async fn load(args: &AppArgs, purpose: Purpose) -> anyhow::Result<Option<Loaded>> {
    let manifest = match Manifest::load(&args.manifest) {
        Ok(manifest) => manifest,
        Err(error) => {
            report(&error);
            return Ok(None);
        }
    };
    let runtime = match &args.runtime_config {
        Some(file) => RuntimeConfig::load(file, args.state_dir.clone()),
        None => Ok(RuntimeConfig::embedded(
            args.state_dir
                .clone()
                .unwrap_or_else(|| manifest.dir.join(".tessera")),
        )),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            report(&error);
            return Ok(None);
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    let grants = match manifest.resolve(&runtime, env) {
        Ok(grants) => grants,
        Err(error) => {
            report(&error);
            return Ok(None);
        }
    };
    // Middleware is built (keys parsed, schemas compiled) before any backend is opened or
    // component compiled: its mistakes are the cheapest to find.
    let middleware = match manifest
        .resolve_middleware(&runtime, env)
        .and_then(|secrets| Middleware::build(&manifest, &secrets))
    {
        Ok(middleware) => middleware,
        Err(error) => {
            report(&error);
            return Ok(None);
        }
    };
    let backends = match Backends::open(&runtime, &grants, purpose).await {
        Ok(backends) => backends,
        Err(errors) => {
            let file = runtime.file.as_ref().unwrap_or(&manifest.file);
            let diagnostics = errors
                .iter()
                .map(|e| {
                    let section = if e.what == "SQL database" {
                        "sql_database"
                    } else {
                        "key_value_store"
                    };
                    Diagnostic::new(
                        file,
                        format!("{section}.{}", e.name),
                        e.to_string(),
                        e.fix(),
                    )
                })
                .collect();
            report(&ManifestError { diagnostics });
            return Ok(None);
        }
    };
    // Schemas before components: a component's trial instance may already query its tables.
    let mode = match purpose {
        Purpose::Serve => MigrationMode::Apply,
        Purpose::Check => MigrationMode::Try,
    };
    let failed = backends.migrate(&manifest.sql_databases, mode).await;
    if !failed.is_empty() {
        let diagnostics = failed
            .iter()
            .map(|(name, error)| {
                let spec = &manifest.sql_databases[name];
                Diagnostic::new(
                    &manifest.file,
                    format!("sql_database.{name}.migrations"),
                    format!("database \"{name}\": {error}"),
                    error.fix(),
                )
                .at_line(spec.line)
            })
            .collect();
        report(&ManifestError { diagnostics });
        return Ok(None);
    }
    let capabilities: BTreeMap<_, _> = grants
        .iter()
        .map(|(id, grants)| (id.clone(), backends.capabilities(id, grants)))
        .collect();
    let settings = EngineSettings {
        max_instances: args.max_instances,
        ..EngineSettings::default()
    };
    let engine = new_engine(&settings)?;
    let cache = if args.no_cache {
        CompileCache::disabled()
    } else {
        match args.cache_dir.clone().or_else(CompileCache::default_dir) {
            Some(dir) => CompileCache::new(dir),
            None => CompileCache::disabled(),
        }
    };
    let loader = ComponentLoader::new(engine, cache, settings.max_instances)?;
    match App::load(&manifest, &loader, &capabilities, &middleware).await {
        Ok((app, reports)) => {
            for (id, report) in reports {
                let how = match report.cache {
                    CacheOutcome::Hit => "loaded from the compile cache",
                    CacheOutcome::Compiled => "compiled and cached",
                    CacheOutcome::CompiledUncached => "compiled (not cached)",
                };
                tracing::info!("component {id}: {how} in {}", millis(report.elapsed));
            }
            Ok(Some(Loaded {
                manifest,
                runtime,
                app,
                middleware,
                loader,
                capabilities,
            }))
        }
        Err(error) => {
            report(&error);
            Ok(None)
        }
    }
}

pub fn report(error: &ManifestError) {
    eprintln!("{error}");
    let count = error.diagnostics.len();
    let file = error
        .diagnostics
        .first()
        .map(|d| d.file.display().to_string())
        .unwrap_or_default();
    eprintln!(
        "{file}: {count} error{}; nothing was started",
        if count == 1 { "" } else { "s" }
    );
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}
