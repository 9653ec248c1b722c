//! The server's fuzz targets (`tessera_server::fuzzing`), replayed on stable over their seeds
//! (fuzz/corpus/<target>) and over every input a fuzzer found to fail
//! (fuzz/regressions/<target>, once fixed): none may panic. scripts/fuzz.sh runs the fuzzers.

#[path = "../../../fuzz/replay.rs"]
mod replay;

use replay::replay_each;
use tessera_server::fuzzing;

#[test]
fn every_target_replays_its_inputs() {
    replay_each(&[
        ("jwt", fuzzing::jwt),
        ("jwks", fuzzing::jwks),
        ("query_schema", fuzzing::query_schema),
        ("static_files", fuzzing::static_files),
        ("admin", fuzzing::admin),
        ("router", fuzzing::router),
    ]);
}
