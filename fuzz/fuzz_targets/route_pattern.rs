//! `checks::route_pattern` on each input (fuzz/checks.rs).
#![no_main]

// Each target calls one of the checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::route_pattern(data));
