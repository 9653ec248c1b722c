//! The fuzz targets' checks (fuzz/checks.rs), replayed on stable over their seeds
//! (fuzz/corpus/<target>) and over every input a fuzzer found to fail
//! (fuzz/regressions/<target>, once fixed): none may panic. scripts/fuzz.sh runs the fuzzers.

#[path = "../../../fuzz/checks.rs"]
mod checks;
#[path = "../../../fuzz/replay.rs"]
mod replay;

use replay::replay;

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
