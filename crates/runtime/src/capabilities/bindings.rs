//! Host bindings generated from the WIT in `wit/` (the `tessera:host/capabilities` world).

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "tessera:host/capabilities",
    imports: { default: async | trappable },
    with: {
        "wasi:keyvalue/store.bucket": super::kv::Bucket,
        "tessera:host/sql.connection": super::sql::Connection,
    },
});
