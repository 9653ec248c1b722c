//! Manifest text: parsed and validated, its grants and middleware resolved against the
//! embedded runtime configuration, and every error message rendered (they quote lines of the
//! text, which is where slicing goes wrong).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tessera_manifest::{Manifest, RuntimeConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = Path::new("/nonexistent/fuzz");
    match Manifest::parse(text, &dir.join("tessera.toml"), dir) {
        Ok(manifest) => {
            let runtime = RuntimeConfig::embedded(dir.join(".tessera"));
            let env = |_: &str| None;
            if let Err(error) = manifest.resolve(&runtime, env) {
                let _ = error.to_string();
            }
            if let Err(error) = manifest.resolve_middleware(&runtime, env) {
                let _ = error.to_string();
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
