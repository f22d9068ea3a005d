//! Verifying JWTs that clients sign (client assertions, request objects) against the client's
//! JWK Set: RS256, PS256 or ES256; the key chosen by `kid`, or the only signing key.
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsVerifier, PS256, RS256};
use serde_json::{Map, Value};

/// Algorithms accepted for client-signed JWTs.
pub const CLIENT_ALGS: [&str; 3] = ["RS256", "PS256", "ES256"];

fn verifier(jwk: &Jwk, alg: &str) -> Option<Box<dyn JwsVerifier>> {
    Some(match alg {
        "RS256" => Box::new(RS256.verifier_from_jwk(jwk).ok()?),
        "PS256" => Box::new(PS256.verifier_from_jwk(jwk).ok()?),
        "ES256" => Box::new(ES256.verifier_from_jwk(jwk).ok()?),
        _ => return None,
    })
}

/// The JOSE header's `alg`, unverified.
pub fn alg(token: &str) -> Option<String> {
    let header = josekit::jwt::decode_header(token).ok()?;
    header
        .claim("alg")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The claims of `token` if its signature verifies with a key of `jwks`.
pub fn verify(token: &str, jwks: &Value) -> Option<Map<String, Value>> {
    let header = josekit::jwt::decode_header(token).ok()?;
    let alg = header.claim("alg").and_then(Value::as_str)?.to_string();
    let kid = header.claim("kid").and_then(Value::as_str);
    let keys: Vec<&Value> = jwks
        .get("keys")
        .and_then(Value::as_array)
        .map(|k| k.iter().collect())
        .unwrap_or_default();
    let candidates: Vec<&Value> = keys
        .into_iter()
        .filter(|k| kid.is_none_or(|kid| k.get("kid").and_then(Value::as_str) == Some(kid)))
        .filter(|k| {
            k.get("use")
                .and_then(Value::as_str)
                .is_none_or(|u| u == "sig")
        })
        .collect();
    // Without a kid, the key must be unambiguous.
    let [key] = candidates.as_slice() else {
        return None;
    };
    let jwk = Jwk::from_map(key.as_object().cloned()?).ok()?;
    let verifier = verifier(&jwk, &alg)?;
    let (payload, _) = josekit::jwt::decode_with_verifier(token, verifier.as_ref()).ok()?;
    Some(payload.claims_set().clone())
}

/// The payload of a compact JWT, NOT verified: only for reading claims of a token whose
/// signature was checked by other means, or to find which key should check it.
pub fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = crate::secret::b64url_decode(payload)?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The claims of an unsecured JWT (`alg` none, empty signature), for request objects where
/// the operator allowed them. Nothing about it is verified.
pub fn unsecured_claims(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (_, _, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if !signature.is_empty() || parts.next().is_some() || alg(token).as_deref() != Some("none") {
        return None;
    }
    unverified_claims(token)
}

/// The claims of an HS256 JWT if its MAC verifies with `secret` (`client_secret_jwt`).
pub fn verify_hmac(token: &str, secret: &[u8]) -> Option<Map<String, Value>> {
    if alg(token).as_deref() != Some("HS256") {
        return None;
    }
    let verifier = josekit::jws::HS256.verifier_from_bytes(secret).ok()?;
    let (payload, _) = josekit::jwt::decode_with_verifier(token, &verifier).ok()?;
    Some(payload.claims_set().clone())
}
