//! Checking a `cors` middleware: origins, methods and headers, and what browsers refuse.

use super::super::CorsSpec;
use crate::raw::RawMiddleware;

use super::settings::Settings;

impl Settings<'_, '_> {
    pub(super) fn cors(&mut self, raw: &RawMiddleware) -> Option<CorsSpec> {
        let spec = CorsSpec {
            allow_origins: Self::strings(raw.allow_origins.as_ref()),
            allow_methods: Self::strings(raw.allow_methods.as_ref()),
            allow_headers: Self::strings(raw.allow_headers.as_ref()),
            expose_headers: Self::strings(raw.expose_headers.as_ref()),
            allow_credentials: raw.allow_credentials.as_ref().is_some_and(|c| *c.get_ref()),
            max_age: match &raw.max_age {
                Some(value) => Some(self.duration(value, "max_age")?),
                None => None,
            },
        };
        if spec.allow_origins.is_empty() {
            self.missing(
                "allow_origins",
                "allow_origins = [\"https://app.example.com\"]",
            );
            return None;
        }
        for origin in raw.allow_origins.iter().flatten() {
            let text = origin.get_ref();
            let ok = text == "*"
                || (text.starts_with("http://") || text.starts_with("https://"))
                    && !text.ends_with('/')
                    && http::HeaderValue::from_str(text).is_ok();
            if !ok {
                self.report(
                    "allow_origins",
                    Some(origin),
                    format!("\"{text}\" is not an origin"),
                    "write scheme://host[:port] with no path or trailing slash, or \"*\"",
                );
                return None;
            }
        }
        for (setting, list) in [
            ("allow_methods", &raw.allow_methods),
            ("allow_headers", &raw.allow_headers),
            ("expose_headers", &raw.expose_headers),
        ] {
            for item in list.iter().flatten() {
                let text = item.get_ref();
                let valid = text == "*"
                    || if setting == "allow_methods" {
                        http::Method::from_bytes(text.as_bytes()).is_ok()
                    } else {
                        http::HeaderName::from_bytes(text.to_ascii_lowercase().as_bytes()).is_ok()
                    };
                if !valid {
                    self.report(
                        setting,
                        Some(item),
                        format!("\"{text}\" is not valid here"),
                        "list HTTP methods or header names, or \"*\"",
                    );
                    return None;
                }
            }
        }
        let wildcard = |list: &[String]| list.iter().any(|s| s == "*");
        if spec.allow_credentials {
            for (setting, list) in [
                ("allow_origins", &spec.allow_origins),
                ("allow_methods", &spec.allow_methods),
                ("allow_headers", &spec.allow_headers),
                ("expose_headers", &spec.expose_headers),
            ] {
                if wildcard(list) {
                    let at = raw.allow_credentials.as_ref();
                    self.report(
                        setting,
                        at,
                        format!("\"*\" in `{setting}` cannot be combined with `allow_credentials = true` (browsers reject it)"),
                        format!("list the allowed values in `{setting}`, or drop `allow_credentials`"),
                    );
                    return None;
                }
            }
        }
        for (setting, list) in [
            ("allow_origins", &spec.allow_origins),
            ("allow_methods", &spec.allow_methods),
            ("allow_headers", &spec.allow_headers),
            ("expose_headers", &spec.expose_headers),
        ] {
            if wildcard(list) && list.len() > 1 {
                self.report::<()>(
                    setting,
                    None,
                    "\"*\" is listed together with other values",
                    "use either \"*\" alone or a list of values",
                );
                return None;
            }
        }
        Some(spec)
    }
}
