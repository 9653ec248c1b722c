//! Edge: `GET /api/ab`, A/B test assignment. A visitor without a `test-group` cookie is put
//! in group A or B with even odds (from `wasi:random`) and given the cookie
//! (`test-group=A; Path=/; HttpOnly; Secure; SameSite=Lax`, for 30 days); one with the cookie
//! keeps its group. Answers `{"group", "assigned"}` with `Cache-Control: private,
//! max-age=300`, so that shared caches never serve one visitor's group to another.

use serde::Serialize;
use tessera_sdk::{Request, Response, Result};

const COOKIE: &str = "test-group";

#[derive(Serialize)]
struct Assignment {
    group: &'static str,
    /// Whether this request assigned it (true) or the cookie carried it (false).
    assigned: bool,
}

/// The group a `Cookie` header carries, if it carries a valid one.
fn from_cookie(header: Option<&str>) -> Option<&'static str> {
    header?.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        if name != COOKIE {
            return None;
        }
        match value.trim() {
            "A" => Some("A"),
            "B" => Some("B"),
            _ => None,
        }
    })
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "http_component! hands the request over"
)]
fn handle(request: Request) -> Result<Response> {
    let (group, assigned) = match from_cookie(request.header("cookie")) {
        Some(group) => (group, false),
        None => {
            let coin = wasip2::random::random::get_random_u64() & 1;
            (if coin == 0 { "A" } else { "B" }, true)
        }
    };
    let mut response = Response::json(&Assignment { group, assigned })?
        .with_header("cache-control", "private, max-age=300")
        .with_header("vary", "cookie");
    if assigned {
        response = response.with_header(
            "set-cookie",
            &format!("{COOKIE}={group}; Path=/; Max-Age=2592000; HttpOnly; Secure; SameSite=Lax"),
        );
    }
    Ok(response)
}

tessera_sdk::http_component!(handle);

#[cfg(test)]
mod tests {
    use super::from_cookie;

    #[test]
    fn cookies() {
        assert_eq!(from_cookie(Some("a=1; test-group=B; c=3")), Some("B"));
        assert_eq!(from_cookie(Some("test-group=C")), None);
        assert_eq!(from_cookie(Some("other=A")), None);
        assert_eq!(from_cookie(None), None);
    }
}
