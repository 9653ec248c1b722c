//! `type = "jwt"`: a bearer token verified with jsonwebtoken (HMAC secret, PEM public key or
//! JWKS), its `exp`, `nbf`, `iss` and `aud` checked with leeway; 401 with `WWW-Authenticate`.
//!
//! Clients send the same token with many requests, so a verified token is remembered by its
//! exact text: the next request with it skips the signature and the JSON and only has its
//! `exp` and `nbf` checked again against the clock. This is as strict as verifying again:
//! the key and the rules of a step never change while it exists, and a token with one byte
//! changed is a different entry. Only tokens that passed are remembered, so forged ones
//! cannot crowd out good ones. See docs/middleware.md for what it saves.

use quick_cache::Weighter;
use quick_cache::sync::Cache;

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
    verified: Cache<String, Verified, TokenWeight>,
}

/// A token that passed, with what its next use must check again.
#[derive(Clone)]
struct Verified {
    identity: Identity,
    exp: Option<u64>,
    nbf: Option<u64>,
}

/// Bytes the verified-token cache may hold (tokens, claims and their header value).
const VERIFIED_BYTES: u64 = 4 << 20;

/// What a remembered token weighs: its text, its claims (in the header value and parsed) and
/// bookkeeping.
#[derive(Clone)]
struct TokenWeight;

impl Weighter<String, Verified> for TokenWeight {
    fn weight(&self, token: &String, verified: &Verified) -> u64 {
        let claims = verified.identity.claims_len();
        (token.len() + 2 * claims + 256) as u64
    }
}

pub(crate) enum Keys {
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
                key_set(&text).map_err(|BadKeySet { problem, fix }| {
                    let error = BuildError::file(file, problem);
                    match fix {
                        Some(fix) => error.with_fix(fix),
                        None => error,
                    }
                })?
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
            verified: Cache::with_weighter(4096, VERIFIED_BYTES, TokenWeight),
        })
    }

    /// A step in the `authorization` header with `keys` for `algorithms`, no leeway and no
    /// issuer or audience required (the fuzz targets' and the unit tests').
    pub(crate) fn with_keys(keys: Keys, algorithms: Vec<Algorithm>) -> Self {
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.leeway = 0;
        validation.validate_nbf = true;
        Self {
            header: http::header::AUTHORIZATION,
            keys,
            validation,
            realm: "test".into(),
            verified: Cache::with_weighter(16, VERIFIED_BYTES, TokenWeight),
        }
    }

    /// Who `token` says the client is, from the cache when the token passed before.
    fn identity(&self, token: &str) -> Result<Identity, String> {
        self.identity_at(token, jsonwebtoken::get_current_timestamp())
    }

    /// [`Self::identity`] at `now` (seconds since the epoch) for a remembered token; a token
    /// verified afresh is checked against the real clock.
    fn identity_at(&self, token: &str, now: u64) -> Result<Identity, String> {
        if let Some(known) = self.verified.get(token) {
            return match self.recheck(&known, now) {
                Ok(()) => Ok(known.identity),
                Err(reason) => {
                    self.verified.remove(token);
                    Err(reason)
                }
            };
        }
        let claims = self.verify(token)?;
        let time = |name: &str| match claims.get(name) {
            None => Some(None),
            Some(value) => value.as_u64().map(Some),
        };
        // A time claim that is not a whole number is checked by jsonwebtoken's rules each time.
        let times = time("exp").zip(time("nbf"));
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let identity = Identity::new("jwt", &subject, claims)
            .map_err(|_| "the token's subject contains characters a header cannot carry")?;
        if let Some((exp, nbf)) = times {
            let verified = Verified {
                identity: identity.clone(),
                exp,
                nbf,
            };
            self.verified.insert(token.to_string(), verified);
        }
        Ok(identity)
    }

    /// The time checks of [`Validation`] again, for a token that passed them before; the
    /// reasons are [`describe`]'s.
    fn recheck(&self, known: &Verified, now: u64) -> Result<(), String> {
        let v = &self.validation;
        if v.validate_exp
            && known.exp.is_some_and(|exp| {
                exp.saturating_sub(v.reject_tokens_expiring_in_less_than)
                    < now.saturating_sub(v.leeway)
            })
        {
            return Err("the token has expired".into());
        }
        if v.validate_nbf && known.nbf.is_some_and(|nbf| nbf > now + v.leeway) {
            return Err("the token is not valid yet (nbf)".into());
        }
        Ok(())
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

/// What is wrong with a JSON Web Key Set, and a fix when there is one to give.
pub(crate) struct BadKeySet {
    pub(crate) problem: String,
    pub(crate) fix: Option<&'static str>,
}

/// The keys of a JSON Web Key Set (a `jwks_file`'s text), each with its `kid`, and the
/// algorithms they imply.
pub(crate) fn key_set(text: &[u8]) -> Result<(Keys, Vec<Algorithm>), BadKeySet> {
    let bad = |problem: String, fix| BadKeySet { problem, fix };
    let set: JwkSet = serde_json::from_slice(text).map_err(|e| {
        bad(
            format!("is not a JSON Web Key Set: {e}"),
            Some("give a file of the form {\"keys\": [{\"kty\": ..., \"kid\": ...}]}"),
        )
    })?;
    if set.keys.is_empty() {
        return Err(bad(
            "has no keys".into(),
            Some("add the issuer's public keys"),
        ));
    }
    let mut keys = Vec::new();
    let mut algorithms = Vec::new();
    for jwk in &set.keys {
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| bad(format!("has a key that cannot be used: {e}"), None))?;
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
    Ok((Keys::Set(keys), algorithms))
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
    fn admit(&self, request: &mut Request<RequestBody>) -> Verdict {
        let token = request
            .headers()
            .get(&self.header)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        let Some(token) = token else {
            return Err(Rejection::Unauthorized {
                challenge: self.challenge(None),
                message: format!("a bearer token is required in the {} header", self.header),
            });
        };
        let identity = self
            .identity(token)
            .map_err(|reason| Rejection::Unauthorized {
                challenge: self.challenge(Some(&reason)),
                message: reason,
            })?;
        identity.write_headers(request.headers_mut());
        request.extensions_mut().insert(identity);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"a test secret that is long enough";

    fn step() -> Jwt {
        Jwt::with_keys(
            Keys::One(DecodingKey::from_secret(SECRET)),
            vec![Algorithm::HS256],
        )
    }

    fn sign(claims: &Value) -> String {
        jsonwebtoken::encode(
            &Header::default(),
            claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let jwt = step();
        let now = jsonwebtoken::get_current_timestamp();
        let token = sign(&json!({ "sub": "alice", "exp": now + 100 }));
        assert_eq!(&**jwt.identity(&token).unwrap().subject(), "alice");
        assert!(jwt.verified.get(token.as_str()).is_some(), "remembered");
        assert!(jwt.identity_at(&token, now + 50).is_ok());
        let later = jwt.identity_at(&token, now + 101).unwrap_err();
        assert!(later.contains("expired"), "{later}");
        assert!(jwt.verified.get(token.as_str()).is_none(), "forgotten");
        // Verified afresh against the real clock, it passes again.
        assert!(jwt.identity(&token).is_ok());
    }

    #[test]
    fn only_tokens_that_pass_are_remembered() {
        let jwt = step();
        let now = jsonwebtoken::get_current_timestamp();
        let early = sign(&json!({ "sub": "bob", "exp": now + 100, "nbf": now + 50 }));
        assert!(jwt.identity(&early).unwrap_err().contains("not valid yet"));
        let mut forged = sign(&json!({ "sub": "eve", "exp": now + 100 }));
        forged.push('x');
        assert!(jwt.identity(&forged).is_err());
        assert_eq!(jwt.verified.len(), 0);
    }
}
