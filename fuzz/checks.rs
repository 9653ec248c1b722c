//! What each fuzz target does with an input, shared by the targets (fuzz_targets/) and by the
//! stable replay of the seeds and regressions (crates/manifest/tests/fuzz.rs). None of them may
//! panic; an error must say something.

use std::path::Path;

use tessera_manifest::{Manifest, RoutePattern, RuntimeConfig};

/// Manifest text: parsed and validated, its grants and middleware resolved against the
/// embedded runtime configuration, every error message rendered (they quote lines of the
/// text, which is where slicing goes wrong).
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = Path::new("/nonexistent/fuzz");
    match Manifest::parse(text, &dir.join("tessera.toml"), dir) {
        Ok(manifest) => {
            let runtime = RuntimeConfig::embedded(dir.join(".tessera"));
            let env = |_: &str| None;
            if let Err(error) = manifest.resolve(&runtime, env) {
                assert!(!error.to_string().is_empty());
            }
            if let Err(error) = manifest.resolve_middleware(&runtime, env) {
                assert!(!error.to_string().is_empty());
            }
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

/// Runtime configuration text: parsed and validated, errors rendered.
pub fn runtime_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) =
        RuntimeConfig::parse(text, Path::new("/nonexistent/fuzz/runtime.toml"), None)
    {
        assert!(!error.to_string().is_empty());
    }
}

/// A route path: parsed; a valid one's shape and parameters listed.
pub fn route_pattern(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match RoutePattern::parse(text) {
        Ok(pattern) => {
            let _ = (pattern.shape(), pattern.params().count());
        }
        Err(error) => assert!(!error.problem.is_empty() && !error.fix.is_empty()),
    }
}
