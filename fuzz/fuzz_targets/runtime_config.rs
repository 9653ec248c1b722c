//! Runtime configuration text: parsed and validated, errors rendered.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tessera_manifest::RuntimeConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) =
        RuntimeConfig::parse(text, Path::new("/nonexistent/fuzz/runtime.toml"), None)
    {
        let _ = error.to_string();
    }
});
