//! Who the client is, as an authentication step established it: kept in the request's
//! extensions for later steps (`guard`, per-subject `rate_limit`) and passed to the guest in
//! reserved headers, which the host strips from client requests so they cannot be forged.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

/// How the client authenticated: `jwt`, `api_key`, or `wasm` (a middleware component).
pub const AUTH_METHOD_HEADER: HeaderName = HeaderName::from_static("tessera-auth-method");
/// The authenticated subject: a JWT's `sub`, or the name of the API key.
pub const AUTH_SUBJECT_HEADER: HeaderName = HeaderName::from_static("tessera-auth-subject");
/// The verified claims, as JSON (non-ASCII characters escaped as `\uXXXX`).
pub const AUTH_CLAIMS_HEADER: HeaderName = HeaderName::from_static("tessera-auth-claims");

/// An authenticated client.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `jwt`, `api_key` or `wasm`.
    pub method: &'static str,
    /// The subject.
    pub subject: String,
    /// The claims (a JSON object).
    pub claims: Arc<Value>,
}

impl Identity {
    /// Writes the identity headers. Fails if the subject cannot be a header value.
    pub(crate) fn write_headers(&self, headers: &mut HeaderMap) -> Result<(), String> {
        let subject = HeaderValue::from_str(&self.subject).map_err(|_| {
            "the token's subject contains characters a header cannot carry".to_string()
        })?;
        headers.insert(AUTH_METHOD_HEADER, HeaderValue::from_static(self.method));
        headers.insert(AUTH_SUBJECT_HEADER, subject);
        let claims = ascii_json(&self.claims);
        headers.insert(
            AUTH_CLAIMS_HEADER,
            HeaderValue::try_from(claims)
                .expect("ASCII JSON without control characters is a header value"),
        );
        Ok(())
    }

    /// The identity a middleware component passed on in the identity headers, if any.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let subject = headers.get(AUTH_SUBJECT_HEADER)?.to_str().ok()?.to_string();
        let claims = headers
            .get(AUTH_CLAIMS_HEADER)
            .and_then(|v| serde_json::from_slice(v.as_bytes()).ok())
            .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
        Some(Self {
            method: "wasm",
            subject,
            claims: Arc::new(claims),
        })
    }

    /// A claim by name.
    pub(crate) fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }
}

/// JSON with every non-ASCII character escaped, so that it fits in a header value.
/// (serde_json escapes control characters already.)
fn ascii_json(value: &Value) -> String {
    let text = value.to_string();
    if text.is_ascii() {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_ascii_and_round_trip() {
        let claims = serde_json::json!({ "name": "Zoë 🦀", "n": 1 });
        let text = ascii_json(&claims);
        assert!(text.is_ascii(), "{text}");
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), claims);
    }
}
