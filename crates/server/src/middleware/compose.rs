//! Composing a route's chain: its middleware steps, in order, in front of its endpoint.

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_runtime::HttpComponent;

use super::build::BuiltStep;
use super::gate::GateStep;
use super::traced::TracedStep;
use super::{Chain, Middleware, tower_layers, wasm};
use crate::Rejections;

impl Middleware {
    /// The chain for a route: `names` in order, then `endpoint` (what answers the route: its
    /// component, [`component_endpoint`], or its files).
    pub(crate) fn chain(
        &self,
        names: &[String],
        endpoint: Chain,
        components: &BTreeMap<String, Arc<HttpComponent>>,
        rejections: &Arc<Rejections>,
    ) -> Chain {
        let mut chain = endpoint;
        // Gates next to each other run as one step: one future for all of them.
        let mut gates = Vec::new();
        for name in names.iter().rev() {
            let step = self
                .steps
                .get(name)
                .expect("the manifest checked middleware names");
            if let BuiltStep::Gate(gate) = step {
                gates.push((name.as_str().into(), gate.clone()));
                if !self.traced {
                    continue;
                }
            }
            chain = GateStep::wrap(std::mem::take(&mut gates), chain);
            chain = match step {
                // Traced: a gate step of its own, wrapped below.
                BuiltStep::Gate(_) => chain,
                BuiltStep::Cors(cors) => cors.wrap(chain),
                BuiltStep::Compression(spec) => tower_layers::compression(spec, chain),
                BuiltStep::RequestId(header) => tower_layers::request_id(header, chain),
                BuiltStep::Wasm(id) => {
                    let component = components
                        .get(id)
                        .expect("the manifest checked the component")
                        .clone();
                    wasm::WasmStep::wrap(component, rejections.clone(), chain)
                }
            };
            if self.traced {
                chain = TracedStep::wrap(name, chain);
            }
        }
        GateStep::wrap(gates, chain)
    }
}
