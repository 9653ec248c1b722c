//! Every example, template and test guest is served by an end-to-end test. Wasmtime makes a
//! test guest without a test a compile error; here a directory under `examples/`,
//! `templates/` or `tests/guests/` that is missing from [`COVERED`] fails the suite, and so
//! does an entry whose test was renamed or removed, or whose test file no longer names what
//! the entry says it serves.

use std::collections::BTreeSet;
use std::path::Path;

use tessera_test_support::WORKSPACE_ROOT;

/// A directory, the test that serves it, and a string that test's file uses to reach it.
/// For a guest that only a UI case uses, `file` is that case (which `tests/ui.rs` runs) and
/// `test` is empty.
struct Covered {
    dir: &'static str,
    file: &'static str,
    test: &'static str,
    names: &'static str,
}

const COVERED: &[Covered] = &[
    Covered {
        dir: "examples/hello",
        file: "tests/serve.rs",
        test: "examples_hello_answers",
        names: "examples/hello/tessera.toml",
    },
    Covered {
        dir: "examples/matmul",
        file: "tests/apps.rs",
        test: "examples_matmul_checksums_kernels_and_bad_input",
        names: "example(\"matmul\")",
    },
    Covered {
        dir: "examples/fastserve",
        file: "tests/apps.rs",
        test: "examples_fastserve_on_embedded_storage",
        names: "example(\"fastserve\")",
    },
    Covered {
        dir: "examples/image-service",
        file: "tests/image.rs",
        test: "examples_image_service_matches_image_core_byte_for_byte",
        names: "examples/image-service/tessera.toml",
    },
    Covered {
        dir: "examples/edge",
        file: "tests/edge.rs",
        test: "examples_edge_serves_every_route",
        names: "examples/edge/tessera.toml",
    },
    Covered {
        dir: "examples/embed-axum",
        file: "examples/embed-axum/tests/embed.rs",
        test: "native_and_wasm_routes_side_by_side_and_a_live_replacement",
        names: "embed-axum",
    },
    Covered {
        dir: "examples/kv-cache",
        file: "tests/capabilities.rs",
        test: "examples_kv_cache_hits_until_the_ttl_expires",
        names: "examples/kv-cache/tessera.toml",
    },
    Covered {
        dir: "examples/notes",
        file: "tests/capabilities.rs",
        test: "examples_notes_stores_and_lists",
        names: "example(\"notes\"",
    },
    Covered {
        dir: "examples/tenant-gate",
        file: "tests/middleware.rs",
        test: "a_wasm_middleware_answers_or_passes_on",
        names: "\"tenant-gate\"",
    },
    Covered {
        dir: "templates/rust",
        file: "tests/workflow.rs",
        test: "the_readme_walkthrough_then_build_skips_and_watch_swaps",
        names: "first-component:start",
    },
    Covered {
        dir: "templates/python",
        file: "tests/workflow.rs",
        test: "python_and_javascript_templates_build_and_answer",
        names: "\"new\", \"python\"",
    },
    Covered {
        dir: "templates/js",
        file: "tests/workflow.rs",
        test: "python_and_javascript_templates_build_and_answer",
        names: "\"new\", \"js\"",
    },
    Covered {
        dir: "templates/rust-p3",
        file: "tests/workflow.rs",
        test: "the_rust_template_on_wasi_0_3_builds_and_answers",
        names: "\"--wasi\", \"0.3\"",
    },
    Covered {
        dir: "tests/guests/p3-echo",
        file: "tests/p3.rs",
        test: "a_mebibyte_streams_both_ways_with_trailers",
        names: "\"p3_echo\"",
    },
    Covered {
        dir: "tests/guests/p3-gate",
        file: "tests/p3.rs",
        test: "a_wasi_0_3_middleware_component_chains_to_0_3_and_0_2_components",
        names: "\"p3_gate\"",
    },
    Covered {
        dir: "tests/guests/wasi-echo",
        file: "tests/serve.rs",
        test: "three_toolchains_see_method_path_query_and_headers",
        names: "\"wasi_echo\"",
    },
    Covered {
        dir: "tests/guests/wstd-echo",
        file: "tests/serve.rs",
        test: "three_toolchains_see_method_path_query_and_headers",
        names: "\"wstd-echo\"",
    },
    Covered {
        dir: "tests/guests/bindgen-echo",
        file: "tests/serve.rs",
        test: "three_toolchains_see_method_path_query_and_headers",
        names: "\"bindgen_echo\"",
    },
    Covered {
        dir: "tests/guests/caps",
        file: "tests/capabilities.rs",
        test: "key_value_on_the_embedded_store",
        names: "\"caps\"",
    },
    Covered {
        dir: "tests/guests/versioned",
        file: "tests/live.rs",
        test: "twenty_replacements_under_load_fail_no_request",
        names: "\"versioned\"",
    },
    Covered {
        dir: "tests/guests/not-http",
        file: "tests/ui/not-http.toml",
        test: "",
        names: "not_http.wasm",
    },
    Covered {
        dir: "tests/guests/missing-import",
        file: "tests/ui/missing-import.toml",
        test: "",
        names: "missing_import.wasm",
    },
];

/// The directories directly under `parent`, as `parent/name`.
fn subdirectories(root: &Path, parent: &str) -> Vec<String> {
    std::fs::read_dir(root.join(parent))
        .unwrap_or_else(|e| panic!("read {parent}: {e}"))
        .map(|entry| entry.expect("directory entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| format!("{parent}/{}", entry.file_name().to_string_lossy()))
        .collect()
}

/// Whether `source` defines `name` as a test: `fn name(` with a test attribute above it,
/// possibly behind doc comments and other attributes.
fn defines_test(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    let signature = format!("fn {name}(");
    lines.iter().enumerate().any(|(i, line)| {
        line.contains(&signature)
            && lines[..i]
                .iter()
                .rev()
                .map(|l| l.trim())
                .take_while(|l| l.starts_with("#[") || l.starts_with("///"))
                .any(|l| l.starts_with("#[test]") || l.starts_with("#[tokio::test"))
    })
}

#[test]
fn every_example_template_and_test_guest_has_an_end_to_end_test() {
    let root = Path::new(WORKSPACE_ROOT);
    let on_disk: BTreeSet<String> = ["examples", "templates", "tests/guests"]
        .into_iter()
        .flat_map(|parent| subdirectories(root, parent))
        .collect();
    let listed: BTreeSet<String> = COVERED.iter().map(|c| c.dir.to_string()).collect();
    let untested: Vec<_> = on_disk.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&on_disk).collect();
    assert!(
        untested.is_empty(),
        "no end-to-end test is named for {untested:?}: write one and list it in COVERED"
    );
    assert!(
        gone.is_empty(),
        "COVERED lists directories that do not exist: {gone:?}"
    );

    let mut problems = Vec::new();
    for covered in COVERED {
        let source = std::fs::read_to_string(root.join(covered.file))
            .unwrap_or_else(|e| panic!("read {}: {e}", covered.file));
        if !covered.test.is_empty() && !defines_test(&source, covered.test) {
            problems.push(format!(
                "{}: {} has no test `{}`",
                covered.dir, covered.file, covered.test
            ));
        }
        if !source.contains(covered.names) {
            problems.push(format!(
                "{}: {} does not contain {:?}",
                covered.dir, covered.file, covered.names
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_test_is_told_from_a_helper() {
    let source = "fn helper() {}\n\n/// Docs.\n#[tokio::test(flavor = \"multi_thread\")]\nasync fn real() {}\n#[test]\nfn plain() {}\n";
    assert!(defines_test(source, "real"));
    assert!(defines_test(source, "plain"));
    assert!(!defines_test(source, "helper"));
    assert!(!defines_test(source, "absent"));
}
