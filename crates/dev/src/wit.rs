//! The WASI 0.2 WIT packages a Python or JavaScript component is built against, written into
//! its `wit/deps` by `tessera new` from the copies in Tessera's own `wit/deps` (embedded in the
//! binary), so that the templates do not carry 5,000 lines of them twice.

use std::path::Path;

/// Each package's file, by its path under `wit/deps`.
const PACKAGES: [(&str, &str); 7] = [
    ("cli/cli.wit", include_str!("../../../wit/deps/cli/cli.wit")),
    (
        "clocks/clocks.wit",
        include_str!("../../../wit/deps/clocks/clocks.wit"),
    ),
    (
        "filesystem/filesystem.wit",
        include_str!("../../../wit/deps/filesystem/filesystem.wit"),
    ),
    (
        "http/http.wit",
        include_str!("../../../wit/deps/http/http.wit"),
    ),
    ("io/io.wit", include_str!("../../../wit/deps/io/io.wit")),
    (
        "random/random.wit",
        include_str!("../../../wit/deps/random/random.wit"),
    ),
    (
        "sockets/sockets.wit",
        include_str!("../../../wit/deps/sockets/sockets.wit"),
    ),
];

/// The version Tessera's copies carry.
const VERSION: &str = "0.2.12";

/// Which WASI 0.2 patch release a template's toolchain needs its packages labelled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    /// 0.2.12, as in `wit/deps`.
    Current,
    /// 0.2.10: ComponentizeJS (StarlingMonkey) exports `wasi:http/incoming-handler@0.2.10`,
    /// and a component's world must name the version it exports. The one 0.2.12 addition,
    /// `wasi:cli/exit.exit-with-code`, is left out. Tessera serves any 0.2.x component.
    V0_2_10,
}

/// Writes the packages into `<dir>/wit/deps`, labelled for the template's toolchain.
pub(crate) fn write_deps(dir: &Path, label: Label) -> std::io::Result<()> {
    for (path, text) in PACKAGES {
        let target = dir.join("wit/deps").join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(target, relabel(text, label))?;
    }
    Ok(())
}

fn relabel(text: &str, label: Label) -> String {
    match label {
        Label::Current => text.to_string(),
        Label::V0_2_10 => text
            .replace(
                &format!(
                    "  @since(version = {VERSION})\n  exit-with-code: func(status-code: u8);\n"
                ),
                "",
            )
            .replace(&format!("@{VERSION}"), "@0.2.10"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relabelled_packages_name_only_the_older_release() {
        for (path, text) in PACKAGES {
            let older = relabel(text, Label::V0_2_10);
            assert!(!older.contains("0.2.12"), "{path} still names 0.2.12");
            assert!(older.contains("@0.2.10"), "{path}");
        }
        let cli = relabel(PACKAGES[0].1, Label::V0_2_10);
        assert!(!cli.contains("exit-with-code"));
        assert_eq!(relabel(PACKAGES[0].1, Label::Current), PACKAGES[0].1);
    }
}
