//! Dynamic client registration (RFC 7591) and client read (RFC 7592), then a real code flow
//! with the registered client through the openidconnect RP.
use lanyard_core::secret::Secret;
use openidconnect::AuthType;
use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
use serde_json::{Value, json};

use crate::harness::{JsonBody, RegistrationSettings, TestApp};
use crate::rp::{REDIRECT, TestRp};

async fn app(mode: RegistrationSettings) -> TestApp {
    TestApp::spawn_with(move |s| s.registration = mode).await
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
    let app = app(RegistrationSettings::Open).await;
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
    assert_eq!(
        stored.managed_by,
        lanyard_core::model::ManagedBy::Registration
    );
    assert!(!stored.trusted);
    assert_ne!(
        stored.registration_token_hash.as_deref(),
        Some(rat.as_str())
    );
}

#[tokio::test]
async fn bad_metadata_gets_rfc_7591_errors() {
    let app = app(RegistrationSettings::Open).await;
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
    assert_eq!(res.status(), 400, "oversized documents are refused");
    assert_eq!(res.json_value().await["error"], "invalid_client_metadata");
    let enormous = json!({ "redirect_uris": [REDIRECT], "client_name": "x".repeat(1_000_000) });
    assert_eq!(register(&app, &enormous, None).await.status(), 413);
    assert_eq!(
        app.store
            .list_clients()
            .await
            .unwrap()
            .iter()
            .filter(|c| c.is_self_registered())
            .count(),
        0
    );
}

#[tokio::test]
async fn registration_can_need_an_initial_access_token_or_be_off() {
    let token = Secret::new("let-me-register-0123456789".to_string());
    let app = app(RegistrationSettings::Token(token)).await;
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

/// A relying party's key pair and the JWK Set it publishes.
pub(crate) struct RpKeys {
    signer: Box<dyn josekit::jws::JwsSigner>,
    pub jwks: Value,
    kid: String,
}

impl RpKeys {
    pub(crate) fn new(kid: &str) -> Self {
        let kp = josekit::jws::ES256.generate_key_pair().unwrap();
        let mut jwk = josekit::jwk::KeyPair::to_jwk_public_key(&kp);
        jwk.set_key_id(kid);
        jwk.set_key_use("sig");
        jwk.set_algorithm("ES256");
        Self {
            signer: Box::new(
                josekit::jws::ES256
                    .signer_from_der(josekit::jwk::KeyPair::to_der_private_key(&kp))
                    .unwrap(),
            ),
            jwks: json!({ "keys": [serde_json::to_value(jwk.as_ref()).unwrap()] }),
            kid: kid.to_string(),
        }
    }

    pub(crate) fn sign(&self, claims: Value) -> String {
        let mut h = josekit::jws::JwsHeader::new();
        h.set_key_id(&self.kid);
        let p = josekit::jwt::JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        josekit::jwt::encode_with_signer(&p, &h, self.signer.as_ref()).unwrap()
    }
}

/// Serve a JWK Set that can be swapped (key rotation at the RP).
pub(crate) async fn serve_jwks(
    initial: Value,
) -> (String, std::sync::Arc<std::sync::Mutex<Value>>) {
    let shared = std::sync::Arc::new(std::sync::Mutex::new(initial));
    let listener = crate::harness::reserve_port().await;
    let url = format!(
        "http://127.0.0.1:{}/jwks",
        listener.local_addr().unwrap().port()
    );
    let state = shared.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let state = state.clone();
            async move { axum::Json(state.lock().unwrap().clone()) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, shared)
}

#[tokio::test]
async fn private_key_jwt_clients_authenticate_with_signed_assertions() {
    let app = app(RegistrationSettings::Open).await;
    app.user("ada").await;
    let keys = RpKeys::new("rp-1");
    let (jwks_uri, published) = serve_jwks(keys.jwks.clone()).await;
    let reg = register(
        &app,
        &json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_uri,
            "grant_types": ["authorization_code"],
        }),
        None,
    )
    .await
    .json_value()
    .await;
    assert!(
        reg.get("client_secret").is_none(),
        "no secret for private_key_jwt"
    );
    let client_id = reg["client_id"].as_str().unwrap().to_string();
    let now = chrono::Utc::now().timestamp();
    let token_url = app.url("/token");
    let claims = |jti: &str, aud: &str| json!({ "iss": client_id, "sub": client_id, "aud": aud, "jti": jti, "exp": now + 120, "iat": now });
    let call = |assertion: String| {
        app.http()
            // RFC 7009: revocation answers 200 to an authenticated client, whatever the token.
            .post(app.url("/revoke"))
            .form(&[
                ("token", "not-a-token"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
    };
    let ok = call(keys.sign(claims("a1", &token_url))).await.unwrap();
    assert_eq!(ok.status(), 200, "{:?}", ok.text().await);
    // aud = issuer is accepted too (oidcc-ensure-client-assertion-with-iss-aud-succeeds).
    assert_eq!(
        call(keys.sign(claims("a2", &app.issuer)))
            .await
            .unwrap()
            .status(),
        200
    );
    // Replay, wrong audience, wrong key: invalid_client.
    let replay = call(keys.sign(claims("a1", &token_url))).await.unwrap();
    assert_eq!(replay.status(), 401);
    assert_eq!(replay.json_value().await["error"], "invalid_client");
    assert_eq!(
        call(keys.sign(claims("a3", "https://elsewhere.example")))
            .await
            .unwrap()
            .status(),
        401
    );
    // The secret methods do not work for this client.
    let basic = app
        .http()
        .post(app.url("/revoke"))
        .basic_auth(&client_id, Some("guess"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    // The RP rotates its key: the new key is fetched when an assertion does not verify.
    let rotated = RpKeys::new("rp-2");
    *published.lock().unwrap() = rotated.jwks.clone();
    assert_eq!(
        call(rotated.sign(claims("a5", &token_url)))
            .await
            .unwrap()
            .status(),
        200
    );
    // A stranger's key never verifies (and cannot force refetches faster than once a minute).
    let stranger = RpKeys::new("rp-1");
    assert_eq!(
        call(stranger.sign(claims("a4", &token_url)))
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn client_secret_jwt_clients_authenticate_with_a_mac_of_their_secret() {
    let app = app(RegistrationSettings::Open).await;
    let reg = register(
        &app,
        &json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_jwt",
        }),
        None,
    )
    .await
    .json_value()
    .await;
    let client_id = reg["client_id"].as_str().unwrap().to_string();
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    // Kept encrypted, not in clear: it must be recoverable to check a MAC.
    let stored = app.store.get_client(&client_id).await.unwrap().unwrap();
    let sealed = stored.secret_enc.expect("sealed secret");
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()));
    let now = chrono::Utc::now().timestamp();
    let mac = |key: &str, jti: &str| {
        let claims = json!({ "iss": client_id, "sub": client_id, "aud": app.url("/token"), "jti": jti, "exp": now + 60 });
        let p = josekit::jwt::JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        let signer = josekit::jws::HS256
            .signer_from_bytes(key.as_bytes())
            .unwrap();
        josekit::jwt::encode_with_signer(&p, &josekit::jws::JwsHeader::new(), &signer).unwrap()
    };
    let call = |assertion: String| {
        app.http()
            // RFC 7009: revocation answers 200 to an authenticated client, whatever the token.
            .post(app.url("/revoke"))
            .form(&[
                ("token", "not-a-token"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
    };
    assert_eq!(call(mac(&secret, "m1")).await.unwrap().status(), 200);
    assert_eq!(
        call(mac(&secret, "m1")).await.unwrap().status(),
        401,
        "replay"
    );
    assert_eq!(
        call(mac("a-wrong-secret-that-is-long-enough-xx", "m2"))
            .await
            .unwrap()
            .status(),
        401
    );
    // Its secret does not work as a plain secret either (one method per client).
    let basic = app
        .http()
        .post(app.url("/revoke"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
}
