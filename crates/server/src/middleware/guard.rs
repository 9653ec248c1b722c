//! `type = "guard"`: requirements on the identity an earlier step established (claims,
//! roles, scopes, subjects); 403 when one is not met.

use http::Request;
use serde_json::Value;
use tessera_manifest::GuardSpec;

use super::RequestBody;
use super::gate::{Gate, Verdict};
use super::identity::Identity;
use crate::Rejection;

pub(crate) struct Guard {
    claims: Vec<(String, Value)>,
    roles: Vec<String>,
    roles_claim: String,
    scopes: Vec<String>,
    subjects: Vec<String>,
}

impl Guard {
    pub(crate) fn build(spec: &GuardSpec) -> Self {
        Self {
            claims: spec
                .claims
                .iter()
                .map(|(name, value)| {
                    let json = serde_json::to_value(value).expect("TOML values are JSON values");
                    (name.clone(), json)
                })
                .collect(),
            roles: spec.roles.clone(),
            roles_claim: spec.roles_claim.clone(),
            scopes: spec.scopes.clone(),
            subjects: spec.subjects.clone(),
        }
    }

    /// The first requirement `identity` does not meet.
    fn unmet(&self, identity: &Identity) -> Option<String> {
        let subject = identity.subject();
        if !self.subjects.is_empty() && !self.subjects.iter().any(|s| **s == **subject) {
            return Some(format!("subject \"{subject}\" is not allowed here"));
        }
        for (name, wanted) in &self.claims {
            let ok = match identity.claim(name) {
                Some(Value::Array(items)) => items.contains(wanted),
                Some(value) => value == wanted,
                None => false,
            };
            if !ok {
                return Some(format!("claim `{name}` must be {wanted}"));
            }
        }
        // Claims are looked up only for the rules that are set: this runs on every request.
        if !self.roles.is_empty() {
            let held = identity.claim(&self.roles_claim);
            if !self.roles.iter().any(|r| names(held, r)) {
                return Some(format!("one of the roles {:?} is required", self.roles));
            }
        }
        if !self.scopes.is_empty() {
            let (scope, scp) = (identity.claim("scope"), identity.claim("scp"));
            if let Some(missing) = self
                .scopes
                .iter()
                .find(|s| !names(scope, s) && !names(scp, s))
            {
                return Some(format!("the scope \"{missing}\" is required"));
            }
        }
        None
    }
}

/// Whether a claim holding names (an array of strings, or one space-separated string as in
/// OAuth 2.0's `scope`) holds `name`.
fn names(claim: Option<&Value>, name: &str) -> bool {
    match claim {
        Some(Value::String(s)) => s.split_whitespace().any(|n| n == name),
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(name)),
        _ => false,
    }
}

impl Gate for Guard {
    fn admit(&self, request: &mut Request<RequestBody>) -> Verdict {
        let Some(identity) = request.extensions().get::<Identity>() else {
            return Err(Rejection::Forbidden {
                message: "the request carries no identity".into(),
            });
        };
        match self.unmet(identity) {
            Some(message) => Err(Rejection::Forbidden { message }),
            None => Ok(None),
        }
    }
}
