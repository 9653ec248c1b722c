//! An application: the manifest's routes, bound to loaded components.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use opentelemetry_sdk::trace::SdkTracer;
use tessera_manifest::{Diagnostic, Handler, Manifest, ManifestError};
use tessera_runtime::{Capabilities, ComponentLoader, HttpComponent, LoadReport};
use tokio::task::JoinSet;

use crate::Router;
use crate::files::StaticFiles;
use crate::metrics::{Metrics, RouteMeter};
use crate::middleware::{Chain, Middleware, component_endpoint};
use crate::rejection::Rejections;

pub use tessera_manifest::RESERVED_HEADER_PREFIX;
/// The route pattern that matched, as written in the manifest.
pub const ROUTE_HEADER: &str = "tessera-route";
/// For a `/...` route, the rest of the path after the matched segments.
pub const PATH_REST_HEADER: &str = "tessera-path-rest";
/// Prefix of one header per `:name` parameter: `tessera-param-<name>` (lower case).
pub const PARAM_HEADER_PREFIX: &str = "tessera-param-";

/// What answers a route.
pub(crate) enum Endpoint {
    /// A component.
    Component(Arc<HttpComponent>),
    /// A folder of static files.
    Files(Arc<StaticFiles>),
}

impl Endpoint {
    /// What the access log names: the component's id, or `files`.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Component(component) => component.id(),
            Self::Files(_) => "files",
        }
    }
}

/// What a route resolves to.
pub(crate) struct RouteTarget {
    pub(crate) endpoint: Endpoint,
    pub(crate) route: HeaderValue,
    /// The same, for the request's span (shared, not copied per request).
    pub(crate) pattern: Arc<str>,
    /// One header name per parameter, in path order; built here so requests allocate none.
    pub(crate) param_headers: Vec<HeaderName>,
    pub(crate) wildcard: bool,
    /// The route's middleware and component as one service; `None` for a route without
    /// middleware, which calls the component directly.
    pub(crate) chain: Option<Chain>,
    /// Whether a `cors` step answers preflight requests for this route.
    pub(crate) cors: bool,
    /// The header a `request_id` step sets, for the access log.
    pub(crate) request_id_header: Option<HeaderName>,
    /// The route's series, when the server keeps metrics.
    pub(crate) meter: Option<Arc<RouteMeter>>,
}

/// A loaded application, ready to serve.
pub struct App {
    pub(crate) router: Router<RouteTarget>,
    pub(crate) components: BTreeMap<String, Arc<HttpComponent>>,
    pub(crate) rejections: Arc<Rejections>,
    pub(crate) access_log: bool,
    pub(crate) metrics: Option<Arc<Metrics>>,
    /// Makes each request's span, when the server traces (`trace.rs`).
    pub(crate) tracer: Option<SdkTracer>,
}

impl App {
    /// Loads every component of `manifest` (in parallel) and builds the router. Every
    /// component that fails is reported, each as a diagnostic on its `source` key.
    /// `capabilities` holds what each component was granted; one without an entry gets none.
    /// `middleware` is the manifest's middleware, built ([`Middleware::build`]).
    pub async fn load(
        manifest: &Manifest,
        loader: &ComponentLoader,
        capabilities: &BTreeMap<String, Arc<Capabilities>>,
        middleware: &Middleware,
    ) -> Result<(Self, Vec<(String, LoadReport)>), ManifestError> {
        let mut loads = JoinSet::new();
        for spec in manifest.components.values() {
            let loader = loader.clone();
            let spec = spec.clone();
            let caps = capabilities
                .get(&spec.id)
                .cloned()
                .unwrap_or_else(|| Capabilities::none(&spec.id));
            loads.spawn(async move {
                let result = loader.load(&spec, caps).await;
                (spec, result)
            });
        }
        let mut components = BTreeMap::new();
        let mut reports = Vec::new();
        let mut diagnostics = Vec::new();
        while let Some(joined) = loads.join_next().await {
            let (spec, result) = joined.expect("loading a component does not panic");
            match result {
                Ok((component, report)) => {
                    reports.push((spec.id.clone(), report));
                    components.insert(spec.id.clone(), Arc::new(component));
                }
                Err(error) => diagnostics.push(
                    Diagnostic::new(
                        &manifest.file,
                        format!("component.{}.source", spec.id),
                        error.to_string(),
                        error.fix(),
                    )
                    .at_line(spec.source_line),
                ),
            }
        }
        if !diagnostics.is_empty() {
            diagnostics.sort_by_key(|d| d.line);
            return Err(ManifestError { diagnostics });
        }
        reports.sort_by(|a, b| a.0.cmp(&b.0));
        let app = Self::from_components(manifest, components, middleware)
            .map_err(ManifestError::single)?;
        Ok((app, reports))
    }

    /// Builds the router over already-loaded components, each route with its middleware.
    pub fn from_components(
        manifest: &Manifest,
        components: BTreeMap<String, Arc<HttpComponent>>,
        middleware: &Middleware,
    ) -> Result<Self, Diagnostic> {
        Self::build(
            manifest,
            components,
            middleware,
            Arc::new(Rejections::new()),
        )
    }

    /// This app with component `id` replaced by `component`: the same routes and middleware
    /// (rate-limit buckets and token caches included), every chain rebuilt around the new
    /// component. Requests already holding `self` finish on the old one.
    pub(crate) fn with_component(
        &self,
        manifest: &Manifest,
        middleware: &Middleware,
        component: Arc<HttpComponent>,
    ) -> Self {
        let mut components = self.components.clone();
        components.insert(component.id().to_string(), component);
        let app = Self::build(manifest, components, middleware, self.rejections.clone())
            .expect("the same routes built before")
            .with_access_log(self.access_log)
            .with_tracer(self.tracer.clone());
        match &self.metrics {
            Some(metrics) => app.with_metrics(metrics.clone()),
            None => app,
        }
    }

    fn build(
        manifest: &Manifest,
        components: BTreeMap<String, Arc<HttpComponent>>,
        middleware: &Middleware,
        rejections: Arc<Rejections>,
    ) -> Result<Self, Diagnostic> {
        let mut router = Router::new();
        for route in &manifest.routes {
            let key = format!("route[{}]", route.index);
            let endpoint = match &route.handler {
                Handler::Component(id) => Endpoint::Component(
                    components
                        .get(id)
                        .expect("the manifest checked that routed components exist")
                        .clone(),
                ),
                Handler::Files(dir) => {
                    Endpoint::Files(Arc::new(StaticFiles::new(dir).map_err(|e| {
                        Diagnostic::new(
                            &manifest.file,
                            format!("{key}.files"),
                            format!("{} cannot be served: {e}", dir.display()),
                            "name an existing folder, relative to the manifest",
                        )
                    })?))
                }
            };
            let route_header = HeaderValue::from_str(&route.pattern.raw)
                .expect("route patterns are visible ASCII");
            let param_headers = route
                .pattern
                .params()
                .map(|name| {
                    HeaderName::try_from(format!(
                        "{PARAM_HEADER_PREFIX}{}",
                        name.to_ascii_lowercase()
                    ))
                    .expect("parameter names are letters, digits and `_`")
                })
                .collect();
            let chain = (!route.middleware.is_empty()).then(|| {
                let end = match &endpoint {
                    Endpoint::Component(component) => {
                        component_endpoint(component.clone(), rejections.clone())
                    }
                    Endpoint::Files(files) => files.chain(),
                };
                middleware.chain(&route.middleware, end, &components, &rejections)
            });
            let target = RouteTarget {
                endpoint,
                route: route_header,
                pattern: route.pattern.raw.as_str().into(),
                param_headers,
                wildcard: route.pattern.wildcard,
                chain,
                cors: middleware.has_cors(&route.middleware),
                request_id_header: middleware.request_id_header(&route.middleware),
                meter: None,
            };
            router
                .insert(&route.pattern, route.methods.clone(), target)
                .map_err(|e| {
                    Diagnostic::new(
                        &manifest.file,
                        format!("{key}.path"),
                        e.to_string(),
                        "split the route, or pass values in the query or body",
                    )
                })?;
        }
        Ok(Self {
            router,
            components,
            rejections,
            access_log: false,
            metrics: None,
            tracer: None,
        })
    }

    /// Keeps `metrics` of every request (`metrics.rs`).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        for target in self.router.values_mut() {
            let route = target.route.to_str().unwrap_or_default();
            target.meter = Some(metrics.route(route, target.endpoint.name()));
        }
        self.metrics = Some(metrics);
        self
    }

    /// Traces every request with `tracer` (`None`: no traces). For spans of each middleware
    /// step, the middleware must be built with [`Middleware::trace_steps`].
    #[must_use]
    pub fn with_tracer(mut self, tracer: Option<SdkTracer>) -> Self {
        self.tracer = tracer;
        self
    }

    /// Logs one line per request (method, path, status, component, time to response head).
    #[must_use]
    pub fn with_access_log(mut self, enabled: bool) -> Self {
        self.access_log = enabled;
        self
    }

    /// The loaded components, by id.
    pub fn components(&self) -> &BTreeMap<String, Arc<HttpComponent>> {
        &self.components
    }
}
