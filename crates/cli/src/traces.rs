//! OpenTelemetry traces for `tessera up`: an OTLP/HTTP (protobuf) exporter, configured by
//! `--otlp-endpoint` and the standard `OTEL_*` variables.
//!
//! - On when `--otlp-endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL; `/v1/traces` is
//!   appended) or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is, and first) is set; off
//!   when `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
//! - `OTEL_SERVICE_NAME` (default `tessera`), `OTEL_RESOURCE_ATTRIBUTES`,
//!   `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` (default `parentbased_always_on`),
//!   `OTEL_BSP_*` (the batch: size, delay, queue) and `OTEL_EXPORTER_OTLP_HEADERS` are read
//!   by the SDK as the specification says.
//!
//! The exporter speaks plain HTTP only: send to a collector on the node (the usual
//! deployment), which forwards over TLS if it must.

use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The variable the exporter reads a full traces URL from.
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// An exporting tracer provider; spans still queued are sent when it is shut down.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// The provider `endpoint` (a base URL) and the environment ask for, or `None` if they
    /// ask for no traces.
    pub fn from_env(endpoint: Option<&str>) -> anyhow::Result<Option<Self>> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
        let signal_endpoint = var(TRACES_ENDPOINT);
        if disabled || (endpoint.is_none() && signal_endpoint.is_none()) {
            return Ok(None);
        }
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_timeout(Duration::from_secs(10));
        if let (Some(base), None) = (endpoint, &signal_endpoint) {
            exporter = exporter.with_endpoint(format!("{}/v1/traces", base.trim_end_matches('/')));
        }
        let exporter = exporter
            .build()
            .with_context(|| match (&signal_endpoint, endpoint) {
                (Some(url), _) => format!("cannot export traces to {TRACES_ENDPOINT}={url}"),
                (None, Some(base)) => format!(
                    "cannot export traces to --otlp-endpoint {base} (give a base URL such as \
                 http://127.0.0.1:4318)"
                ),
                (None, None) => unreachable!("returned above"),
            })?;
        let mut resource = Resource::builder();
        if var("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name("tessera");
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource.build())
            .build();
        Ok(Some(Self { provider }))
    }

    /// The tracer the app's spans are made with.
    pub fn tracer(&self) -> SdkTracer {
        self.provider.tracer("tessera")
    }

    /// Sends the spans still queued, waiting at most a few seconds.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flushed = tokio::task::spawn_blocking(move || {
            provider.shutdown_with_timeout(Duration::from_secs(5))
        })
        .await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!("traces not all exported at exit: {error}");
        }
    }
}
