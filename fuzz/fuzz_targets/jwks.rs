//! `tessera_server::fuzzing::jwks` on each input: a JSON Web Key Set as a `jwks_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_server::fuzzing::jwks(data));
