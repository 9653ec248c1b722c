//! The fuzz targets' checks (fuzz/fuzz_targets), replayed on stable over their seeds
//! (fuzz/corpus/<target>) and over every input a fuzzer found to fail
//! (fuzz/regressions/<target>, once fixed): none may panic. scripts/fuzz.sh runs the fuzzers.

use std::path::{Path, PathBuf};

use tessera_manifest::{Manifest, RoutePattern, RuntimeConfig};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut inputs = Vec::new();
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let bytes = std::fs::read(&path).expect("an input");
            inputs.push((path, bytes));
        }
    }
    inputs
}

#[test]
fn manifest_inputs() {
    let inputs = inputs("manifest");
    assert!(
        inputs.len() >= 10,
        "the manifest seeds are in fuzz/corpus/manifest"
    );
    let dir = Path::new("/nonexistent/fuzz");
    for (_, bytes) in inputs {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        match Manifest::parse(text, &dir.join("tessera.toml"), dir) {
            Ok(manifest) => {
                let runtime = RuntimeConfig::embedded(dir.join(".tessera"));
                let env = |_: &str| None;
                if let Err(error) = manifest.resolve(&runtime, env) {
                    let _ = error.to_string();
                }
                if let Err(error) = manifest.resolve_middleware(&runtime, env) {
                    let _ = error.to_string();
                }
            }
            Err(error) => assert!(!error.to_string().is_empty()),
        }
    }
}

#[test]
fn runtime_config_inputs() {
    let inputs = inputs("runtime_config");
    assert!(!inputs.is_empty());
    for (path, bytes) in inputs {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if let Err(error) = RuntimeConfig::parse(text, &path, None) {
            assert!(!error.to_string().is_empty());
        }
    }
}

#[test]
fn route_pattern_inputs() {
    let inputs = inputs("route_pattern");
    assert!(!inputs.is_empty());
    for (_, bytes) in inputs {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        match RoutePattern::parse(text) {
            Ok(pattern) => {
                let _ = (pattern.shape(), pattern.params().count());
            }
            Err(error) => assert!(!error.problem.is_empty() && !error.fix.is_empty()),
        }
    }
}
