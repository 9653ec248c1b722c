//! `tessera_server::fuzzing::jwt` on each input: a bearer token for a `jwt` step, claims signed with its secret, identity headers.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_server::fuzzing::jwt(data));
