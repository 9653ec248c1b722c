//! `type = "jwt"`: a bearer token verified with jsonwebtoken (HMAC secret, PEM public key or
//! JWKS), its `exp`, `nbf`, `iss` and `aud` checked with leeway; 401 with `WWW-Authenticate`.

use std::sync::Arc;

use http::{HeaderName, HeaderValue, Request};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tessera_manifest::{JwtKey, JwtSpec, MiddlewareSpec};

use super::gate::{Gate, Verdict};
use super::identity::Identity;
use super::{BuildError, RequestBody};
use crate::Rejection;

pub(crate) struct Jwt {
    header: HeaderName,
    keys: Keys,
    validation: Validation,
    realm: String,
}

enum Keys {
    One(DecodingKey),
    /// From a JWKS file: by `kid`.
    Set(Vec<(Option<String>, DecodingKey)>),
}

impl Jwt {
    pub(crate) fn build(
        spec: &MiddlewareSpec,
        jwt: &JwtSpec,
        secret: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, BuildError> {
        let (keys, default_algorithms) = match &jwt.key {
            JwtKey::Secret(setting) => {
                let value = secret(&setting.key).expect("middleware secrets were resolved");
                (
                    Keys::One(DecodingKey::from_secret(value.as_bytes())),
                    vec![Algorithm::HS256],
                )
            }
            JwtKey::PublicKeyFile(file) => {
                let pem = std::fs::read(&file.path)
                    .map_err(|e| BuildError::file(file, format!("cannot be read: {e}")))?;
                let parsed = DecodingKey::from_rsa_pem(&pem)
                    .map(|k| (k, Algorithm::RS256))
                    .or_else(|_| DecodingKey::from_ec_pem(&pem).map(|k| (k, Algorithm::ES256)))
                    .or_else(|_| DecodingKey::from_ed_pem(&pem).map(|k| (k, Algorithm::EdDSA)))
                    .map_err(|_| {
                        BuildError::file(file, "is not a PEM public key (RSA, EC or Ed25519)").with_fix(
                            "export the public key in PEM (\"-----BEGIN PUBLIC KEY-----\"), e.g. `openssl pkey -in private.pem -pubout`",
                        )
                    })?;
                (Keys::One(parsed.0), vec![parsed.1])
            }
            JwtKey::JwksFile(file) => {
                let text = std::fs::read(&file.path)
                    .map_err(|e| BuildError::file(file, format!("cannot be read: {e}")))?;
                let set: JwkSet = serde_json::from_slice(&text).map_err(|e| {
                    BuildError::file(file, format!("is not a JSON Web Key Set: {e}")).with_fix(
                        "give a file of the form {\"keys\": [{\"kty\": ..., \"kid\": ...}]}",
                    )
                })?;
                if set.keys.is_empty() {
                    return Err(BuildError::file(file, "has no keys")
                        .with_fix("add the issuer's public keys"));
                }
                let mut keys = Vec::new();
                let mut algorithms = Vec::new();
                for jwk in &set.keys {
                    let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                        BuildError::file(file, format!("has a key that cannot be used: {e}"))
                    })?;
                    let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                        (Some(alg), _) => alg.to_string().parse::<Algorithm>().ok(),
                        (None, AlgorithmParameters::RSA(_)) => Some(Algorithm::RS256),
                        (None, AlgorithmParameters::EllipticCurve(ec)) => Some(match ec.curve {
                            EllipticCurve::P384 => Algorithm::ES384,
                            _ => Algorithm::ES256,
                        }),
                        (None, AlgorithmParameters::OctetKeyPair(_)) => Some(Algorithm::EdDSA),
                        (None, AlgorithmParameters::OctetKey(_)) => Some(Algorithm::HS256),
                        (None, _) => None,
                    };
                    if let Some(a) = algorithm
                        && !algorithms.contains(&a)
                    {
                        algorithms.push(a);
                    }
                    keys.push((jwk.common.key_id.clone(), key));
                }
                (Keys::Set(keys), algorithms)
            }
        };
        let algorithms = if jwt.algorithms.is_empty() {
            default_algorithms
        } else {
            jwt.algorithms
                .iter()
                .map(|a| {
                    a.parse::<Algorithm>()
                        .expect("the manifest checked algorithm names")
                })
                .collect()
        };
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.leeway = jwt.leeway.as_secs();
        validation.validate_nbf = true;
        if jwt.issuer.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&jwt.issuer);
        }
        if jwt.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&jwt.audience);
        }
        Ok(Self {
            header: HeaderName::try_from(jwt.header.as_str())
                .expect("the manifest checked the header name"),
            keys,
            validation,
            realm: spec.name.clone(),
        })
    }

    fn verify(&self, token: &str) -> Result<Value, String> {
        let key = match &self.keys {
            Keys::One(key) => key,
            Keys::Set(keys) => {
                let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
                let found = match &header.kid {
                    Some(kid) => keys.iter().find(|(id, _)| id.as_deref() == Some(kid)),
                    None if keys.len() == 1 => keys.first(),
                    None => None,
                };
                &found
                    .ok_or("no key in the key set matches the token's kid")?
                    .1
            }
        };
        jsonwebtoken::decode::<Value>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| describe(&e))
    }

    fn challenge(&self, error: Option<&str>) -> HeaderValue {
        let text = match error {
            None => format!("Bearer realm=\"{}\"", self.realm),
            Some(description) => format!(
                "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"{}\"",
                self.realm,
                description.replace(['"', '\\'], "'")
            ),
        };
        HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

/// The reason, in words a client developer can act on.
fn describe(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted".into(),
        ErrorKind::InvalidAudience => "the token's audience is not accepted".into(),
        ErrorKind::InvalidSignature => "the token's signature is invalid".into(),
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        _ => format!("the token is malformed: {error}"),
    }
}

impl Gate for Jwt {
    async fn admit(&self, mut request: Request<RequestBody>) -> Verdict {
        let token = request
            .headers()
            .get(&self.header)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        let Some(token) = token else {
            return Rejection::Unauthorized {
                challenge: self.challenge(None),
                message: format!("a bearer token is required in the {} header", self.header),
            }
            .into();
        };
        let claims = match self.verify(token) {
            Ok(claims) => claims,
            Err(reason) => {
                return Rejection::Unauthorized {
                    challenge: self.challenge(Some(&reason)),
                    message: reason,
                }
                .into();
            }
        };
        let identity = Identity {
            method: "jwt",
            subject: claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            claims: Arc::new(claims),
        };
        if let Err(reason) = identity.write_headers(request.headers_mut()) {
            return Rejection::Unauthorized {
                challenge: self.challenge(Some(&reason)),
                message: reason,
            }
            .into();
        }
        request.extensions_mut().insert(identity);
        Verdict::Pass(request, None)
    }
}
