//! The fuzz targets' checks (fuzz/checks.rs), replayed on stable over their seeds
//! (fuzz/corpus/<target>) and over every input a fuzzer found to fail
//! (fuzz/regressions/<target>, once fixed): none may panic. scripts/fuzz.sh runs the fuzzers.

use std::path::Path;

#[path = "../../../fuzz/checks.rs"]
mod checks;

/// Runs `check` on every seed and regression of `target`; how many there were.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            check(&std::fs::read(&path).expect("an input"));
            count += 1;
        }
    }
    count
}

#[test]
fn manifest_inputs() {
    assert!(
        replay("manifest", checks::manifest) >= 10,
        "the manifest seeds are in fuzz/corpus/manifest"
    );
}

#[test]
fn runtime_config_inputs() {
    assert!(replay("runtime_config", checks::runtime_config) > 0);
}

#[test]
fn route_pattern_inputs() {
    assert!(replay("route_pattern", checks::route_pattern) > 0);
}
