//! Request objects (OIDC Core 6, RFC 9101): authorization request parameters inside a JWT,
//! by value (`request`) or by reference (`request_uri`, fetched by the web layer). Signed objects
//! (RS256, PS256, ES256 with the client's registered keys) must name the client as `iss` and
//! this provider as `aud`; unsigned ones are refused unless the operator allows them. The
//! object's parameters replace the query's; a query parameter that contradicts the object, an
//! expired object or a bad signature is `invalid_request_object`.
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::model::Client;
use crate::oidc::authorize::AuthorizeError;
use crate::oidc::authorize::request::redirect_target;
use crate::oidc::error::{ErrorKind, OAuthError, ProviderResult};
use crate::oidc::jws;
use crate::oidc::params::Params;
use crate::provider::Provider;

fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorKind::InvalidRequestObject, description)
}

/// Claims that describe the JWT itself, not the request.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];

/// Verify `object` for `client` and merge it over `params` (without `request`/`request_uri`).
/// `jwks`: the client's keys, when it has any.
pub fn resolve(
    params: &Params,
    object: &str,
    client: &Client,
    jwks: Option<&Value>,
    issuer: &str,
    allow_unsigned: bool,
    now: DateTime<Utc>,
) -> Result<Params, OAuthError> {
    let alg = jws::alg(object).ok_or_else(|| invalid("the request object is not a JWT"))?;
    let claims = if alg == "none" {
        if !allow_unsigned {
            return Err(invalid("unsigned request objects are not accepted"));
        }
        jws::unsecured_claims(object).ok_or_else(|| invalid("the request object is malformed"))?
    } else {
        verify_signed(object, &alg, client, jwks, issuer)?
    };
    check_times(&claims, now)?;
    merge(params, claims)
}

/// RFC 9101 4: a signed object verifies with the client's keys and names its client (`iss`)
/// and this provider (`aud`).
fn verify_signed(
    object: &str,
    alg: &str,
    client: &Client,
    jwks: Option<&Value>,
    issuer: &str,
) -> Result<Map<String, Value>, OAuthError> {
    if !jws::CLIENT_ALGS.contains(&alg) {
        return Err(invalid("the request object's algorithm is not supported"));
    }
    let jwks = jwks
        .ok_or_else(|| invalid("the client has no registered keys to verify the request object"))?;
    let claims = jws::verify(object, jwks)
        .ok_or_else(|| invalid("the request object's signature does not verify"))?;
    if claims.get("iss").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err(invalid("the request object's iss is not the client"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == issuer,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid("the request object's aud is not this provider"));
    }
    Ok(claims)
}

/// `exp` in the future, `nbf` not later than a minute from now (clock skew).
fn check_times(claims: &Map<String, Value>, now: DateTime<Utc>) -> Result<(), OAuthError> {
    let now_s = now.timestamp();
    if claims
        .get("exp")
        .is_some_and(|e| e.as_i64().is_none_or(|e| e <= now_s))
    {
        return Err(invalid("the request object has expired"));
    }
    if claims
        .get("nbf")
        .is_some_and(|n| n.as_i64().is_none_or(|n| n > now_s + 60))
    {
        return Err(invalid("the request object is not valid yet"));
    }
    Ok(())
}

/// The object's parameters over the query's. OIDC Core 6.1: client_id and response_type must
/// match; RFC 9101 5: other query parameters are ignored, but a contradiction is most likely an
/// attack or a bug, so it is refused.
fn merge(params: &Params, claims: Map<String, Value>) -> Result<Params, OAuthError> {
    let mut merged: Vec<(String, String)> = params
        .pairs()
        .into_iter()
        .filter(|(k, _)| k != "request" && k != "request_uri")
        .collect();
    for (key, value) in claims {
        if JWT_CLAIMS.contains(&key.as_str()) {
            continue;
        }
        let value = match value {
            Value::String(s) => s,
            Value::Null => continue,
            other => other.to_string(),
        };
        match merged.iter().find(|(k, _)| *k == key) {
            Some((_, existing)) if *existing != value => {
                return Err(invalid("a query parameter contradicts the request object"));
            }
            Some(_) => {}
            None => merged.push((key, value)),
        }
    }
    Ok(Params::from_pairs(merged))
}

impl Provider {
    /// OIDC Core 6 / RFC 9101: the query with a request object's parameters merged over it
    /// (`request`, or `request_uri` fetched through the fetch port). `Ok(None)`: there is none.
    /// Errors go to the client when the query's redirect URI is valid for it, otherwise to a
    /// page (RFC 6749 4.1.2.1).
    pub(crate) async fn resolve_request_object(
        &self,
        params: &Params,
    ) -> ProviderResult<Result<Option<Params>, AuthorizeError>> {
        let (by_value, by_reference) = (params.get("request"), params.get("request_uri"));
        if by_value.is_none() && by_reference.is_none() {
            return Ok(Ok(None));
        }
        let client = match params.get("client_id") {
            Some(id) => self.client(id).await?,
            None => None,
        };
        let target = match redirect_target(params, client.as_ref()) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        let Some(client) = client else {
            return Ok(Err(AuthorizeError::Page("Unknown application.".into())));
        };
        let object = match (by_value, by_reference) {
            (Some(_), Some(_)) => Err(OAuthError::invalid_request(
                "use request or request_uri, not both",
            )),
            (Some(v), _) => Ok(v.to_string()),
            (None, Some(uri)) => self.fetch_request_object(&client, uri).await,
            (None, None) => return Ok(Ok(None)),
        };
        let merged = match object {
            Ok(object) => {
                let jwks = self.client_jwks(&client).await;
                resolve(
                    params,
                    &object,
                    &client,
                    jwks.as_ref(),
                    &self.config.issuer,
                    self.config.allow_unsigned_request_objects,
                    self.now(),
                )
            }
            Err(e) => Err(e),
        };
        Ok(merged
            .map(Some)
            .map_err(|e| AuthorizeError::Redirect(target, e)))
    }

    async fn fetch_request_object(&self, client: &Client, uri: &str) -> Result<String, OAuthError> {
        match self.fetch.text(uri).await {
            Ok(text) => Ok(text.trim().to_string()),
            Err(e) => {
                tracing::info!(client_id = %client.client_id, error = %e, "request_uri not fetched");
                Err(OAuthError::new(
                    ErrorKind::InvalidRequestUri,
                    "the request_uri could not be fetched",
                ))
            }
        }
    }

    /// The client's registered keys: by value, or fetched from its `jwks_uri` (cached).
    pub(crate) async fn client_jwks(&self, client: &Client) -> Option<Value> {
        match (&client.jwks, &client.jwks_uri) {
            (Some(j), _) => Some(j.clone()),
            (None, Some(uri)) => self.fetch.jwks(uri).await.ok(),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jws::{ES256, JwsHeader};
    use josekit::jwt::JwtPayload;
    use serde_json::json;

    fn client() -> Client {
        let mut c = crate::oidc::authorize::request::tests_support::client();
        c.client_id = "rp".into();
        c
    }

    fn keys() -> (Box<dyn josekit::jws::JwsSigner>, Value) {
        let kp = ES256.generate_key_pair().unwrap();
        let mut jwk = kp.to_jwk_public_key();
        jwk.set_key_id("k");
        (
            Box::new(ES256.signer_from_der(kp.to_der_private_key()).unwrap()),
            json!({ "keys": [serde_json::to_value(jwk.as_ref()).unwrap()] }),
        )
    }

    fn sign(s: &dyn josekit::jws::JwsSigner, claims: Value) -> String {
        let mut h = JwsHeader::new();
        h.set_key_id("k");
        let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        josekit::jwt::encode_with_signer(&p, &h, s).unwrap()
    }

    fn query() -> Params {
        Params::from_pairs(vec![
            ("client_id".into(), "rp".into()),
            ("response_type".into(), "code".into()),
            ("request".into(), "x".into()),
        ])
    }

    const ISS: &str = "https://id.example.com";

    #[test]
    fn a_signed_object_supplies_the_parameters() {
        let (signer, jwks) = keys();
        let now = Utc::now();
        let obj = sign(
            signer.as_ref(),
            json!({ "iss": "rp", "aud": ISS, "exp": now.timestamp() + 60,
            "client_id": "rp", "state": "s1", "nonce": "n1", "max_age": 30, "scope": "openid" }),
        );
        let p = resolve(&query(), &obj, &client(), Some(&jwks), ISS, false, now).unwrap();
        assert_eq!(p.get("state"), Some("s1"));
        assert_eq!(p.get("max_age"), Some("30"));
        assert_eq!(p.get("request"), None);
        assert_eq!(p.get("iss"), None);
    }

    #[test]
    fn bad_objects_are_invalid_request_object() {
        let (signer, jwks) = keys();
        let (other, _) = keys();
        let now = Utc::now();
        let good = json!({ "iss": "rp", "aud": ISS, "exp": now.timestamp() + 60, "state": "s" });
        let mut cases = vec![
            ("bad signature", sign(other.as_ref(), good.clone())),
            ("not a JWT", "garbage".to_string()),
        ];
        for (field, value) in [
            ("iss", json!("other")),
            ("aud", json!("https://evil")),
            ("exp", json!(now.timestamp() - 1)),
            ("response_type", json!("token")),
        ] {
            let mut c = good.clone();
            c[field] = value;
            cases.push((field, sign(signer.as_ref(), c)));
        }
        for (what, obj) in cases {
            let e = resolve(&query(), &obj, &client(), Some(&jwks), ISS, false, now).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequestObject, "{what}");
        }
        use base64::Engine;
        let b = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let unsigned = format!(
            "{}.{}.",
            b(json!({ "alg": "none" })),
            b(json!({ "state": "u" }))
        );
        assert!(resolve(&query(), &unsigned, &client(), None, ISS, false, now).is_err());
        assert_eq!(
            resolve(&query(), &unsigned, &client(), None, ISS, true, now)
                .unwrap()
                .get("state"),
            Some("u")
        );
    }
}
