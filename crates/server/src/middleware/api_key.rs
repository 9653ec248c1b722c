//! `type = "api_key"`: a key from a header or a query parameter, compared in constant time
//! with every configured key; 401 when missing or unknown. The key's name becomes the subject.

use std::borrow::Cow;

use http::{HeaderName, HeaderValue, Request};
use subtle::ConstantTimeEq;
use tessera_manifest::ApiKeySpec;

use super::RequestBody;
use super::gate::{Gate, Verdict};
use super::identity::Identity;
use crate::Rejection;

pub(crate) struct ApiKey {
    header: Option<HeaderName>,
    query: Option<String>,
    /// (key, the identity it establishes).
    keys: Vec<(Vec<u8>, Identity)>,
    challenge: HeaderValue,
}

impl ApiKey {
    pub(crate) fn build(spec: &ApiKeySpec, secret: impl Fn(&str) -> Option<String>) -> Self {
        let keys = spec
            .keys
            .iter()
            .map(|(name, setting)| {
                let value = secret(&setting.key).expect("middleware secrets were resolved");
                let identity = Identity::new("api_key", name, serde_json::json!({ "sub": name }))
                    .expect("API key names are manifest table keys, valid header text");
                (value.into_bytes(), identity)
            })
            .collect();
        let challenge = match (&spec.header, &spec.query) {
            (Some(header), _) => format!("ApiKey header=\"{header}\""),
            (None, Some(query)) => format!("ApiKey query=\"{query}\""),
            (None, None) => "ApiKey".to_string(),
        };
        Self {
            header: spec
                .header
                .as_deref()
                .map(|h| HeaderName::try_from(h).expect("the manifest checked the header name")),
            query: spec.query.clone(),
            keys,
            challenge: HeaderValue::try_from(challenge)
                .expect("header and parameter names are visible ASCII"),
        }
    }

    fn presented<'r>(&self, request: &'r Request<RequestBody>) -> Option<Cow<'r, [u8]>> {
        if let Some(header) = &self.header
            && let Some(value) = request.headers().get(header)
        {
            return Some(Cow::Borrowed(value.as_bytes()));
        }
        let name = self.query.as_deref()?;
        let query = request.uri().query()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| match v {
                Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
                Cow::Owned(text) => Cow::Owned(text.into_bytes()),
            })
    }

    /// The identity of the matching key. Every key is compared, so the time taken does not
    /// say which one (or how much of one) matched.
    fn find(&self, presented: &[u8]) -> Option<&Identity> {
        let mut found = None;
        for (key, identity) in &self.keys {
            if bool::from(key.as_slice().ct_eq(presented)) {
                found = Some(identity);
            }
        }
        found
    }
}

impl Gate for ApiKey {
    fn admit(&self, request: &mut Request<RequestBody>) -> Verdict {
        let Some(presented) = self.presented(request) else {
            return Err(Rejection::Unauthorized {
                challenge: self.challenge.clone(),
                message: "an API key is required".into(),
            });
        };
        let Some(identity) = self.find(&presented).cloned() else {
            return Err(Rejection::Unauthorized {
                challenge: self.challenge.clone(),
                message: "the API key is not valid".into(),
            });
        };
        identity.write_headers(request.headers_mut());
        request.extensions_mut().insert(identity);
        Ok(None)
    }
}
