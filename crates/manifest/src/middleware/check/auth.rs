//! Checking the authentication middleware: `jwt`, `api_key` and `guard`.

use std::collections::BTreeMap;

use super::super::{ApiKeySpec, GuardSpec, JWT_ALGORITHMS, JwtKey, JwtSpec};
use crate::raw::RawMiddleware;

use super::settings::Settings;

impl Settings<'_, '_> {
    pub(super) fn jwt(&mut self, raw: &RawMiddleware) -> Option<JwtSpec> {
        let sources = [
            raw.secret.as_ref().map(|_| "secret"),
            raw.public_key_file.as_ref().map(|_| "public_key_file"),
            raw.jwks_file.as_ref().map(|_| "jwks_file"),
        ];
        let given: Vec<&str> = sources.into_iter().flatten().collect();
        if given.len() != 1 {
            let problem = if given.is_empty() {
                "a jwt middleware needs a key to verify tokens with".to_string()
            } else {
                format!(
                    "{} are given; tokens are verified with exactly one",
                    given.join(" and ")
                )
            };
            self.report::<()>(
                given.first().copied().unwrap_or("secret"),
                None,
                problem,
                "set one of `secret = \"{{ secret.jwt_key }}\"` (HS256/384/512), `public_key_file = \"key.pem\"` or `jwks_file = \"jwks.json\"`",
            );
            return None;
        }
        let key = if let Some(secret) = &raw.secret {
            JwtKey::Secret(self.secret(secret, self.key("secret"))?)
        } else if let Some(file) = &raw.public_key_file {
            JwtKey::PublicKeyFile(self.file(file, "public_key_file")?)
        } else {
            let file = raw
                .jwks_file
                .as_ref()
                .expect("exactly one key source is set");
            JwtKey::JwksFile(self.file(file, "jwks_file")?)
        };
        let mut algorithms = Vec::new();
        for alg in raw.algorithms.iter().flatten() {
            let name = alg.get_ref();
            let Some(known) = JWT_ALGORITHMS.iter().find(|a| a.eq_ignore_ascii_case(name)) else {
                self.report(
                    "algorithms",
                    Some(alg),
                    format!("unknown JWT algorithm \"{name}\""),
                    format!("use one of: {}", JWT_ALGORITHMS.join(", ")),
                );
                return None;
            };
            let hmac = known.starts_with("HS");
            if hmac != matches!(key, JwtKey::Secret(_)) {
                let (problem, fix) = if hmac {
                    (
                        format!(
                            "{known} needs a shared `secret`, but this middleware verifies with a public key"
                        ),
                        "use RS256, ES256 or another public-key algorithm, or verify with `secret`",
                    )
                } else {
                    (
                        format!(
                            "{known} needs a public key, but this middleware verifies with a shared `secret`"
                        ),
                        "use HS256, HS384 or HS512, or verify with `public_key_file` or `jwks_file`",
                    )
                };
                self.report("algorithms", Some(alg), problem, fix);
                return None;
            }
            algorithms.push((*known).to_string());
        }
        if raw.algorithms.as_ref().is_some_and(Vec::is_empty) {
            self.report::<()>(
                "algorithms",
                None,
                "the list of algorithms is empty",
                "list at least one, such as [\"HS256\"], or remove the key",
            );
            return None;
        }
        let leeway = match &raw.leeway {
            Some(value) => self.duration(value, "leeway")?,
            None => std::time::Duration::from_secs(60),
        };
        Some(JwtSpec {
            algorithms,
            key,
            issuer: self.one_or_many(raw.issuer.as_ref(), "issuer"),
            audience: self.one_or_many(raw.audience.as_ref(), "audience"),
            leeway,
            header: self.header_name(raw.header.as_ref(), "authorization")?,
        })
    }

    pub(super) fn api_key(&mut self, raw: &RawMiddleware) -> Option<ApiKeySpec> {
        let header = match (&raw.header, &raw.query) {
            (None, None) => Some("x-api-key".to_string()),
            (header, _) => match header {
                Some(_) => Some(self.header_name(raw.header.as_ref(), "x-api-key")?),
                None => None,
            },
        };
        let Some(keys) = raw.keys.as_ref().filter(|k| !k.is_empty()) else {
            self.missing(
                "keys",
                "keys = { my_client = \"{{ secret.my_client_key }}\" }",
            );
            return None;
        };
        let mut out = Vec::new();
        for (name, value) in keys {
            let key = self.key(&format!("keys.{name}"));
            out.push((name.clone(), self.secret(value, key)?));
        }
        Some(ApiKeySpec {
            header,
            query: raw.query.as_ref().map(|q| q.get_ref().clone()),
            keys: out,
        })
    }

    pub(super) fn guard(&mut self, raw: &RawMiddleware) -> Option<GuardSpec> {
        let spec = GuardSpec {
            claims: raw
                .claims
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect::<BTreeMap<_, _>>(),
            roles: Self::strings(raw.roles.as_ref()),
            roles_claim: raw
                .roles_claim
                .as_ref()
                .map_or_else(|| "roles".to_string(), |c| c.get_ref().clone()),
            scopes: Self::strings(raw.scopes.as_ref()),
            subjects: Self::strings(raw.subjects.as_ref()),
        };
        if spec.claims.is_empty()
            && spec.roles.is_empty()
            && spec.scopes.is_empty()
            && spec.subjects.is_empty()
        {
            self.report::<()>(
                "type",
                None,
                "this guard requires nothing, so it would let every client through",
                "add `roles = [...]`, `scopes = [...]`, `subjects = [...]` or `claims = { ... }`",
            );
            return None;
        }
        Some(spec)
    }
}
