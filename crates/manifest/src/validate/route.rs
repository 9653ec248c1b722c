//! Checking one `[[route]]`, and routes that would answer the same requests.

use std::path::Path;

use toml::Spanned;

use super::Checker;
use crate::error::did_you_mean;
use crate::raw::RawRoute;
use crate::{Handler, Route, RoutePattern};

pub(super) fn check_route(
    checker: &mut Checker<'_>,
    index: usize,
    route: &Spanned<RawRoute>,
    component_ids: &[&str],
    dir: &Path,
) -> Option<Route> {
    let key = format!("route[{index}]");
    let raw = route.get_ref();
    let before = checker.diagnostics.len();

    let pattern = match RoutePattern::parse(raw.path.get_ref()) {
        Ok(pattern) => Some(pattern),
        Err(e) => {
            let line = checker.line(&raw.path);
            checker.report(format!("{key}.path"), line, e.problem, e.fix);
            None
        }
    };

    let handler = match (&raw.component, &raw.files) {
        (Some(component), None) => {
            check_component_name(checker, &key, component, component_ids);
            Handler::Component(component.get_ref().clone())
        }
        (None, Some(files)) => {
            check_files(checker, &key, raw, files, pattern.as_ref(), dir);
            Handler::Files(dir.join(files.get_ref()))
        }
        (Some(_), Some(files)) => {
            let line = checker.line(files);
            checker.report(
                format!("{key}.files"),
                line,
                "a route is answered by a component or by files, not both",
                "remove `component` or `files`, or split them into two routes",
            );
            return None;
        }
        (None, None) => {
            let line = checker.line(route);
            checker.report(
                format!("{key}.component"),
                line,
                "this required key is missing",
                "add the id of the component that serves it: `component = \"<id>\"` \
                 (or `files = \"<folder>\"` for static files)",
            );
            return None;
        }
    };

    let methods = raw.methods.as_ref().map(|methods| {
        let mut parsed: Vec<http::Method> = Vec::new();
        if methods.get_ref().is_empty() {
            let line = checker.line(methods);
            checker.report(
                format!("{key}.methods"),
                line,
                "the list of methods is empty, so the route would answer nothing",
                "list at least one method, or remove `methods` to accept every method",
            );
        }
        for method in methods.get_ref() {
            let text = method.get_ref();
            match http::Method::from_bytes(text.as_bytes()) {
                Ok(m) if text.bytes().all(|b| !b.is_ascii_lowercase()) => {
                    if !parsed.contains(&m) {
                        parsed.push(m);
                    }
                }
                _ => {
                    let line = checker.line(method);
                    checker.report(
                        format!("{key}.methods"),
                        line,
                        format!("\"{text}\" is not an HTTP method"),
                        "write methods in upper case, such as [\"GET\", \"POST\"]",
                    );
                }
            }
        }
        parsed
    });

    if checker.diagnostics.len() != before {
        return None;
    }
    Some(Route {
        index,
        pattern: pattern.expect("no diagnostic means the pattern parsed"),
        methods: match (&handler, methods) {
            // A folder answers GET (and so HEAD) unless the route says otherwise.
            (Handler::Files(_), None) => Some(vec![http::Method::GET]),
            (_, methods) => methods,
        },
        handler,
        middleware: Vec::new(),
    })
}

fn check_component_name(
    checker: &mut Checker<'_>,
    key: &str,
    component: &Spanned<String>,
    component_ids: &[&str],
) {
    let name = component.get_ref();
    if component_ids.contains(&name.as_str()) {
        return;
    }
    let line = checker.line(component);
    let fix = match did_you_mean(name, component_ids.iter().copied()) {
        Some(close) => format!("did you mean \"{close}\"?"),
        None if component_ids.is_empty() => {
            format!("declare it: [component.{name}] with source = \"<file>.wasm\"")
        }
        None => format!(
            "declare [component.{name}], or use one of: {}",
            component_ids.join(", ")
        ),
    };
    checker.report(
        format!("{key}.component"),
        line,
        format!("unknown component \"{name}\""),
        fix,
    );
}

/// A files route: an existing folder, a path that ends in `/...` (the rest names the file),
/// and no method but GET and HEAD.
fn check_files(
    checker: &mut Checker<'_>,
    key: &str,
    raw: &RawRoute,
    files: &Spanned<String>,
    pattern: Option<&RoutePattern>,
    dir: &Path,
) {
    let folder = dir.join(files.get_ref());
    if !folder.is_dir() {
        let line = checker.line(files);
        let problem = if folder.exists() {
            format!("{} is not a folder", folder.display())
        } else {
            format!("{} does not exist", folder.display())
        };
        checker.report(
            format!("{key}.files"),
            line,
            problem,
            "name the folder of static files, relative to the manifest",
        );
    }
    if pattern.is_some_and(|p| !p.wildcard) {
        let line = checker.line(&raw.path);
        checker.report(
            format!("{key}.path"),
            line,
            format!(
                "\"{}\" serves files, so it must end in `/...`, which names the file",
                raw.path.get_ref()
            ),
            format!(
                "write `path = \"{}/...\"`",
                raw.path.get_ref().trim_end_matches('/')
            ),
        );
    }
    if let Some(methods) = &raw.methods
        && let Some(other) = methods
            .get_ref()
            .iter()
            .find(|m| !matches!(m.get_ref().as_str(), "GET" | "HEAD"))
    {
        let line = checker.line(other);
        checker.report(
            format!("{key}.methods"),
            line,
            format!(
                "a files route answers GET and HEAD, not {}",
                other.get_ref()
            ),
            "remove the method, or route it to a component",
        );
    }
}

/// Two routes with the same shape (same segments, any parameter names) conflict unless their
/// method lists are disjoint.
pub(super) fn check_duplicates(
    checker: &mut Checker<'_>,
    routes: &[Route],
    raw: &[Spanned<RawRoute>],
) {
    for (i, later) in routes.iter().enumerate() {
        let Some(earlier) = routes[..i]
            .iter()
            .find(|r| r.pattern.shape() == later.pattern.shape() && methods_overlap(r, later))
        else {
            continue;
        };
        let line = checker.line(&raw[later.index].get_ref().path);
        let same = if earlier.pattern.raw == later.pattern.raw {
            format!("route[{}] has the same path", earlier.index)
        } else {
            format!(
                "route[{}] (\"{}\") matches the same requests",
                earlier.index, earlier.pattern
            )
        };
        checker.report(
            format!("route[{}].path", later.index),
            line,
            format!("\"{}\" is routed twice: {same}", later.pattern),
            "remove one of the two routes, or give them `methods` lists that do not overlap",
        );
    }
}

pub(super) fn methods_overlap(a: &Route, b: &Route) -> bool {
    match (&a.methods, &b.methods) {
        (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
        _ => true,
    }
}
