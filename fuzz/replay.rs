//! Replays a fuzz target's seeds (fuzz/corpus/<target>) and every input a fuzzer found to
//! fail (fuzz/regressions/<target>, once fixed) on stable, in the tests of the crates the
//! targets exercise (crates/manifest/tests/fuzz.rs, crates/server/tests/fuzz.rs).

use std::path::Path;

/// A fuzz target's name and the check its inputs go through.
pub type Target<'a> = (&'a str, fn(&[u8]));

/// Replays each of `targets`, each of which must have inputs.
pub fn replay_each(targets: &[Target]) {
    for &(target, check) in targets {
        assert!(
            replay(target, check) > 0,
            "no inputs for {target}: its seeds are in fuzz/corpus/{target}"
        );
    }
}

/// Runs `check` on every seed and regression of `target`; how many there were.
pub fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            check(&std::fs::read(&path).expect("an input"));
            count += 1;
        }
    }
    count
}
