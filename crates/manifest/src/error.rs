//! Manifest errors: each one names the file, the key, the problem and the fix.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found in a manifest.
///
/// Displayed as `file:line: `key`: problem` followed by an indented `fix:` line, the way a
/// compiler reports an error, so an editor can jump to the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The manifest file, as the user named it.
    pub file: PathBuf,
    /// The TOML key the problem is about, such as `component.users.limits.memory`.
    pub key: String,
    /// The 1-based line of the key or value, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl Diagnostic {
    /// Creates a diagnostic with no line number.
    pub fn new(
        file: &Path,
        key: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            key: key.into(),
            line: None,
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// Sets the line number.
    #[must_use]
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}\n  fix: {}", self.problem, self.fix)
    }
}

/// Everything wrong with a manifest, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// The problems; never empty.
    pub diagnostics: Vec<Diagnostic>,
}

impl ManifestError {
    /// Wraps a single diagnostic.
    pub fn single(diagnostic: Diagnostic) -> Self {
        Self {
            diagnostics: vec![diagnostic],
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {diagnostic}")?;
        }
        Ok(())
    }
}

/// Maps byte offsets in a manifest to 1-based line numbers.
pub(crate) struct Lines<'a> {
    text: &'a str,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self { text }
    }

    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

/// Suggests the closest of `candidates` to `input`, if one is close enough to be a typo.
pub(crate) fn did_you_mean<'c>(
    input: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let lines = Lines::new("a\nb\nc");
        assert_eq!(lines.line_of(0), 1);
        assert_eq!(lines.line_of(2), 2);
        assert_eq!(lines.line_of(4), 3);
        assert_eq!(lines.line_of(99), 3);
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("limit", ["source", "limits"]), Some("limits"));
        assert_eq!(did_you_mean("zzz", ["source", "limits"]), None);
    }

    #[test]
    fn display_names_file_line_key_and_fix() {
        let d = Diagnostic::new(Path::new("app.toml"), "route[0].path", "bad", "do this")
            .at_line(Some(3));
        assert_eq!(
            d.to_string(),
            "app.toml:3: `route[0].path`: bad\n  fix: do this"
        );
    }
}
