//! `tessera_server::fuzzing::query_schema` on each input: a JSON Schema and a query string for `json_schema`'s `query_schema`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_server::fuzzing::query_schema(data));
