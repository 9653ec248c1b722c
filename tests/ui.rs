//! `tessera check` against saved expected messages: every `tests/ui/<case>.toml` is checked
//! and its output (stdout, then stderr) compared with `tests/ui/<case>.err`.
//!
//! After an intended change to a message, `TESSERA_BLESS=1 cargo test --test ui` rewrites the
//! `.err` files; review the diff before committing it.

use std::path::Path;
use std::process::Command;

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

#[test]
fn check_messages_match_the_saved_ones() {
    let root = Path::new(tessera_test_support::WORKSPACE_ROOT);
    let bless = std::env::var_os("TESSERA_BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(root.join("tests/ui"))
        .expect("tests/ui")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "expected the UI cases in tests/ui");
    // The guests the cases refer to are built by the support crate; make sure they exist.
    tessera_test_support::guest("not_http");

    // Cases that grant stores open the embedded backends; keep their files out of the tree.
    let state = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for case in &cases {
        let relative = case.strip_prefix(root).expect("under the root");
        let output = Command::new(TESSERA)
            .current_dir(root)
            .args(["check", "--no-cache", "--state-dir"])
            .arg(state.path())
            .arg("--manifest")
            .arg(relative)
            .env("TESSERA_LOG", "off")
            .output()
            .expect("run tessera check");
        let mut actual = String::from_utf8_lossy(&output.stdout).into_owned();
        actual.push_str(&String::from_utf8_lossy(&output.stderr));
        let expected_path = case.with_extension("err");
        let name = relative.display();
        let expect_ok = case
            .file_stem()
            .is_some_and(|s| s.to_string_lossy().starts_with("ok-"));
        if output.status.success() != expect_ok {
            failures.push(format!(
                "{name}: exit status {} (expected {})\n{actual}",
                output.status,
                if expect_ok { "success" } else { "failure" }
            ));
        }
        if bless {
            std::fs::write(&expected_path, &actual).expect("write .err");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{name}: output differs from {}\n--- expected\n{expected}--- actual\n{actual}",
                expected_path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed (TESSERA_BLESS=1 to accept):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A host whose address space is too small for the instance pool gets one error that says
/// so, from `check` and from `up` (which starts making the engine before anything else), not
/// a problem reported against every component.
#[test]
fn an_engine_without_room_for_its_pool_is_one_error() {
    let root = Path::new(tessera_test_support::WORKSPACE_ROOT);
    tessera_test_support::guest("wasi_echo");
    let state = tempfile::tempdir().expect("tempdir");
    for command in ["check", "up --listen 127.0.0.1:0"] {
        // 8 GB of address space: far less than the pool of 1000 slots reserves.
        let output = Command::new("sh")
            .current_dir(root)
            .arg("-c")
            .arg(format!(
                "ulimit -v 8000000 && exec \"$0\" {command} --no-cache --state-dir \"$1\" \
                 --manifest tests/ui/ok-minimal.toml"
            ))
            .arg(TESSERA)
            .arg(state.path())
            .env("TESSERA_LOG", "off")
            .output()
            .expect("run tessera");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{command}: {stderr}");
        assert_eq!(
            stderr
                .matches("the WebAssembly engine could not start")
                .count(),
            1,
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("component."), "{command}: {stderr}");
    }
}
