//! `tessera_server::fuzzing::admin` on each input: an admin request's method, path and `Authorization`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_server::fuzzing::admin(data));
