//! Typed bindings to Tessera's capabilities for Rust components (`wasm32-wasip2`), generated
//! by `wit-bindgen` from the WIT in `wit/` (the `tessera:host/capabilities` world).
//!
//! Use it beside any `wasi:http` toolchain (the `wasi` crate, `wstd`, `wit-bindgen`): it only
//! imports the capability interfaces. What each call may reach is what the component's
//! `[component.<id>]` section grants; anything else returns an error value.
//!
//! - [`wasi::keyvalue::store`], [`wasi::keyvalue::atomics`], [`wasi::keyvalue::batch`]: the
//!   standard key-value interfaces; [`tessera::host::kv_expiry::set_with_ttl`] adds expiry.
//! - [`wasi::config::store`]: the component's variables.
//! - [`tessera::host::sql`]: parameterised SQL with typed values and rows.
//!
//! ```ignore
//! use tessera_guest::wasi::keyvalue::store;
//! use tessera_guest::tessera::host::kv_expiry;
//!
//! let bucket = store::open("default")?;
//! kv_expiry::set_with_ttl(&bucket, "greeting", b"hello", 60_000)?;
//! assert_eq!(bucket.get("greeting")?, Some(b"hello".to_vec()));
//! ```

#![allow(
    missing_docs,
    reason = "generated from the WIT, whose documentation it carries"
)]

wit_bindgen::generate!({
    path: "../../wit",
    world: "tessera:host/capabilities",
    generate_all,
});
