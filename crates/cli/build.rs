//! Links the release `tessera` binary with its code in the order of `tessera.order`: the
//! functions a server runs to start and to serve a request first, next to each other, so an
//! idle server maps a few hundred KB of its code instead of most of it (the kernel maps a
//! binary's code in 64 KiB blocks around each page touched). docs/performance.md, "Resident
//! memory", has the figures; scripts/order-file.sh writes the file.
//!
//! Only for release builds with the target's default linker, rust-lld, which reads symbol
//! ordering files (GNU ld does not). `TESSERA_ORDER_FILE=off` turns it off.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=tessera.order");
    println!("cargo::rerun-if-env-changed=TESSERA_ORDER_FILE");
    println!("cargo::rerun-if-env-changed=RUSTC_LINKER");
    let var = |name: &str| env::var(name).unwrap_or_default();
    // Cargo sets RUSTC_LINKER when a linker is configured (environment or .cargo/config.toml);
    // link arguments in rustflags may choose another linker too.
    let default_linker = var("TARGET") == "x86_64-unknown-linux-gnu"
        && var("RUSTC_LINKER").is_empty()
        && !var("CARGO_ENCODED_RUSTFLAGS").contains("link");
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("tessera.order");
    if var("PROFILE") != "release" || !default_linker || var("TESSERA_ORDER_FILE") == "off" {
        return;
    }
    if order.exists() {
        // Names the file has but the binary lacks (after a dependency update) are skipped
        // without a warning each; bench/hello.sh reports how many still match.
        println!(
            "cargo::rustc-link-arg-bin=tessera=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
            order.display()
        );
    }
}
