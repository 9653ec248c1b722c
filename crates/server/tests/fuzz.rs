//! The server's fuzz targets (`tessera_server::fuzzing`), replayed on stable over their seeds
//! (fuzz/corpus/<target>) and over every input a fuzzer found to fail
//! (fuzz/regressions/<target>, once fixed): none may panic. scripts/fuzz.sh runs the fuzzers.

#[path = "../../../fuzz/replay.rs"]
mod replay;

use replay::replay;
use tessera_server::fuzzing;

#[test]
fn jwt_inputs() {
    assert!(replay("jwt", fuzzing::jwt) > 0);
}

#[test]
fn jwks_inputs() {
    assert!(replay("jwks", fuzzing::jwks) > 0);
}

#[test]
fn query_schema_inputs() {
    assert!(replay("query_schema", fuzzing::query_schema) > 0);
}

#[test]
fn static_files_inputs() {
    assert!(replay("static_files", fuzzing::static_files) > 0);
}

#[test]
fn admin_inputs() {
    assert!(replay("admin", fuzzing::admin) > 0);
}

#[test]
fn router_inputs() {
    assert!(replay("router", fuzzing::router) > 0);
}
