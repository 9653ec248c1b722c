//! FastServe's `GET /api/compute?n=<0..=40>`: the `n`th Fibonacci number by naive recursion
//! (the study's CPU test), `{"n": 30, "fib": 832040}`. `n` defaults to 30; anything else
//! than a whole number in 0..=40 is a 400.

use serde::Serialize;
use tessera_sdk::{Error, Request, Response, Result};

/// The largest `n`: fib(40) takes about a second, well inside the route's deadline.
const MAX_N: u32 = 40;
const DEFAULT_N: u32 = 30;

#[derive(Serialize)]
struct Answer {
    n: u32,
    fib: u64,
}

/// Two recursive calls per level, as every peer in the study writes it.
fn fib(n: u32) -> u64 {
    if n < 2 {
        u64::from(n)
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "http_component! hands the request over"
)]
fn handle(request: Request) -> Result<Response> {
    let n = match request.query_param("n") {
        None => DEFAULT_N,
        Some(text) => match text.parse::<u32>() {
            Ok(n) if n <= MAX_N => n,
            _ => {
                return Err(Error::bad_request(format!(
                    "n = {text:?} is not a whole number in 0..={MAX_N}"
                )));
            }
        },
    };
    Response::json(&Answer { n, fib: fib(n) })
}

tessera_sdk::http_component!(handle);

#[cfg(test)]
mod tests {
    #[test]
    fn fib_by_hand() {
        let first: Vec<u64> = (0..10).map(super::fib).collect();
        assert_eq!(first, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
        assert_eq!(super::fib(30), 832_040);
    }
}
