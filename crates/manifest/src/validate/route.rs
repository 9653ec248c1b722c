//! Checking one `[[route]]`, and routes that would answer the same requests.

use toml::Spanned;

use super::Checker;
use crate::error::did_you_mean;
use crate::raw::RawRoute;
use crate::{Route, RoutePattern};

pub(super) fn check_route(
    checker: &mut Checker<'_>,
    index: usize,
    route: &Spanned<RawRoute>,
    component_ids: &[&str],
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

    let component = raw.component.get_ref();
    if !component_ids.contains(&component.as_str()) {
        let line = checker.line(&raw.component);
        let fix = match did_you_mean(component, component_ids.iter().copied()) {
            Some(close) => format!("did you mean \"{close}\"?"),
            None if component_ids.is_empty() => {
                format!("declare it: [component.{component}] with source = \"<file>.wasm\"")
            }
            None => format!(
                "declare [component.{component}], or use one of: {}",
                component_ids.join(", ")
            ),
        };
        checker.report(
            format!("{key}.component"),
            line,
            format!("unknown component \"{component}\""),
            fix,
        );
    }

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
        component: component.clone(),
        methods,
        middleware: Vec::new(),
    })
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
