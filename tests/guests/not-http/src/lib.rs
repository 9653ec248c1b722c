//! A valid component that is not an HTTP handler: it exports a plain function, so Tessera
//! must refuse it at load time with a message about `wasi:http/incoming-handler`.

wit_bindgen::generate!({
    inline: "
        package tessera-test:not-http;
        world greeter {
            export greet: func(name: string) -> string;
        }
    ",
});

struct Component;

export!(Component);

impl Guest for Component {
    fn greet(name: String) -> String {
        format!("hello, {name}")
    }
}
