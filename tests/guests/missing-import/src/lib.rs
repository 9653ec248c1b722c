//! An HTTP component that imports an interface no host provides, so Tessera must refuse it
//! at load time and name the import.

wit_bindgen::generate!({
    inline: "
        package tessera-test:missing-import;
        interface unknown-capability {
            fetch: func() -> string;
        }
        world handler {
            import unknown-capability;
            include wasi:http/proxy@0.2.12;
        }
    ",
    path: "../../../wit",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};

struct Component;

export!(Component);

impl Guest for Component {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let _ = tessera_test::missing_import::unknown_capability::fetch();
        ResponseOutparam::set(out, Ok(OutgoingResponse::new(Fields::new())));
    }
}
