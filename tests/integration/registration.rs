//! Dynamic client registration (RFC 7591) and client read (RFC 7592), then a real code flow
//! with the registered client through the openidconnect RP.
use openidconnect::AuthType;
use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
use serde_json::{Value, json};

use crate::harness::{JsonBody, TestApp};
use crate::rp::{REDIRECT, TestRp};

async fn app(mode: &str) -> TestApp {
    let mode = mode.to_string();
    TestApp::spawn_with(move |c| c.replace("[passwords]", &format!("{mode}\n[passwords]"))).await
}

async fn register(app: &TestApp, body: &Value, token: Option<&str>) -> reqwest::Response {
    let mut req = app
        .http()
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

use openidconnect::reqwest;

#[tokio::test]
async fn a_registered_client_signs_a_user_in_and_can_read_itself() {
    let app = app("[registration]\nmode = \"open\"").await;
    app.user("ada").await;
    let disco = app
        .http()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(disco["registration_endpoint"], app.url("/register"));
    let res = register(
        &app,
        &json!({
            "client_name": "Notes",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "logo_uri": "https://notes.example.com/logo.png",
            "policy_uri": "https://notes.example.com/privacy",
            "tos_uri": "https://notes.example.com/terms",
            "unknown_metadata": "ignored (RFC 7591 2)",
        }),
        None,
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let reg = res.json_value().await;
    let client_id = reg["client_id"].as_str().unwrap().to_string();
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    assert_eq!(reg["client_secret_expires_at"], 0);
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
    assert!(reg.get("unknown_metadata").is_none());
    let rat = reg["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let read_uri = reg["registration_client_uri"].as_str().unwrap().to_string();

    // The code flow works with it; the consent page shows its logo, policy and terms.
    let rp = TestRp::new(
        &app,
        &client_id,
        Some(&secret),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let page = b.get(&s.url).await;
    let login = b.follow(page).await;
    let res = b
        .submit_login(&login, "ada", crate::harness::PASSWORD)
        .await;
    let consent = b.follow(res).await;
    let body = crate::harness::html_unescape(&consent.body);
    assert!(
        body.contains("https://notes.example.com/logo.png"),
        "{}",
        consent.body
    );
    assert!(
        body.contains("https://notes.example.com/privacy")
            && body.contains("https://notes.example.com/terms")
    );
    assert!(body.contains("registered itself"));
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    rp.verify(&tokens, Some(&s.nonce));

    // RFC 7592 read: with the registration access token only.
    let read = app
        .http()
        .get(&read_uri)
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let meta = read.json_value().await;
    assert_eq!(meta["client_id"], client_id.as_str());
    assert!(
        meta.get("client_secret").is_none(),
        "only its hash is stored"
    );
    let wrong = app
        .http()
        .get(&read_uri)
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let other = app
        .http()
        .get(app.url("/register/web"))
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401, "a token reads only its own client");

    // Stored: hashes only, managed by registration (the config reconcile leaves it alone).
    let stored = app.store.get_client(&client_id).await.unwrap().unwrap();
    assert_eq!(stored.managed_by, "registration");
    assert!(!stored.trusted);
    assert_ne!(
        stored.registration_token_hash.as_deref(),
        Some(rat.as_str())
    );
}

#[tokio::test]
async fn bad_metadata_gets_rfc_7591_errors() {
    let app = app("[registration]\nmode = \"open\"").await;
    let cases = [
        (
            json!({ "redirect_uris": ["https://a.example/cb#x"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["http://a.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "client_name": "no redirect" }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt_v9" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [REDIRECT], "jwks_uri": "https://a.example/jwks", "jwks": { "keys": [] } }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [REDIRECT], "subject_type": "pairwise", "sector_identifier_uri": "https://a.example/s" }),
            "invalid_client_metadata",
        ),
    ];
    for (body, error) in cases {
        let res = register(&app, &body, None).await;
        assert_eq!(res.status(), 400, "{body}");
        assert_eq!(res.json_value().await["error"], error, "{body}");
    }
    let not_json = app
        .http()
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(
        not_json.json_value().await["error"],
        "invalid_client_metadata"
    );
    let huge = json!({ "redirect_uris": [REDIRECT], "client_name": "x".repeat(100_000) });
    let res = register(&app, &huge, None).await;
    assert_eq!(res.status(), 413, "oversized documents are refused");
    assert_eq!(
        app.store
            .list_clients()
            .await
            .unwrap()
            .iter()
            .filter(|c| c.managed_by == "registration")
            .count(),
        0
    );
}

#[tokio::test]
async fn registration_can_need_an_initial_access_token_or_be_off() {
    let app = app(
        "[registration]\nmode = \"token\"\ninitial_access_token = \"let-me-register-0123456789\"",
    )
    .await;
    let body = json!({ "redirect_uris": [REDIRECT] });
    assert_eq!(register(&app, &body, None).await.status(), 401);
    assert_eq!(register(&app, &body, Some("wrong")).await.status(), 401);
    assert_eq!(
        register(&app, &body, Some("let-me-register-0123456789"))
            .await
            .status(),
        201
    );

    let off = TestApp::spawn().await;
    assert_eq!(register(&off, &body, None).await.status(), 404);
    let disco = off
        .http()
        .get(off.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert!(disco.get("registration_endpoint").is_none());
}
