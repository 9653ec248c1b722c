//! `tessera_server::fuzzing::router` on each input: route paths and a request path for the router.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_server::fuzzing::router(data));
