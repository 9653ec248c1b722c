//! The study's endpoint: matrix multiplication.
//!
//! - `GET /api/matmul?n=<1..=5000>&kernel=naive|fast`: multiplies the study's `A` and `B` of
//!   size `n` (see `matmul-core`) and answers `{"n", "kernel", "checksum", "millis"}`, where
//!   `checksum` is the sum of the entries of the product and `millis` the time this component
//!   took to build both matrices, multiply them and sum the product.
//! - `POST /api/matmul[?kernel=...]` with `{"a": [[...]], "b": [[...]]}`: answers
//!   `{"c": [[...]]}`. A ragged matrix or shapes that do not multiply are a 400; the manifest's
//!   `body_limit` step answers 413 for a body over its limit.
//!
//! Built with `-C target-feature=+simd128` (the manifest's build command), so that both
//! kernels run on 128-bit SIMD.

use std::time::Instant;

use matmul_core::{Kernel, MAX_N, Matrix, study_checksum};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_sdk::{Error, Method, Request, Response, Result};

fn handle(mut request: Request) -> Result<Response> {
    let kernel = kernel(&request)?;
    match *request.method() {
        Method::GET => {
            let n = size(&request)?;
            let start = Instant::now();
            let checksum = study_checksum(n, kernel);
            let millis = start.elapsed().as_micros() as f64 / 1000.0;
            // Exact: the checksum is an integer below 2^53 (see matmul-core).
            let checksum = checksum as u64;
            Response::json(&Answer {
                n,
                kernel: kernel.name(),
                checksum,
                millis,
            })
        }
        Method::POST => {
            let input: Product = request.json()?;
            let a = Matrix::from_rows("a", &input.a).map_err(bad_shape)?;
            let b = Matrix::from_rows("b", &input.b).map_err(bad_shape)?;
            let c = a.multiply(&b, kernel).map_err(bad_shape)?;
            Response::json(&json!({ "c": c.to_rows() }))
        }
        _ => Err(Error::new(
            tessera_sdk::StatusCode::METHOD_NOT_ALLOWED,
            "use GET /api/matmul?n=... or POST /api/matmul",
        )),
    }
}

/// The answer to a `GET`, its fields in the order the study's peers write them.
#[derive(Serialize)]
struct Answer {
    n: usize,
    kernel: &'static str,
    checksum: u64,
    millis: f64,
}

/// The body of a `POST`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Product {
    a: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
}

#[expect(clippy::needless_pass_by_value, reason = "passed to map_err by name")]
fn bad_shape(error: matmul_core::ShapeError) -> Error {
    Error::bad_request(error.to_string())
}

/// `kernel`, `naive` when absent.
fn kernel(request: &Request) -> Result<Kernel> {
    match request.query_param("kernel") {
        None => Ok(Kernel::Naive),
        Some(name) => Kernel::from_name(&name).ok_or_else(|| {
            Error::bad_request(format!(
                "unknown kernel {name:?}: use kernel=naive (the default) or kernel=fast"
            ))
        }),
    }
}

/// `n`, required, in 1..=MAX_N.
fn size(request: &Request) -> Result<usize> {
    let text = request
        .query_param("n")
        .ok_or_else(|| Error::bad_request(format!("give the size: ?n=<1..={MAX_N}>")))?;
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_N).contains(&n) => Ok(n),
        Ok(_) => Err(Error::bad_request(format!(
            "n = {text} is out of range: use 1..={MAX_N}"
        ))),
        Err(_) => Err(Error::bad_request(format!(
            "n = {text:?} is not a number: use 1..={MAX_N}"
        ))),
    }
}

tessera_sdk::http_component!(handle);
