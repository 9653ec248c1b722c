//! Edge: `POST /api/transform`, JSON reshaped by a declared mapping, kept in the `mapping`
//! variable (so that it changes without a rebuild: `TESSERA_VAR_MAPPING`). The body is an
//! object, or an array of objects each transformed.
//!
//! The mapping is JSON:
//!
//! ```json
//! {"fields": [{"from": "user.firstName", "to": "first_name", "case": "lower"},
//!             {"from": "age", "to": "age", "type": "number", "default": 0}],
//!  "keep_unmapped": false}
//! ```
//!
//! Each field reads `from` (a dotted path into the input) and writes `to` (renaming); only the
//! listed fields are kept (picking) unless `keep_unmapped`; a missing or null value takes
//! `default` if given (else the field is left out); `case` lower- or upper-cases a string;
//! `type: "number"` turns a numeric string into a number (422 for one that is not), and
//! `"string"` a number into a string. A mapping that does not parse is the host's 500 with
//! the reason in the log.

use serde::Deserialize;
use serde_json::{Map, Value};
use tessera_sdk::{Error, Request, Response, Result, variables};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Mapping {
    fields: Vec<Field>,
    #[serde(default)]
    keep_unmapped: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Field {
    from: String,
    to: String,
    default: Option<Value>,
    case: Option<Case>,
    #[serde(rename = "type")]
    kind: Option<Kind>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Case {
    Lower,
    Upper,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Number,
    String,
}

fn handle(mut request: Request) -> Result<Response> {
    let text = variables::get("mapping")?;
    let mapping: Mapping = serde_json::from_str(&text).map_err(|e| {
        Error::internal(format!("the mapping variable is not a valid mapping: {e}"))
    })?;
    let input: Value = request.json()?;
    let output = match input {
        Value::Object(object) => Value::Object(transform(&mapping, &object, "")?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(object) => {
                        transform(&mapping, object, &format!("[{i}]")).map(Value::Object)
                    }
                    _ => Err(Error::bad_request(format!("item {i} is not an object"))),
                })
                .collect::<Result<_>>()?,
        ),
        _ => {
            return Err(Error::bad_request(
                "send a JSON object, or an array of objects",
            ));
        }
    };
    Response::json(&output)
}

/// The value at a dotted path.
fn lookup<'a>(object: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = object.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn transform(
    mapping: &Mapping,
    input: &Map<String, Value>,
    at: &str,
) -> Result<Map<String, Value>> {
    let mut output = if mapping.keep_unmapped {
        let mut kept = input.clone();
        for field in &mapping.fields {
            kept.remove(field.from.split('.').next().unwrap_or_default());
        }
        kept
    } else {
        Map::new()
    };
    for field in &mapping.fields {
        let value = match lookup(input, &field.from) {
            Some(Value::Null) | None => match &field.default {
                Some(default) => default.clone(),
                None => continue,
            },
            Some(value) => value.clone(),
        };
        let value = match (field.case, value) {
            (Some(Case::Lower), Value::String(s)) => Value::String(s.to_lowercase()),
            (Some(Case::Upper), Value::String(s)) => Value::String(s.to_uppercase()),
            (_, value) => value,
        };
        let value = match (field.kind, value) {
            (Some(Kind::Number), Value::String(s)) => {
                let number: serde_json::Number = s.trim().parse().map_err(|_| {
                    Error::unprocessable(format!("{at}{}: {s:?} is not a number", field.from))
                })?;
                Value::Number(number)
            }
            (Some(Kind::Number), value @ Value::Number(_)) => value,
            (Some(Kind::Number), other) => {
                return Err(Error::unprocessable(format!(
                    "{at}{}: {other} is not a number",
                    field.from
                )));
            }
            (Some(Kind::String), Value::Number(n)) => Value::String(n.to_string()),
            (_, value) => value,
        };
        output.insert(field.to.clone(), value);
    }
    Ok(output)
}

tessera_sdk::http_component!(handle);
