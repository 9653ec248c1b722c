//! A component whose start-up code never returns fails the load at its deadline instead of
//! hanging it: the epoch ticker, which makes deadlines fire, runs before the components load
//! and their trial instances are made.

use std::time::Duration;

/// A component exporting `wasi:http/incoming-handler` whose core module's start function
/// loops forever: instantiating it never finishes on its own.
const LOOPS_AT_START: &str = r#"
(component
  (import "wasi:http/types@0.2.0" (instance $types
    (export "incoming-request" (type (sub resource)))
    (export "response-outparam" (type (sub resource)))))
  (alias export $types "incoming-request" (type $request))
  (alias export $types "response-outparam" (type $outparam))
  (core module $code
    (func $forever (loop $again (br $again)))
    (start $forever)
    (func (export "handle") (param i32 i32)))
  (core instance $instance (instantiate $code))
  (func $handle (param "request" (own $request)) (param "response-out" (own $outparam))
    (canon lift (core func $instance "handle")))
  (instance $handler (export "handle" (func $handle)))
  (export "wasi:http/incoming-handler@0.2.0" (instance $handler)))
"#;

#[test]
fn a_component_whose_start_code_loops_fails_the_load_at_its_deadline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wasm = wat::parse_str(LOOPS_AT_START).expect("the component's text is valid");
    std::fs::write(dir.path().join("loops.wasm"), wasm).expect("write the component");
    let manifest = dir.path().join("tessera.toml");
    std::fs::write(
        &manifest,
        r#"
[[route]]
path = "/"
component = "loops"

[component.loops]
source = "loops.wasm"

[component.loops.limits]
timeout = "200ms"
"#,
    )
    .expect("write the manifest");
    // On a thread of its own: a load that hangs (the guest never yields without ticks, and
    // then no timer in its runtime fires) fails the test instead of hanging it.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let loaded = runtime.block_on(
            tessera::App::builder()
                .manifest(&manifest)
                .state_dir(dir.path().join("state"))
                .no_cache()
                .build(),
        );
        let _ = sender.send(loaded.err().map(|error| error.to_string()));
    });
    let error = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("the load ends: the deadline stops the start code")
        .expect("a component that cannot start fails the load");
    assert!(
        error.contains("starting an instance took longer than its timeout (200ms)"),
        "{error}"
    );
}
