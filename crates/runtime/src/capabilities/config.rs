//! `wasi:config/store`: a component's variables. Secret values are returned to the component
//! that was granted them and never written to a log.

use crate::Host;
use crate::capabilities::bindings::wasi::config::store::{self, Error};

impl store::Host for Host {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, Error>> {
        let caps = &self.caps;
        match caps.variables.iter().find(|v| v.name == key) {
            Some(variable) => Ok(Ok(Some(variable.value.clone()))),
            None => {
                tracing::warn!(
                    component = %caps.component,
                    "variable \"{key}\" refused: it is not in the component's variables"
                );
                Ok(Err(Error::Upstream(format!(
                    "variable \"{key}\" is not granted to this component"
                ))))
            }
        }
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, Error>> {
        Ok(Ok(self
            .caps
            .variables
            .iter()
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect()))
    }
}
