//! Checking the middleware that limit or reshape traffic: `rate_limit`, `header_limit`,
//! `compression` and `json_schema`.

use super::super::{
    CompressionSpec, JsonSchemaSpec, MiddlewareKind, RateKey, RateLimitSpec, StoreSetting,
};
use crate::raw::RawMiddleware;

use super::settings::Settings;

impl Settings<'_, '_> {
    pub(super) fn rate_limit(&mut self, raw: &RawMiddleware) -> Option<RateLimitSpec> {
        let Some(requests) = &raw.requests else {
            self.missing("requests", "requests = 100");
            return None;
        };
        let requests = self.positive(requests, "requests")?;
        let per = self.required_duration(raw.per.as_ref(), "per", "per = \"1m\"")?;
        let burst = match &raw.burst {
            Some(burst) => self.positive(burst, "burst")?,
            None => requests,
        };
        let key = match raw.key.as_ref().map(|k| (k, k.get_ref().as_str())) {
            None | Some((_, "ip")) => RateKey::Ip,
            Some((_, "subject")) => RateKey::Subject,
            Some((value, other)) => {
                self.report(
                    "key",
                    Some(value),
                    format!("cannot rate-limit by \"{other}\""),
                    "use \"ip\" (the client's address) or \"subject\" (the JWT subject or API key name)",
                );
                return None;
            }
        };
        if per.checked_div(requests).is_none_or(|d| d.is_zero()) {
            self.report::<()>(
                "requests",
                None,
                format!("{requests} requests per {per:?} is finer than a nanosecond per request"),
                "use a longer `per` or fewer `requests`",
            );
            return None;
        }
        let store = raw.store.as_ref().map(|name| StoreSetting {
            name: name.get_ref().clone(),
            key: self.key("store"),
            line: self.checker.line(name),
        });
        Some(RateLimitSpec {
            requests,
            per,
            burst,
            key,
            store,
        })
    }

    pub(super) fn header_limit(&mut self, raw: &RawMiddleware) -> Option<MiddlewareKind> {
        if raw.max_count.is_none() && raw.max_size.is_none() {
            self.missing("max_size", "max_size = \"16KiB\"");
            return None;
        }
        let max_count = match &raw.max_count {
            Some(count) => Some(self.positive(count, "max_count")? as usize),
            None => None,
        };
        let max_size = match &raw.max_size {
            Some(size) => Some(self.size(size, "max_size")?),
            None => None,
        };
        Some(MiddlewareKind::HeaderLimit {
            max_count,
            max_size,
        })
    }

    pub(super) fn compression(&mut self, raw: &RawMiddleware) -> Option<CompressionSpec> {
        let (mut gzip, mut brotli) = (raw.algorithms.is_none(), raw.algorithms.is_none());
        for alg in raw.algorithms.iter().flatten() {
            match alg.get_ref().as_str() {
                "gzip" => gzip = true,
                "br" | "brotli" => brotli = true,
                other => {
                    self.report(
                        "algorithms",
                        Some(alg),
                        format!("unknown compression \"{other}\""),
                        "use \"gzip\" and/or \"br\"",
                    );
                    return None;
                }
            }
        }
        if !gzip && !brotli {
            self.report::<()>(
                "algorithms",
                None,
                "no compression is enabled",
                "list \"gzip\" and/or \"br\", or remove the middleware",
            );
            return None;
        }
        let min_size = match &raw.min_size {
            Some(size) => {
                let bytes = self.size(size, "min_size")?;
                match u16::try_from(bytes) {
                    Ok(n) => n,
                    Err(_) => {
                        self.report(
                            "min_size",
                            Some(size),
                            format!("{bytes} bytes is above the largest threshold, 65535 bytes"),
                            "use a threshold of at most 65535 bytes, such as \"32KiB\"",
                        );
                        return None;
                    }
                }
            }
            None => 256,
        };
        Some(CompressionSpec {
            gzip,
            brotli,
            min_size,
        })
    }

    pub(super) fn json_schema(&mut self, raw: &RawMiddleware) -> Option<JsonSchemaSpec> {
        if raw.schema.is_none() && raw.query_schema.is_none() {
            self.missing("schema", "schema = \"schemas/body.json\"");
            return None;
        }
        let schema = match &raw.schema {
            Some(file) => Some(self.file(file, "schema")?),
            None => None,
        };
        let query_schema = match &raw.query_schema {
            Some(file) => Some(self.file(file, "query_schema")?),
            None => None,
        };
        let max = match &raw.max {
            Some(max) => self.size(max, "max")?,
            None => 1024 * 1024,
        };
        Some(JsonSchemaSpec {
            schema,
            query_schema,
            max,
        })
    }
}
