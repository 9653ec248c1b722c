//! `tessera_server::fuzzing::static_files` on each input: a files route's path, `Range` and `If-None-Match`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_server::fuzzing::static_files(data));
