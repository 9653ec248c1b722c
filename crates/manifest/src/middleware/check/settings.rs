//! The settings of one middleware table: the helpers every type's check uses to read a
//! value and report what is wrong with it, under `middleware.<name>.<key>`.

use std::path::Path;

use toml::Spanned;

use super::super::{FileSetting, SecretSetting};
use crate::VariableSource;
use crate::validate::Checker;

/// Checks the settings of one middleware table.
pub(super) struct Settings<'c, 'a> {
    pub(super) checker: &'c mut Checker<'a>,
    pub(super) name: &'c str,
    pub(super) dir: &'c Path,
    pub(super) table_line: Option<usize>,
}

impl Settings<'_, '_> {
    pub(super) fn key(&self, setting: &str) -> String {
        format!("middleware.{}.{setting}", self.name)
    }

    pub(super) fn report<T>(
        &mut self,
        setting: &str,
        at: Option<&Spanned<T>>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let line = at.map_or(self.table_line, |v| self.checker.line(v));
        let key = self.key(setting);
        self.checker.report(key, line, problem, fix);
    }

    pub(super) fn missing(&mut self, setting: &str, example: &str) {
        let key = self.key(setting);
        let line = self.table_line;
        self.checker.report(
            key,
            line,
            "this required key is missing",
            format!("add `{example}`"),
        );
    }

    pub(super) fn file(&mut self, value: &Spanned<String>, setting: &str) -> Option<FileSetting> {
        let path = self.dir.join(value.get_ref());
        if !path.is_file() {
            self.report(
                setting,
                Some(value),
                format!("{} does not exist", path.display()),
                "correct the path (it is relative to the manifest)",
            );
            return None;
        }
        Some(FileSetting {
            path,
            key: self.key(setting),
            line: self.checker.line(value),
        })
    }

    pub(super) fn secret(&mut self, value: &Spanned<String>, key: String) -> Option<SecretSetting> {
        let line = self.checker.line(value);
        match VariableSource::parse(value.get_ref()) {
            Ok(VariableSource::Literal(text)) if text.is_empty() => {
                self.checker.report(
                    key,
                    line,
                    "the value is empty",
                    "write the value, or \"{{ secret.<name> }}\" to take it from a secret",
                );
                None
            }
            Ok(source) => Some(SecretSetting { source, key, line }),
            Err(problem) => {
                self.checker.report(
                    key,
                    line,
                    problem,
                    "write a literal value, or \"{{ secret.<name> }}\" for a secret",
                );
                None
            }
        }
    }

    pub(super) fn size(&mut self, value: &Spanned<toml::Value>, setting: &str) -> Option<u64> {
        let key = self.key(setting);
        self.checker.size(key, value, "\"1MiB\" or \"16KiB\"")
    }

    pub(super) fn required_size(
        &mut self,
        value: Option<&Spanned<toml::Value>>,
        setting: &str,
        example: &str,
    ) -> Option<u64> {
        match value {
            Some(value) => self.size(value, setting),
            None => {
                self.missing(setting, example);
                None
            }
        }
    }

    pub(super) fn duration(
        &mut self,
        value: &Spanned<toml::Value>,
        setting: &str,
    ) -> Option<std::time::Duration> {
        let key = self.key(setting);
        self.checker
            .duration(key, value, "\"30s\", \"250ms\" or \"1m\"")
    }

    pub(super) fn required_duration(
        &mut self,
        value: Option<&Spanned<toml::Value>>,
        setting: &str,
        example: &str,
    ) -> Option<std::time::Duration> {
        match value {
            Some(value) => match self.duration(value, setting)? {
                d if d.is_zero() => {
                    self.report(
                        setting,
                        Some(value),
                        "the duration is zero",
                        format!("use a positive duration, such as `{example}`"),
                    );
                    None
                }
                d => Some(d),
            },
            None => {
                self.missing(setting, example);
                None
            }
        }
    }

    pub(super) fn positive(&mut self, value: &Spanned<i64>, setting: &str) -> Option<u32> {
        match u32::try_from(*value.get_ref()) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.report(
                    setting,
                    Some(value),
                    format!("{} is not a positive number", value.get_ref()),
                    "use a whole number of at least 1",
                );
                None
            }
        }
    }

    pub(super) fn header_name(
        &mut self,
        value: Option<&Spanned<String>>,
        default: &str,
    ) -> Option<String> {
        let Some(value) = value else {
            return Some(default.to_string());
        };
        let name = value.get_ref().to_ascii_lowercase();
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            self.report(
                "header",
                Some(value),
                format!("\"{}\" is not a header name", value.get_ref()),
                "use letters, digits and `-`, such as \"x-api-key\"",
            );
            return None;
        }
        if name.starts_with(crate::RESERVED_HEADER_PREFIX) {
            self.report(
                "header",
                Some(value),
                format!("\"{name}\" is reserved for headers the host sets"),
                "pick a name that does not start with \"tessera-\"",
            );
            return None;
        }
        Some(name)
    }

    pub(super) fn strings(list: Option<&Vec<Spanned<String>>>) -> Vec<String> {
        list.map(|l| l.iter().map(|s| s.get_ref().clone()).collect())
            .unwrap_or_default()
    }

    /// A string or a list of strings.
    pub(super) fn one_or_many(
        &mut self,
        value: Option<&Spanned<toml::Value>>,
        setting: &str,
    ) -> Vec<String> {
        let Some(value) = value else {
            return Vec::new();
        };
        match value.get_ref() {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            other => {
                self.report(
                    setting,
                    Some(value),
                    format!("wrong type: {other}"),
                    "write a string, or a list of strings",
                );
                Vec::new()
            }
        }
    }
}
