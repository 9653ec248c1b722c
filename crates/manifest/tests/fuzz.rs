//! The fuzz targets' checks (fuzz/checks.rs), replayed on stable over their seeds
//! (fuzz/corpus/<target>) and over every input a fuzzer found to fail
//! (fuzz/regressions/<target>, once fixed): none may panic. scripts/fuzz.sh runs the fuzzers.

#[path = "../../../fuzz/checks.rs"]
mod checks;
#[path = "../../../fuzz/replay.rs"]
mod replay;

use replay::{replay, replay_each};

#[test]
fn every_target_replays_its_inputs() {
    assert!(
        replay("manifest", checks::manifest) >= 10,
        "the manifest seeds are in fuzz/corpus/manifest"
    );
    replay_each(&[
        ("runtime_config", checks::runtime_config),
        ("route_pattern", checks::route_pattern),
    ]);
}
