//! The component's variables (`wasi:config/store`): the manifest's `variables`, overridable
//! by `TESSERA_VAR_<NAME>`, secrets included.

use tessera_guest::wasi::config::store;

use crate::{Error, Result};

/// Variable `name`; one that is not set is a 500 that names it.
pub fn get(name: &str) -> Result<String> {
    get_opt(name)?.ok_or_else(|| {
        Error::internal(format!(
            "variable {name:?} is not set (add it to the component's variables in tessera.toml)"
        ))
    })
}

/// Variable `name`, if set.
pub fn get_opt(name: &str) -> Result<Option<String>> {
    store::get(name).map_err(|e| {
        Error::internal(match e {
            store::Error::Upstream(m) | store::Error::Io(m) => format!("variable {name:?}: {m}"),
        })
    })
}
