//! Links the release `tessera` binary so that an idle server maps little of it:
//!
//! - its code in the order of `tessera.order`: the functions a server runs to start and to
//!   serve a request first, next to each other, so an idle server maps a few hundred KB of its
//!   code instead of most of it (the kernel maps a binary's code in 64 KiB blocks around each
//!   page touched). scripts/order-file.sh writes the file; `TESSERA_ORDER_FILE=off` turns it
//!   off.
//! - its relative relocations packed (`-z pack-relative-relocs`, DT_RELR): 12 KB instead of a
//!   1 MB table that the dynamic loader reads at every start. Only when the C library the
//!   binary is built against reads them (glibc 2.36 or later); older ones refuse to load such
//!   a binary.
//!
//! docs/performance.md, "Resident memory", has the figures. Only for release builds with the
//! target's default linker, rust-lld, which reads symbol ordering files (GNU ld does not).

use std::env;
use std::path::Path;
use std::process::Command;

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
    if var("PROFILE") != "release" || !default_linker {
        return;
    }
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("tessera.order");
    if order.exists() && var("TESSERA_ORDER_FILE") != "off" {
        // Names the file has but the binary lacks (after a dependency update) are skipped
        // without a warning each; bench/hello.sh reports how many still match.
        println!(
            "cargo::rustc-link-arg-bin=tessera=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
            order.display()
        );
    }
    // Only for a native build: then the C library this machine has is the one linked against.
    if var("HOST") == var("TARGET") && glibc_reads_relr() {
        println!("cargo::rustc-link-arg-bin=tessera=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether this machine's glibc is 2.36 or later, the first to apply DT_RELR relocations.
fn glibc_reads_relr() -> bool {
    let Ok(output) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.trim().strip_prefix("glibc ").unwrap_or_default();
    let mut parts = version
        .split('.')
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}
