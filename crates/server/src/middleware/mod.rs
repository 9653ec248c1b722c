//! Route middleware: the steps a route's requests pass before its endpoint, built once at
//! load time from `[middleware.<name>]` and composed per route into one `Chain`.
//!
//! # Layout
//! - `chain`: the `Step` trait and `Chain`, a step with the rest of the chain behind it.
//! - `build`: [`Middleware`], every named middleware built, and its errors.
//! - `compose`: a route's chain from its middleware names and its endpoint.
//! - `endpoint`: a component at the end of a chain; its answer; the request's id.
//! - `gate`: steps that admit or answer a request at once, and `GateStep`.
//! - `gates`: every built-in gate as one type.
//! - `identity`: who the client is, for the guest and for later steps.
//! - `jwt`, `api_key`, `guard`: authentication and authorization.
//! - `rate_limit`, `limits`, `json_schema`: admission.
//! - `tower_step`: a tower service as a step; `tower_layers`: `cors`, `compression` and
//!   `request_id` from tower-http.
//! - `wasm`: components as steps.
//! - `traced`: a span around each step, when the server traces.
//!
//! Routes without middleware do not go through any of this (see `service`).

mod api_key;
mod build;
mod chain;
mod compose;
mod endpoint;
pub(crate) mod gate;
mod gates;
mod guard;
mod identity;
pub(crate) mod json_schema;
pub(crate) mod jwt;
mod limits;
mod rate_limit;
mod tower_layers;
mod tower_step;
mod traced;
mod wasm;

pub(crate) use build::BuildError;
pub use build::Middleware;
pub use chain::RequestBody;
pub(crate) use chain::{Chain, Responding, Step};
pub(crate) use endpoint::{answer, component_endpoint, request_id};
pub(crate) use gate::{BodyFault, RejectedBy, Watch};
pub use identity::{AUTH_CLAIMS_HEADER, AUTH_METHOD_HEADER, AUTH_SUBJECT_HEADER, Identity};
pub(crate) use tower_step::TowerStep;
