//! The router: method and path to route, with path parameters and a wildcard remainder.
//!
//! Matching is per segment: an exact segment beats a `:name` parameter, which beats a `/...`
//! wildcard; on a dead end the search backs up and tries the next weaker choice, so the most
//! specific route that matches wins. Empty segments in a request path are ignored (`/a//b/`
//! matches `/a/b`).
//!
//! This is a small segment tree rather than `matchit`, which the style guide would suggest:
//! matchit refuses `/files/:name` beside `/files/...` and two routes naming the parameter at
//! the same position differently, and Tessera's manifest allows both (see docs/routing.md).

use http::Method;
use tessera_manifest::{RoutePattern, Segment};

/// The most parameters one route may have.
pub const MAX_PARAMS: usize = 16;

/// Routes method + path to values of type `T`.
#[derive(Debug)]
pub struct Router<T> {
    root: Node,
    routes: Vec<Entry<T>>,
}

#[derive(Debug)]
struct Entry<T> {
    params: Vec<String>,
    methods: Option<Vec<Method>>,
    value: T,
}

#[derive(Debug, Default)]
struct Node {
    statics: Vec<(Box<str>, Node)>,
    param: Option<Box<Node>>,
    /// Routes that end exactly here.
    exact: Vec<usize>,
    /// Routes that end here with `/...`.
    wildcard: Vec<usize>,
}

/// A successful match.
#[derive(Debug)]
pub struct Match<'r, 'p, T> {
    /// The route's value.
    pub value: &'r T,
    params: [&'p str; MAX_PARAMS],
    names: &'r [String],
    /// For a wildcard route, the rest of the path after the matched segments, as received
    /// (`/a/b`, or empty).
    pub rest: Option<&'p str>,
}

impl<'r, 'p, T> Match<'r, 'p, T> {
    /// The parameters, as (name, raw value) pairs in path order.
    pub fn params(&self) -> impl Iterator<Item = (&'r str, &'p str)> + '_ {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.params.iter().copied())
    }
}

/// Why a request matched no route.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No route matches the path.
    NotFound,
    /// Routes match the path, but none accepts the method; these methods would be accepted.
    MethodNotAllowed(Vec<Method>),
}

/// Adding a route failed.
#[derive(Debug, thiserror::Error)]
#[error("route {route} has more than {MAX_PARAMS} parameters")]
pub struct TooManyParams {
    route: String,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            routes: Vec::new(),
        }
    }
}

impl<T> Router<T> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every route's value, in the order the routes were added.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.routes.iter_mut().map(|entry| &mut entry.value)
    }

    /// Adds a route. Duplicates are the manifest's to reject; here a later route with the
    /// same shape and methods is simply never chosen.
    pub fn insert(
        &mut self,
        pattern: &RoutePattern,
        methods: Option<Vec<Method>>,
        value: T,
    ) -> Result<(), TooManyParams> {
        let params: Vec<String> = pattern.params().map(str::to_string).collect();
        if params.len() > MAX_PARAMS {
            return Err(TooManyParams {
                route: pattern.raw.clone(),
            });
        }
        let id = self.routes.len();
        self.routes.push(Entry {
            params,
            methods,
            value,
        });
        let mut node = &mut self.root;
        for segment in &pattern.segments {
            node = match segment {
                Segment::Param(_) => node.param.get_or_insert_with(Box::default),
                Segment::Static(text) => {
                    let at = match node.statics.iter().position(|(s, _)| **s == **text) {
                        Some(at) => at,
                        None => {
                            node.statics.push((text.as_str().into(), Node::default()));
                            node.statics.len() - 1
                        }
                    };
                    &mut node.statics[at].1
                }
            };
        }
        if pattern.wildcard {
            node.wildcard.push(id);
        } else {
            node.exact.push(id);
        }
        Ok(())
    }

    /// Finds the route for `method` and `path` (the path without its query).
    pub fn at<'r, 'p>(
        &'r self,
        method: &Method,
        path: &'p str,
    ) -> Result<Match<'r, 'p, T>, RouteError> {
        let mut search = Search {
            router: self,
            path,
            method: Some(method),
            params: [""; MAX_PARAMS],
            allowed: Vec::new(),
        };
        if let Some((id, rest)) = search.find(&self.root, 0, 0) {
            let entry = &self.routes[id];
            return Ok(Match {
                value: &entry.value,
                params: search.params,
                names: &entry.params,
                rest,
            });
        }
        // Slow path, only for requests that fail: which methods would have matched?
        search.method = None;
        search.find(&self.root, 0, 0);
        if search.allowed.is_empty() {
            Err(RouteError::NotFound)
        } else {
            let mut allowed = search.allowed;
            if allowed.contains(&Method::GET) && !allowed.contains(&Method::HEAD) {
                allowed.push(Method::HEAD);
            }
            Err(RouteError::MethodNotAllowed(allowed))
        }
    }
}

struct Search<'r, 'p, T> {
    router: &'r Router<T>,
    path: &'p str,
    /// `None` collects the methods of every route that matches the path into `allowed`.
    method: Option<&'r Method>,
    params: [&'p str; MAX_PARAMS],
    allowed: Vec<Method>,
}

impl<'p, T> Search<'_, 'p, T> {
    /// Depth-first search from `node`, with the path consumed up to byte `at` and `depth`
    /// parameters captured. Returns the route and, for a wildcard, the unmatched rest.
    fn find(&mut self, node: &Node, at: usize, depth: usize) -> Option<(usize, Option<&'p str>)> {
        let path = self.path;
        let remaining = &path[at..];
        let skipped = remaining.len() - remaining.trim_start_matches('/').len();
        let start = at + skipped;
        if start == path.len() {
            if let Some(id) = self.pick(&node.exact) {
                return Some((id, None));
            }
            return self.pick(&node.wildcard).map(|id| (id, Some(&path[at..])));
        }
        let end = path[start..].find('/').map_or(path.len(), |i| start + i);
        let segment = &path[start..end];
        if let Some((_, child)) = node.statics.iter().find(|(s, _)| **s == *segment)
            && let Some(found) = self.find(child, end, depth)
        {
            return Some(found);
        }
        if let Some(child) = &node.param
            && depth < MAX_PARAMS
        {
            self.params[depth] = segment;
            if let Some(found) = self.find(child, end, depth + 1) {
                return Some(found);
            }
        }
        self.pick(&node.wildcard).map(|id| (id, Some(&path[at..])))
    }

    /// The first of `ids` that accepts the method; or, when collecting, none (after noting
    /// their methods).
    fn pick(&mut self, ids: &[usize]) -> Option<usize> {
        let routes = &self.router.routes;
        match self.method {
            Some(method) => ids
                .iter()
                .copied()
                .find(|&id| allows(&routes[id].methods, method)),
            None => {
                for &id in ids {
                    for method in routes[id].methods.iter().flatten() {
                        if !self.allowed.contains(method) {
                            self.allowed.push(method.clone());
                        }
                    }
                }
                None
            }
        }
    }
}

fn allows(methods: &Option<Vec<Method>>, method: &Method) -> bool {
    match methods {
        None => true,
        Some(methods) => {
            methods.contains(method) || (*method == Method::HEAD && methods.contains(&Method::GET))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, Option<&[Method]>)]) -> Router<&'static str> {
        let mut router = Router::new();
        for (i, (pattern, methods)) in routes.iter().enumerate() {
            let name: &'static str = Box::leak(format!("r{i}").into_boxed_str());
            router
                .insert(
                    &RoutePattern::parse(pattern).unwrap(),
                    methods.map(<[Method]>::to_vec),
                    name,
                )
                .unwrap();
        }
        router
    }

    fn hit(router: &Router<&'static str>, path: &str) -> &'static str {
        router.at(&Method::GET, path).unwrap().value
    }

    /// Asserts which route each `(path, route)` pair's path reaches.
    fn hits(router: &Router<&'static str>, expected: &[(&str, &str)]) {
        let got: Vec<_> = expected
            .iter()
            .map(|(path, _)| (*path, hit(router, path)))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn exact_beats_param_beats_wildcard() {
        let r = router(&[
            ("/users/...", None),
            ("/users/:id", None),
            ("/users/me", None),
        ]);
        hits(
            &r,
            &[
                ("/users/me", "r2"),
                ("/users/42", "r1"),
                ("/users/42/posts", "r0"),
                ("/users", "r0"),
            ],
        );
    }

    #[test]
    fn longest_match_wins() {
        let r = router(&[("/...", None), ("/api/...", None), ("/api/v1/...", None)]);
        hits(
            &r,
            &[
                ("/", "r0"),
                ("/other", "r0"),
                ("/api/x", "r1"),
                ("/api/v1/x/y", "r2"),
                ("/api/v2", "r1"),
            ],
        );
    }

    #[test]
    fn backtracks_from_a_dead_end() {
        let r = router(&[("/a/:x/c", None), ("/a/b/d", None)]);
        hits(&r, &[("/a/b/c", "r0"), ("/a/b/d", "r1")]);
        assert_eq!(
            r.at(&Method::GET, "/a/b/e").unwrap_err(),
            RouteError::NotFound
        );
    }

    #[test]
    fn params_and_rest_are_captured_raw() {
        let r = router(&[("/users/:id/files/:name/...", None)]);
        let m = r
            .at(&Method::GET, "/users/a%20b/files/x.txt/deep/er")
            .unwrap();
        assert_eq!(
            m.params().collect::<Vec<_>>(),
            [("id", "a%20b"), ("name", "x.txt")]
        );
        assert_eq!(m.rest, Some("/deep/er"));
        let m = r.at(&Method::GET, "/users/1/files/y").unwrap();
        assert_eq!(m.rest, Some(""));
        let m = r.at(&Method::GET, "/users/1/files/y/").unwrap();
        assert_eq!(m.rest, Some("/"));
    }

    #[test]
    fn different_param_names_at_one_position() {
        let r = router(&[("/u/:id", None), ("/u/:name/posts", None)]);
        let m = r.at(&Method::GET, "/u/7").unwrap();
        assert_eq!(m.params().collect::<Vec<_>>(), [("id", "7")]);
        let m = r.at(&Method::GET, "/u/bob/posts").unwrap();
        assert_eq!(m.params().collect::<Vec<_>>(), [("name", "bob")]);
    }

    #[test]
    fn empty_segments_are_ignored() {
        let r = router(&[("/a/b", None), ("/", None)]);
        hits(&r, &[("/a//b/", "r0"), ("/", "r1"), ("", "r1")]);
    }

    #[test]
    fn methods_pick_among_routes_and_405_lists_the_rest() {
        let get: &[Method] = &[Method::GET];
        let post: &[Method] = &[Method::POST];
        let r = router(&[("/items", Some(get)), ("/items", Some(post))]);
        assert_eq!(r.at(&Method::GET, "/items").unwrap().value, &"r0");
        assert_eq!(r.at(&Method::POST, "/items").unwrap().value, &"r1");
        assert_eq!(r.at(&Method::HEAD, "/items").unwrap().value, &"r0");
        assert_eq!(
            r.at(&Method::DELETE, "/items").unwrap_err(),
            RouteError::MethodNotAllowed(vec![Method::GET, Method::POST, Method::HEAD])
        );
    }

    #[test]
    fn a_method_miss_falls_back_to_a_weaker_route() {
        let get: &[Method] = &[Method::GET];
        let r = router(&[("/users/:id", Some(get)), ("/users/...", None)]);
        assert_eq!(r.at(&Method::DELETE, "/users/1").unwrap().value, &"r1");
    }
}
