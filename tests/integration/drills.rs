//! Reliability drills (issue "Hardening"): random input at every endpoint that parses it, two
//! replicas on one PostgreSQL with one killed mid-run, and a PostgreSQL restart under load.
//! Each prints its figures (run with `--no-capture` to see them).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use crate::harness::{SECRET, TestApp, http_client};

/// Values an attacker might send to a form or query.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "-?[0-9]{1,22}",
        prop::sample::select(vec![
            "code",
            "openid",
            "openid email offline_access",
            "none",
            "login",
            "S256",
            "plain",
            "web",
            "spa",
            "thirdparty",
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "http://127.0.0.1:9/cb",
            "form_post",
            "{\"userinfo\":{\"email\":null}}",
            "[]",
        ])
        .prop_map(str::to_string),
        jwt(),
    ]
}

/// JWS-shaped strings with random JSON header and payload.
fn jwt() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just(serde_json::json!({ "alg": "none" })),
        Just(serde_json::json!({ "alg": "RS256", "kid": "x", "typ": "at+jwt" })),
        Just(serde_json::json!({ "iss": "http://127.0.0.1", "exp": i64::MAX, "max_age": -1 })),
        Just(serde_json::json!({ "exp": "soon", "aud": [1, 2], "sub": null })),
        any::<i64>().prop_map(|n| serde_json::json!({ "exp": n, "iat": n, "nbf": n })),
        "[ -~]{0,20}".prop_map(serde_json::Value::from),
    ];
    (part.clone(), part, "[A-Za-z0-9_-]{0,64}").prop_map(|(h, p, s)| {
        let enc = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.{s}", enc(&h), enc(&p))
    })
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
            "grant_type",
            "code",
            "code_verifier",
            "refresh_token",
            "client_secret",
            "client_assertion",
            "client_assertion_type",
            "token",
            "token_type_hint",
            "post_logout_redirect_uri",
            "flow",
            "resume",
            "csrf_token",
            "username",
            "password",
            "method",
            "decision",
            "confirm",
            "session",
            "access_token",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
    ]
}

/// (method, path, form or query pairs, Authorization header).
type Call = (
    &'static str,
    &'static str,
    Vec<(String, String)>,
    Option<String>,
);

fn call() -> impl Strategy<Value = Call> {
    let route = prop::sample::select(vec![
        ("GET", "/authorize"),
        ("POST", "/authorize"),
        ("POST", "/token"),
        ("POST", "/introspect"),
        ("POST", "/revoke"),
        ("GET", "/userinfo"),
        ("POST", "/userinfo"),
        ("GET", "/logout"),
        ("POST", "/logout"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/login/mfa"),
        ("POST", "/login/mfa"),
        ("GET", "/consent"),
        ("POST", "/consent"),
        ("GET", "/register/web"),
        ("GET", "/federation/up/callback"),
        ("POST", "/account/password"),
    ]);
    let auth = prop_oneof![
        Just(None),
        jwt().prop_map(|t| Some(format!("Bearer {t}"))),
        (text(), text()).prop_map(|(u, p)| {
            let raw = format!("{u}:{p}");
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ))
        }),
        text().prop_map(Some),
    ];
    (route, vec((key(), text()), 0..10), auth).prop_map(|((m, p), pairs, auth)| (m, p, pairs, auth))
}

/// Random input at every endpoint that parses it, through the real server: no case may answer
/// 500 (the panic guard turns a panic into a 500, so this also proves none panics). Bounded:
/// 600 cases, plus 100 random registration documents.
#[tokio::test]
async fn random_input_never_gets_a_500() {
    let app = TestApp::spawn_with(|c| {
        c.replace(
            "[passwords]",
            "[registration]\nmode = \"open\"\n\n[passwords]",
        )
    })
    .await;
    let http = http_client();
    let mut runner = TestRunner::new(Config::with_cases(600));
    let strategy = call();
    let mut failures = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..600 {
        let (method, path, pairs, auth) = strategy.new_tree(&mut runner).unwrap().current();
        let mut req = if method == "GET" {
            http.get(app.url(path)).query(&pairs)
        } else {
            http.post(app.url(path)).form(&pairs)
        };
        if let Some(a) = auth
            .as_deref()
            .filter(|a| reqwest::header::HeaderValue::from_str(a).is_ok())
        {
            req = req.header("authorization", a);
        }
        let status = req.send().await.unwrap().status().as_u16();
        *statuses.entry(status).or_insert(0u32) += 1;
        if status >= 500 && status != 503 {
            failures.push(format!("{method} {path} {pairs:?} {auth:?} -> {status}"));
        }
    }
    // Registration documents: random JSON bodies.
    let documents = prop::collection::btree_map(key(), text(), 0..8);
    for _ in 0..100 {
        let doc = documents.new_tree(&mut runner).unwrap().current();
        let status = http
            .post(app.url("/register"))
            .header("content-type", "application/json")
            .body(serde_json::to_string(&doc).unwrap())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        *statuses.entry(status).or_insert(0u32) += 1;
        if status >= 500 {
            failures.push(format!("POST /register {doc:?} -> {status}"));
        }
    }
    println!("random input: 700 requests, statuses {statuses:?}");
    assert!(failures.is_empty(), "{failures:#?}");
    // Still healthy afterwards.
    let res = http
        .post(app.url("/token"))
        .basic_auth("web", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

use openidconnect::reqwest;
