//! Property tests of every parser of untrusted input in core (issue "Hardening", reliability
//! drills): authorization requests, the `claims` parameter, scope strings, redirect URIs,
//! JWS/JWT headers and claims (client assertions, request objects), and registration documents.
//! Each runs a bounded number of random cases; the property is that nothing panics and that
//! whatever is accepted satisfies the parser's own promises.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::Value;

use crate::model::{AuthMethod, Client, SigningAlg};
use crate::oidc::authorize::MAX_REQUEST_BYTES;
use crate::oidc::authorize::request::{self, Checks, MAX_AGE_LIMIT};
use crate::oidc::claims::ClaimsRequest;
use crate::oidc::params::Params;
use crate::oidc::{client_auth, jws, registration, request_object, scopes, uris};

const CASES: u32 = 256;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

fn client() -> Client {
    let mut c = request::tests_support::client();
    c.scopes = vec!["openid".into(), "email".into(), "profile".into()];
    c
}

/// Strings an attacker might send: anything, or near-misses of meaningful values.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        Just("code".to_string()),
        Just("openid email".to_string()),
        Just("S256".to_string()),
        Just("https://app.example/cb".to_string()),
        Just("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string()),
        Just("none".to_string()),
        "-?[0-9]{1,25}",
        Just(r#"{"userinfo":{"email":null}}"#.to_string()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "client_id",
            "redirect_uri",
            "response_type",
            "response_mode",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "prompt",
            "max_age",
            "login_hint",
            "acr_values",
            "claims",
            "id_token_hint",
            "request",
            "request_uri",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,12}",
    ]
}

/// Arbitrary JSON, nested a few levels, with keys that mean something to our parsers.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::from),
    ];
    let names = prop_oneof![
        prop::sample::select(vec![
            "redirect_uris",
            "post_logout_redirect_uris",
            "grant_types",
            "response_types",
            "token_endpoint_auth_method",
            "scope",
            "jwks",
            "jwks_uri",
            "keys",
            "kty",
            "kid",
            "alg",
            "iss",
            "sub",
            "aud",
            "exp",
            "nbf",
            "iat",
            "jti",
            "subject_type",
            "sector_identifier_uri",
            "id_token",
            "userinfo",
            "email",
            "client_name",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
    ];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(names.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Compact JWS-shaped strings: random JSON header and payload, random signature.
fn jwt() -> impl Strategy<Value = String> {
    prop_oneof![
        (json(), json(), "[A-Za-z0-9_-]{0,86}").prop_map(|(h, p, s)| format!(
            "{}.{}.{s}",
            b64(&h),
            b64(&p)
        )),
        (json(), "[A-Za-z0-9_-]{0,86}").prop_map(|(p, s)| format!(
            "{}.{}.{s}",
            b64(&serde_json::json!({ "alg": "none" })),
            b64(&p)
        )),
        (json(), json()).prop_map(|(h, p)| format!(
            "{}.{}.",
            b64(&serde_json::json!({ "alg": "ES256", "kid": h })),
            b64(&p)
        )),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Authorization requests (OIDC Core 3.1.2.1): never a panic, and an accepted request
    /// keeps every promise the parser makes.
    #[test]
    fn authorization_requests(pairs in vec((key(), text()), 0..8), pkce_all in any::<bool>()) {
        // A valid request with random parameters replaced or added, so that both the refusals
        // and the acceptances are explored.
        let mut all: Vec<(String, String)> = [
            ("client_id", "app"),
            ("redirect_uri", "https://app.example/cb"),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .filter(|(k, _)| !pairs.iter().any(|(rk, _)| rk == k))
        .collect();
        all.extend(pairs);
        let params = Params::from_pairs(all);
        let c = client();
        if let Ok(target) = request::redirect_target(&params, Some(&c)) {
            prop_assert!(c.redirect_uris.contains(&target.redirect_uri));
            let checks = Checks { require_pkce_for_all: pkce_all };
            if let Ok(req) = request::parse(&params, &c, target, &checks) {
                prop_assert!(scopes::has(&req.scopes, "openid"));
                prop_assert!(req.scopes.iter().all(|s| c.allows_scope(s)));
                prop_assert!(req.max_age.is_none_or(|m| (0..=MAX_AGE_LIMIT).contains(&m)));
                prop_assert!(serde_json::to_vec(&req).unwrap().len() <= MAX_REQUEST_BYTES);
                prop_assert!(req.code_challenge.is_some() || !c.is_public());
            }
        }
    }

    /// The `claims` parameter: claims outside the client's scopes never survive parsing.
    #[test]
    fn claims_requests(raw in prop_oneof![json().prop_map(|v| v.to_string()), any::<String>()]) {
        let mut c = client();
        c.scopes = vec!["openid".into()];
        if let Ok(Some(req)) = ClaimsRequest::parse(&raw, &c) {
            prop_assert!(req.scopes().is_empty(), "{:?}", req);
        }
    }

    /// Scope strings and redirect URIs.
    #[test]
    fn scopes_and_redirect_uris(raw in text(), public in any::<bool>()) {
        let parsed = scopes::parse(&raw);
        prop_assert!(parsed.iter().all(|s| !s.is_empty() && !s.contains(' ')));
        if uris::check_redirect_uri(&raw, public).is_ok() {
            prop_assert!(!raw.chars().any(|ch| ch.is_control() || ch.is_whitespace()));
        }
    }

    /// JWS headers and claims from clients: assertions (RFC 7523) and request objects
    /// (RFC 9101), with random keys and random tokens, including huge or negative exp/nbf.
    #[test]
    fn client_signed_jwts(token in jwt(), jwks in json(), allow_unsigned in any::<bool>(),
                          pairs in vec((key(), text()), 0..6)) {
        let _ = jws::alg(&token);
        let _ = jws::unverified_claims(&token);
        let _ = jws::verify(&token, &jwks);
        let mut c = client();
        c.client_id = "rp".into();
        c.auth_method = AuthMethod::PrivateKeyJwt;
        let aud = vec!["https://id.example.com/token".to_string()];
        let verdict = client_auth::verify_assertion(
            &token, &c, client_auth::AssertionKey::Jwks(&jwks), &aud, now());
        // Random material never authenticates a client.
        prop_assert!(verdict.is_err());
        c.auth_method = AuthMethod::ClientSecretJwt;
        let _ = client_auth::verify_assertion(
            &token, &c, client_auth::AssertionKey::Secret(b"secret"), &aud, now());
        let params = Params::from_pairs(pairs);
        let _ = request_object::resolve(
            &params, &token, &c, Some(&jwks), "https://id.example.com", allow_unsigned, now());
    }

    /// Registration documents (RFC 7591): anything is either refused with an error or becomes a
    /// client whose redirect URIs pass the same rules as the config's.
    #[test]
    fn registration_documents(meta in json(), pairwise in any::<bool>()) {
        let pw = registration::Pairwise { supported: pairwise, sector_document: None };
        if let Ok(c) = registration::client_from_metadata(
            &meta, "new".into(), &SigningAlg::ALL, &pw)
        {
            for uri in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
                prop_assert!(uris::check_redirect_uri(uri, c.is_public()).is_ok());
            }
            prop_assert!(!c.trusted);
            prop_assert!(c.is_self_registered());
        }
    }
}
