//! End-to-end: `tessera up --otlp-endpoint URL` exports OpenTelemetry traces to a real OTLP
//! receiver (the test support's, decoding OTLP/HTTP protobuf with `opentelemetry-proto`).
//! A call chain across two servers (a client with a `traceparent`, server A with a
//! middleware step whose guest sends an outbound request to server B, whose guest reads a
//! key-value store) is one trace, every span where it belongs.

use std::time::Duration;

use tessera_test_support::otlp::{OtlpReceiver, ReceivedSpan};
use tessera_test_support::{AppDir, Client, Server, ServerOptions, component_section};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

/// The trace the client says its request belongs to, and the client's span in it.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// The `caps` guest, allowed to call `outbound`: its outbound requests at `/http/...`
/// behind an `api_key` step, and its key-value calls at `/kv/...` without.
fn app(outbound: &str) -> AppDir {
    AppDir::new(&format!(
        "[middleware.keys]\ntype = \"api_key\"\nkeys = {{ client = \"k-1\" }}\n\n\
         [[route]]\npath = \"/http/...\"\ncomponent = \"caps\"\nmiddleware = [\"keys\"]\n\n\
         [[route]]\npath = \"/kv/...\"\ncomponent = \"caps\"\n\n{}",
        component_section(
            "caps",
            "caps",
            &format!("key_value_stores = [\"default\"]\nallowed_outbound_hosts = [\"{outbound}\"]")
        ),
    ))
}

fn start(app: &AppDir, receiver: &OtlpReceiver, service: &str) -> Server {
    Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default()
            .args(["--otlp-endpoint", &receiver.endpoint()])
            .env("OTEL_SERVICE_NAME", service)
            // Export every 100 ms rather than every 5 s.
            .env("OTEL_BSP_SCHEDULE_DELAY", "100"),
    )
}

fn find<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> &'a ReceivedSpan {
    spans
        .iter()
        .find(|s| s.service == service && s.name == name)
        .unwrap_or_else(|| panic!("no span {name} from {service} in {spans:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_across_two_servers_is_one_trace() {
    let receiver = OtlpReceiver::start().await;
    let app_b = app("http://127.0.0.1:1");
    let b = start(&app_b, &receiver, "server-b");
    let app_a = app("http://127.0.0.1:*");
    let a = start(&app_a, &receiver, "server-a");

    let mut client = Client::http1(a.addr()).await;
    let url = format!("/http?url=http://{}/kv/get%3Fkey%3Dmissing", b.addr());
    let reply = client
        .fetch(
            tessera_test_support::request_with(
                "GET",
                &url,
                &[
                    ("x-api-key", "k-1"),
                    ("traceparent", &format!("00-{TRACE_ID}-{CLIENT_SPAN}-01")),
                ],
            )
            .body(tessera_test_support::empty())
            .expect("a request"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // Server A: request, middleware step, guest, outbound call (and instantiation, unless an
    // instance was made ahead); server B the same with a key-value call in place of the
    // outbound one.
    let spans = receiver
        .wait_for(Duration::from_secs(10), |spans| {
            spans.iter().any(|s| s.name == "get default")
                && spans.iter().filter(|s| s.service == "server-a").count() >= 4
        })
        .await;
    for span in &spans {
        assert_eq!(
            span.trace_id, TRACE_ID,
            "every span is in the client's trace: {span:#?}"
        );
    }

    let a_server = find(&spans, "server-a", "GET /http/...");
    assert_eq!(a_server.kind, 2, "a server span");
    assert_eq!(
        a_server.parent_span_id, CLIENT_SPAN,
        "continues the client's span"
    );
    assert_eq!(a_server.attr("http.route"), Some("/http/..."));
    assert_eq!(a_server.attr("http.request.method"), Some("GET"));
    assert_eq!(a_server.attr("http.response.status_code"), Some("200"));
    assert_eq!(a_server.attr("url.path"), Some("/http"));
    assert_eq!(a_server.attr("client.address"), Some("127.0.0.1"));
    let step = find(&spans, "server-a", "middleware keys");
    assert_eq!(step.parent_span_id, a_server.span_id);
    let instantiate = find(&spans, "server-a", "instantiate");
    assert_eq!(
        instantiate.parent_span_id, step.span_id,
        "the component runs after the step"
    );
    assert_eq!(instantiate.attr("tessera.component"), Some("caps"));
    let guest = find(&spans, "server-a", "guest caps");
    assert_eq!(guest.parent_span_id, step.span_id);
    let outbound = find(&spans, "server-a", "GET");
    assert_eq!(outbound.kind, 3, "a client span");
    assert_eq!(outbound.parent_span_id, guest.span_id);
    assert_eq!(outbound.attr("server.address"), Some("127.0.0.1"));
    assert_eq!(
        outbound.attr("http.response.status_code"),
        Some("404"),
        "no such key"
    );

    let b_server = find(&spans, "server-b", "GET /kv/...");
    assert_eq!(
        b_server.parent_span_id, outbound.span_id,
        "server B continues A's outbound request"
    );
    let b_guest = find(&spans, "server-b", "guest caps");
    let kv = find(&spans, "server-b", "get default");
    assert_eq!(kv.kind, 3);
    assert_eq!(kv.parent_span_id, b_guest.span_id);
    assert_eq!(kv.attr("db.operation.name"), Some("get"));
    assert_eq!(kv.attr("tessera.capability"), Some("key_value"));
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_failures_and_new_traces_are_traced() {
    let receiver = OtlpReceiver::start().await;
    let app = app("http://127.0.0.1:1");
    let server = start(&app, &receiver, "alone");
    let mut client = Client::http1(server.addr()).await;
    // No traceparent: a trace of its own. Refused by the step; no route; a guest failure
    // (an outbound request to a host the grant does not allow is refused as an error).
    assert_eq!(client.get("/http/noop").await.status, 401);
    assert_eq!(client.get("/nowhere").await.status, 404);
    let denied = tessera_test_support::request_with(
        "GET",
        "/http?url=http://example.com/",
        &[("x-api-key", "k-1")],
    )
    .body(tessera_test_support::empty())
    .expect("a request");
    let status = client.fetch(denied).await.status;

    let spans = receiver
        .wait_for(Duration::from_secs(10), |spans| {
            spans.iter().filter(|s| s.kind == 2).count() >= 3
        })
        .await;
    let servers: Vec<_> = spans.iter().filter(|s| s.kind == 2).collect();
    assert_eq!(servers.len(), 3, "{spans:#?}");
    for span in &servers {
        assert!(span.parent_span_id.is_empty(), "a root span: {span:#?}");
    }
    assert_ne!(
        servers[0].trace_id, servers[1].trace_id,
        "one trace per request"
    );

    let refused = find(&spans, "alone", "middleware keys");
    assert_eq!(refused.attr("tessera.middleware.refused"), Some("true"));
    assert_eq!(refused.attr("http.response.status_code"), Some("401"));
    let unrouted = find(&spans, "alone", "GET");
    assert_eq!(unrouted.attr("http.response.status_code"), Some("404"));
    assert_eq!(unrouted.attr("http.route"), None, "no route matched");
    // The refused outbound request never left: no client span, and the guest's answer (a
    // 5xx marks the server span as failed, a 4xx does not).
    let request = spans
        .iter()
        .find(|s| s.kind == 2 && s.attr("url.path") == Some("/http"))
        .expect("the request's span");
    assert_eq!(
        request.attr("http.response.status_code"),
        Some(status.as_str()),
    );
    assert_eq!(
        request.status == 2,
        status.is_server_error(),
        "{request:#?}"
    );
    assert!(
        !spans.iter().any(|s| s.kind == 3),
        "no client span for a refused request: {spans:#?}"
    );
}
