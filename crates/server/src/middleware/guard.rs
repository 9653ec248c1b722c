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
        if !self.roles.is_empty() {
            let held = strings(identity.claim(&self.roles_claim));
            if !self.roles.iter().any(|r| held.contains(&r.as_str())) {
                return Some(format!("one of the roles {:?} is required", self.roles));
            }
        }
        if !self.scopes.is_empty() {
            let mut granted = strings(identity.claim("scope"));
            granted.extend(strings(identity.claim("scp")));
            if let Some(missing) = self.scopes.iter().find(|s| !granted.contains(&s.as_str())) {
                return Some(format!("the scope \"{missing}\" is required"));
            }
        }
        None
    }
}

/// A claim holding names: an array of strings, or one space-separated string (OAuth 2.0
/// `scope`).
fn strings(claim: Option<&Value>) -> Vec<&str> {
    match claim {
        Some(Value::String(s)) => s.split_whitespace().collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

impl Gate for Guard {
    async fn admit(&self, request: Request<RequestBody>) -> Verdict {
        let Some(identity) = request.extensions().get::<Identity>() else {
            return Rejection::Forbidden {
                message: "the request carries no identity".into(),
            }
            .into();
        };
        match self.unmet(identity) {
            Some(message) => Rejection::Forbidden { message }.into(),
            None => Verdict::Pass(request, None),
        }
    }
}
