//! `type = "json_schema"`: the JSON body and/or the query parameters validated against
//! schemas compiled at load time; 415 for a body that is not JSON by its content type, 400
//! for malformed JSON, 413 past the size limit, 422 with the failing paths.

use http::header::CONTENT_TYPE;
use http::{Method, Request};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use jsonschema::Validator;
use serde_json::{Map, Value};
use tessera_manifest::{FileSetting, JsonSchemaSpec};

use super::gate::Verdict;
use super::{BuildError, RequestBody};
use crate::Rejection;

/// At most this many violations are listed in a 422.
const MAX_LISTED: usize = 10;

pub(crate) struct JsonSchema {
    body: Option<Validator>,
    query: Option<(Validator, Value)>,
    max: u64,
}

fn compile(file: &FileSetting) -> Result<(Validator, Value), BuildError> {
    let text = std::fs::read(&file.path)
        .map_err(|e| BuildError::file(file, format!("cannot be read: {e}")))?;
    let schema: Value = serde_json::from_slice(&text).map_err(|e| {
        BuildError::file(file, format!("is not valid JSON: {e}"))
            .with_fix("correct the schema file's JSON")
    })?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| {
        BuildError::file(
            file,
            format!("is not a valid JSON Schema: {e} at {}", e.instance_path()),
        )
        .with_fix("correct the schema (https://json-schema.org)")
    })?;
    Ok((validator, schema))
}

impl JsonSchema {
    pub(crate) fn build(spec: &JsonSchemaSpec) -> Result<Self, BuildError> {
        Ok(Self {
            body: spec
                .schema
                .as_ref()
                .map(compile)
                .transpose()?
                .map(|(v, _)| v),
            query: spec.query_schema.as_ref().map(compile).transpose()?,
            max: spec.max,
        })
    }

    /// Checks the query, then the body, which it reads whole and puts back. The one gate
    /// that waits (for the body), so it is not a [`super::gate::Gate`].
    pub(crate) async fn admit(&self, request: &mut Request<RequestBody>) -> Verdict {
        if let Some((validator, schema)) = &self.query {
            let query = query_object(request.uri().query().unwrap_or(""), schema);
            if let Some(rejection) = violations(validator, &query, "query") {
                return Err(rejection);
            }
        }
        let Some(validator) = &self.body else {
            return Ok(None);
        };
        // Methods that carry a body are always checked; others only when they send one.
        let expects_body = matches!(
            *request.method(),
            Method::POST | Method::PUT | Method::PATCH
        );
        if !expects_body && http_body::Body::is_end_stream(request.body()) {
            return Ok(None);
        }
        self.check_body(validator, request).await
    }

    async fn check_body(
        &self,
        validator: &Validator,
        request: &mut Request<RequestBody>,
    ) -> Verdict {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim().to_ascii_lowercase();
                v == "application/json" || v.ends_with("+json")
            });
        if is_json != Some(true) {
            return Err(Rejection::UnsupportedMediaType {
                message: "the body must be JSON (Content-Type: application/json)".into(),
            });
        }
        let body = std::mem::take(request.body_mut());
        let limit = usize::try_from(self.max).unwrap_or(usize::MAX);
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<LengthLimitError>() => {
                return Err(Rejection::PayloadTooLarge { limit: self.max });
            }
            Err(error) => {
                return Err(Rejection::InvalidJson {
                    message: format!("the body could not be read: {error}"),
                });
            }
        };
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|error| Rejection::InvalidJson {
                message: format!("the body is not valid JSON: {error}"),
            })?;
        if let Some(rejection) = violations(validator, &value, "") {
            return Err(rejection);
        }
        *request.body_mut() = Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync();
        Ok(None)
    }
}

/// A 422 listing what `value` violates, with JSON Pointer paths under `prefix`.
pub(crate) fn violations(validator: &Validator, value: &Value, prefix: &str) -> Option<Rejection> {
    let errors: Vec<(String, String)> = validator
        .iter_errors(value)
        .take(MAX_LISTED)
        .map(|e| (format!("{prefix}{}", e.instance_path()), e.to_string()))
        .collect();
    (!errors.is_empty()).then_some(Rejection::SchemaViolation { errors })
}

/// The query as a JSON object. Values are strings, except where the schema's
/// `properties.<name>.type` asks for a number, integer or boolean and the text is one; a
/// parameter given twice becomes an array.
pub(crate) fn query_object(query: &str, schema: &Value) -> Value {
    let mut object = Map::new();
    for (name, text) in form_urlencoded::parse(query.as_bytes()) {
        let wanted = schema
            .pointer(&format!(
                "/properties/{}/type",
                name.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(Value::as_str);
        let value = match wanted {
            Some("integer") => text.parse::<i64>().map(Value::from).ok(),
            Some("number") => text
                .parse::<f64>()
                .ok()
                .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number)),
            Some("boolean") => text.parse::<bool>().map(Value::Bool).ok(),
            _ => None,
        }
        .unwrap_or_else(|| Value::String(text.clone().into_owned()));
        match object.get_mut(name.as_ref()) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                object.insert(name.into_owned(), value);
            }
        }
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_follow_the_schema_types() {
        let schema = serde_json::json!({
            "properties": { "n": { "type": "integer" }, "ok": { "type": "boolean" } }
        });
        let object = query_object("n=12&ok=true&zip=01234&tag=a&tag=b", &schema);
        assert_eq!(
            object,
            serde_json::json!({ "n": 12, "ok": true, "zip": "01234", "tag": ["a", "b"] })
        );
    }
}
