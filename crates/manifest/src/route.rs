//! Route patterns: `/users/:id/...`.

use std::fmt;

/// One segment of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Matches exactly this text.
    Static(String),
    /// `:name`: matches any one segment and names it.
    Param(String),
}

/// A parsed route path: exact segments, `:name` parameters and an optional trailing `/...`
/// that matches zero or more further segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    /// The pattern as written in the manifest.
    pub raw: String,
    /// The segments before any wildcard.
    pub segments: Vec<Segment>,
    /// Whether the pattern ends in `/...`.
    pub wildcard: bool,
}

/// Why a route path could not be parsed; the text is the problem and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

fn error(problem: impl Into<String>, fix: impl Into<String>) -> PatternError {
    PatternError {
        problem: problem.into(),
        fix: fix.into(),
    }
}

fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl RoutePattern {
    /// Parses a route path.
    ///
    /// # Example
    /// ```
    /// use tessera_manifest::{RoutePattern, Segment};
    /// let p = RoutePattern::parse("/users/:id/...").unwrap();
    /// assert_eq!(p.segments, vec![Segment::Static("users".into()), Segment::Param("id".into())]);
    /// assert!(p.wildcard);
    /// ```
    pub fn parse(raw: &str) -> Result<Self, PatternError> {
        let Some(rest) = raw.strip_prefix('/') else {
            return Err(error(
                format!("route path \"{raw}\" does not start with `/`"),
                format!("write it as \"/{raw}\""),
            ));
        };
        if let Some(bad) = raw
            .chars()
            .find(|c| matches!(c, '?' | '#') || !c.is_ascii_graphic())
        {
            return Err(error(
                format!("route path \"{raw}\" contains {bad:?}"),
                "a route path has no query, fragment, spaces or non-ASCII characters; \
                 percent-encode such characters or match them with a `:name` parameter",
            ));
        }
        let mut segments = Vec::new();
        let mut wildcard = false;
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if part.is_empty() {
                return Err(error(
                    format!("route path \"{raw}\" has an empty segment"),
                    "remove the doubled or trailing `/` (a request for `/a/` also matches `/a`)",
                ));
            }
            if *part == "..." {
                if !last {
                    return Err(error(
                        format!("in route path \"{raw}\", `...` is not the last segment"),
                        "put the wildcard `/...` at the end of the path",
                    ));
                }
                wildcard = true;
            } else if let Some(name) = part.strip_prefix(':') {
                if !is_param_name(name) {
                    return Err(error(
                        format!("in route path \"{raw}\", `{part}` is not a valid parameter"),
                        "name parameters with letters, digits and `_`, starting with a letter, \
                         such as `:id`",
                    ));
                }
                if segments.contains(&Segment::Param(name.to_string())) {
                    return Err(error(
                        format!("route path \"{raw}\" names the parameter `{name}` twice"),
                        "give each parameter its own name",
                    ));
                }
                segments.push(Segment::Param(name.to_string()));
            } else if part.contains('*') || part.contains('{') || part.contains('}') {
                return Err(error(
                    format!("route path \"{raw}\" has the segment `{part}`"),
                    "write parameters as `:name` and a wildcard as a final `/...`",
                ));
            } else {
                segments.push(Segment::Static((*part).to_string()));
            }
        }
        Ok(Self {
            raw: raw.to_string(),
            segments,
            wildcard,
        })
    }

    /// The names of the parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Static(_) => None,
        })
    }

    /// The pattern with parameter names erased: two routes with the same shape match exactly
    /// the same requests.
    pub fn shape(&self) -> String {
        let mut shape = String::new();
        for segment in &self.segments {
            shape.push('/');
            match segment {
                Segment::Static(text) => shape.push_str(text),
                Segment::Param(_) => shape.push(':'),
            }
        }
        if self.wildcard {
            shape.push_str("/...");
        }
        if shape.is_empty() {
            shape.push('/');
        }
        shape
    }
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(s: &str) -> Segment {
        match s.strip_prefix(':') {
            Some(name) => Segment::Param(name.into()),
            None => Segment::Static(s.into()),
        }
    }

    #[test]
    fn parses_static_param_and_wildcard() {
        let p = RoutePattern::parse("/api/users/:id/...").unwrap();
        assert_eq!(p.segments, vec![seg("api"), seg("users"), seg(":id")]);
        assert!(p.wildcard);
        assert_eq!(p.params().collect::<Vec<_>>(), ["id"]);
    }

    #[test]
    fn root_and_root_wildcard() {
        let root = RoutePattern::parse("/").unwrap();
        assert!(root.segments.is_empty() && !root.wildcard);
        assert_eq!(root.shape(), "/");
        let all = RoutePattern::parse("/...").unwrap();
        assert!(all.segments.is_empty() && all.wildcard);
        assert_eq!(all.shape(), "/...");
    }

    #[test]
    fn shape_erases_parameter_names() {
        let a = RoutePattern::parse("/users/:id").unwrap();
        let b = RoutePattern::parse("/users/:name").unwrap();
        assert_eq!(a.shape(), b.shape());
        assert_ne!(
            a.shape(),
            RoutePattern::parse("/users/:id/...").unwrap().shape()
        );
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in [
            "users",
            "/a//b",
            "/a/",
            "/.../a",
            "/:",
            "/:1x",
            "/a/:id/:id",
            "/a?b=1",
            "/a b",
            "/files/*",
            "/{id}",
            "/café",
        ] {
            assert!(
                RoutePattern::parse(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
