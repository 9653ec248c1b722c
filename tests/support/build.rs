//! Builds the Wasm guests the end-to-end tests serve: the test guests under `tests/guests` and
//! the examples, for wasm32-wasip2, in release mode, into `target/wasm` (and `target/wasm-simd`
//! for those built with SIMD).
//!
//! A nested cargo with its own target directory: it never waits on the host build's lock, and
//! cargo's own freshness check rebuilds only guests whose sources changed (a no-op run takes
//! well under a second).

use std::path::{Path, PathBuf};
use std::process::Command;

const GUESTS: &[&str] = &[
    "wasi-echo",
    "wstd-echo",
    "bindgen-echo",
    "not-http",
    "missing-import",
    "hello",
    "caps",
    "kv-cache",
    "notes",
    "tenant-gate",
    "versioned",
    "fastserve-health",
    "fastserve-compute",
    "fastserve-cache",
    "fastserve-db",
    "image-service",
    "edge-user",
    "edge-geo",
    "edge-ab",
    "edge-analytics",
    "edge-transform",
    "edge-private",
    "p3-echo",
    "p3-gate",
];

/// Guests built with their own `RUSTFLAGS` (SIMD and more), into their own target directory,
/// and the manifest whose build command gives the flags: the tests build with the same ones,
/// so cargo finds them fresh either way.
const FLAGGED_GUESTS: &[&str] = &["matmul"];
const FLAGGED_MANIFEST: &str = "examples/matmul/tessera.toml";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .ancestors()
        .nth(2)
        .expect("tests/support sits two levels below the workspace root")
        .to_path_buf();
    for watched in [
        "tests/guests",
        "crates/guest",
        "crates/sdk",
        "examples",
        "wit",
        "Cargo.lock",
    ] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }

    let target_dir = root.join("target/wasm");
    build(&root, &target_dir, GUESTS, None);
    let flags = manifest_rustflags(&root.join(FLAGGED_MANIFEST));
    build(
        &root,
        &root.join("target/wasm-simd"),
        FLAGGED_GUESTS,
        Some(&flags),
    );
    println!(
        "cargo::rustc-env=TESSERA_GUEST_DIR={}",
        target_dir.join("wasm32-wasip2/release").display()
    );
    println!("cargo::rustc-env=TESSERA_WORKSPACE_ROOT={}", display(&root));
}

/// Builds `guests` for wasm32-wasip2 in release mode into `target_dir`, with `rustflags`.
fn build(root: &Path, target_dir: &Path, guests: &[&str], rustflags: Option<&str>) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(target_dir);
    for guest in guests {
        command.args(["-p", guest]);
    }
    // The outer build's settings are for the host; none of them may leak into the guest build.
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
    ] {
        command.env_remove(var);
    }
    if let Some(flags) = rustflags {
        command.env("RUSTFLAGS", flags);
    }
    let output = command
        .output()
        .expect("cannot run cargo to build the test guests");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint =
            if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
                "\nfix: rustup target add wasm32-wasip2 (scripts/test.sh does this)"
            } else {
                ""
            };
        panic!("building the test guests failed:\n{stderr}{hint}");
    }
}

/// The `RUSTFLAGS='...'` of the build command in `manifest`.
fn manifest_rustflags(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest.display()));
    text.split_once("RUSTFLAGS='")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(flags, _)| flags.to_string())
        .unwrap_or_else(|| {
            panic!(
                "{}: its build command has no RUSTFLAGS='...' for the tests to build with",
                manifest.display()
            )
        })
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
