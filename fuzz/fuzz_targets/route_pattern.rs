//! Route patterns: parsed; a valid one's shape and parameters listed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_manifest::RoutePattern;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match RoutePattern::parse(text) {
        Ok(pattern) => {
            let _ = pattern.shape();
            let _ = pattern.params().count();
        }
        Err(error) => {
            assert!(!error.problem.is_empty() && !error.fix.is_empty());
        }
    }
});
