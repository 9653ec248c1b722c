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
/// The verified claims, as JSON, with every non-ASCII character written as a `\u` escape.
pub const AUTH_CLAIMS_HEADER: HeaderName = HeaderName::from_static("tessera-auth-claims");

/// An authenticated client. Cheap to clone: steps built at load time (an API key) or cached
/// (a verified token) hand out the same identity, header values included, to every request.
#[derive(Debug, Clone)]
pub struct Identity(Arc<Established>);

#[derive(Debug)]
struct Established {
    method: &'static str,
    subject: Arc<str>,
    claims: Value,
    /// The subject and claims as header values, made once.
    subject_header: HeaderValue,
    claims_header: HeaderValue,
}

impl Identity {
    /// An identity established by `method` (`jwt`, `api_key` or `wasm`). Fails if the
    /// subject cannot be a header value.
    pub(crate) fn new(method: &'static str, subject: &str, claims: Value) -> Result<Self, String> {
        let subject_header = HeaderValue::from_str(subject)
            .map_err(|_| "the subject contains characters a header cannot carry".to_string())?;
        let claims_header = HeaderValue::try_from(ascii_json(&claims))
            .expect("ASCII JSON without control characters is a header value");
        Ok(Self(Arc::new(Established {
            method,
            subject: subject.into(),
            claims,
            subject_header,
            claims_header,
        })))
    }

    /// How the client authenticated: `jwt`, `api_key` or `wasm`.
    pub fn method(&self) -> &'static str {
        self.0.method
    }

    /// The subject.
    pub fn subject(&self) -> &Arc<str> {
        &self.0.subject
    }

    /// The claims (a JSON object).
    pub fn claims(&self) -> &Value {
        &self.0.claims
    }

    /// The size of the claims as a header value.
    pub(crate) fn claims_len(&self) -> usize {
        self.0.claims_header.len()
    }

    /// A claim by name.
    pub(crate) fn claim(&self, name: &str) -> Option<&Value> {
        self.0.claims.get(name)
    }

    /// Writes the identity headers (replacing any already there).
    pub(crate) fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(AUTH_METHOD_HEADER, HeaderValue::from_static(self.0.method));
        headers.insert(AUTH_SUBJECT_HEADER, self.0.subject_header.clone());
        headers.insert(AUTH_CLAIMS_HEADER, self.0.claims_header.clone());
    }

    /// The identity a middleware component passed on in the identity headers, if any.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let subject = headers.get(AUTH_SUBJECT_HEADER)?.to_str().ok()?;
        let claims = headers
            .get(AUTH_CLAIMS_HEADER)
            .and_then(|v| serde_json::from_slice(v.as_bytes()).ok())
            .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
        Self::new("wasm", subject, claims).ok()
    }
}

/// JSON with every non-ASCII character, and DEL, escaped, so that it fits in a header value.
/// (serde_json escapes the other control characters already; DEL it leaves as it is, and a
/// claim holding one made the header value invalid: found by the `jwt` fuzz target.)
fn ascii_json(value: &Value) -> String {
    let fits = |c: char| c.is_ascii() && c != '\x7f';
    let text = value.to_string();
    if text.chars().all(fits) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if fits(c) {
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

    #[test]
    fn claims_with_control_characters_fit_a_header() {
        let claims = serde_json::json!({ "del": "\u{7f}", "nul": "\u{0}", "tab": "\t" });
        let identity = Identity::new("jwt", "a", claims.clone()).expect("an identity");
        let mut headers = HeaderMap::new();
        identity.write_headers(&mut headers);
        let passed: Value =
            serde_json::from_slice(headers[&AUTH_CLAIMS_HEADER].as_bytes()).unwrap();
        assert_eq!(passed, claims);
    }
}
