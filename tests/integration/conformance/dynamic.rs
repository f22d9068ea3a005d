//! oidcc-dynamic-certification-test-plan: key rotation, and what needs registered clients
//! (private_key_jwt, request objects, pairwise subjects).
use std::str::FromStr;

use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier};
use openidconnect::{ClientId, IssuerUrl, Nonce};

use super::*;
use crate::registration::{RpKeys, serve_jwks};

/// oidcc-server-rotate-keys: after the operator rotates the signing keys, the JWKS has a new key
/// and still the old one. Beyond the module: an RP that cached the JWKS (for its max-age) keeps
/// verifying through the rotation, because the new key is published before it signs.
#[tokio::test]
async fn oidcc_server_rotate_keys() {
    let o = op(Mode::Query).await;
    let jwks = |app: &TestApp| {
        let http = app.http();
        let url = app.url("/jwks");
        async move {
            let v = http.get(url).send().await.unwrap().json_value().await;
            v["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let before = jwks(&o.app).await;
    // `o.rp` discovered (and cached) the JWKS when it was built, before the rotation.
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let (_, old_tokens) = o.code_flow(&mut b, &s).await;
    o.rp.verify(&old_tokens, Some(&s.nonce));

    let cipher = lanyard::app::cipher(&o.app.app.settings).unwrap();
    let publish_ahead = Duration::minutes(10); // ≥ signing.jwks_max_age (5 minutes)
    let new = lanyard_core::oidc::keys::rotate(
        o.app.store.as_ref(),
        &cipher,
        lanyard_core::model::SigningAlg::RS256,
        o.app.clock.now(),
        publish_ahead,
    )
    .await
    .unwrap();
    o.app.app.state.provider.reload_keys().await.unwrap();
    let after = jwks(&o.app).await;
    assert!(after.contains(&new.kid), "the new key is published at once");
    for kid in &before {
        assert!(after.contains(kid), "the old key is still published");
    }
    // Until the switch, tokens are still signed by the old key: the stale cache verifies them.
    let s = o.start(&[], &[("prompt", "login")]);
    let (_, t) = o.code_flow(&mut b, &s).await;
    assert_ne!(jwt_header(&id_token(&t))["kid"], new.kid.as_str());
    o.rp.verify(&t, Some(&s.nonce));
    // An RP refreshing its cache within max-age (5 min) sees the new key before it signs.
    o.app.clock.advance(Duration::minutes(5));
    let refreshed = TestRp::new(
        &o.app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    o.app
        .clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    o.app.app.state.provider.reload_keys().await.unwrap();
    let s = refreshed.start(&[], &[("prompt", "login")]);
    let r = o.authorize(&mut b, &s.url).await;
    let code = r.param("code").unwrap().to_string();
    let t = refreshed
        .exchange(
            &code,
            openidconnect::PkceCodeVerifier::new(s.verifier.secret().clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        jwt_header(&id_token(&t))["kid"],
        new.kid.as_str(),
        "the new key signs now"
    );
    refreshed.verify(&t, Some(&s.nonce));
    // Tokens signed before the switch still verify against the current JWKS.
    refreshed.verify(&old_tokens, None);
}

// ---- Dynamic plan: registered clients, private_key_jwt, request objects --------------------

struct Dyn {
    app: TestApp,
    keys: RpKeys,
    client_id: String,
}

/// An OP with open registration and `edit` made to its settings, and a `private_key_jwt`
/// client registered at it with `meta` over the defaults.
async fn registered(edit: impl FnOnce(&mut Settings), meta: Value) -> Dyn {
    let app = TestApp::spawn_with(move |s| {
        s.registration = RegistrationSettings::Open;
        edit(s);
    })
    .await;
    app.user("buffy").await;
    let keys = RpKeys::new("rp-1");
    let (jwks_uri, _) = serve_jwks(keys.jwks.clone()).await;
    let mut body = serde_json::json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": jwks_uri,
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid profile email offline_access",
    });
    for (k, v) in meta.as_object().unwrap() {
        body[k] = v.clone();
    }
    let res = register(&app, &body).await;
    assert_eq!(res.status(), 201);
    let client_id = res.json_value().await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    Dyn {
        app,
        keys,
        client_id,
    }
}

async fn register(app: &TestApp, body: &Value) -> reqwest::Response {
    app.http()
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

impl Dyn {
    fn assertion(&self, aud: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let jti = crate::harness::unique();
        self.keys.sign(serde_json::json!({
            "iss": self.client_id, "sub": self.client_id, "aud": aud, "jti": jti, "exp": now + 120
        }))
    }

    fn authorize_url(&self, extra: &[(&str, &str)]) -> (String, String) {
        let nonce = format!("n-{}", crate::harness::unique());
        let mut q: Vec<(&str, String)> = vec![
            ("response_type", "code".into()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", REDIRECT.into()),
            ("scope", "openid profile".into()),
            ("state", "st".into()),
            ("nonce", nonce.clone()),
        ];
        for (k, v) in extra {
            q.retain(|(x, _)| x != k);
            q.push((k, v.to_string()));
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        (self.app.url(&format!("/authorize?{query}")), nonce)
    }

    /// Browser login and consent; returns the authorization response parameters.
    async fn browse(&self, url: &str) -> BTreeMap<String, String> {
        let mut b = self.app.browser();
        let page = b.get(url).await;
        let mut page = b.follow(page).await;
        if page.body.contains("name=\"password\"") {
            let res = b.submit_login(&page, "buffy", PASSWORD).await;
            page = b.follow(res).await;
        }
        if page.body.contains("value=\"allow\"") {
            let csrf = page.input("csrf_token").unwrap();
            let flow = page.input("flow").unwrap();
            let res = b
                .post(
                    "/consent",
                    &[
                        ("decision", "allow"),
                        ("flow", &flow),
                        ("csrf_token", &csrf),
                    ],
                )
                .await;
            page = b.follow(res).await;
        }
        client_response(&page, Mode::Query)
            .unwrap_or_else(|| panic!("no response: {} {}", page.status, page.body))
    }

    async fn redeem(&self, code: &str) -> Value {
        let assertion = self.assertion(&self.app.url("/token"));
        let res = self
            .app
            .http()
            .post(self.app.url("/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json_value().await
    }

    /// The ID token, verified by openidconnect against the published JWKS.
    async fn verify(&self, id_token: &str, nonce: &str) {
        let jwks = self
            .app
            .http()
            .get(self.app.url("/jwks"))
            .send()
            .await
            .unwrap()
            .json_value()
            .await;
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.client_id.clone()),
            IssuerUrl::new(self.app.issuer.clone()).unwrap(),
            serde_json::from_value(jwks).unwrap(),
        );
        CoreIdToken::from_str(id_token)
            .unwrap()
            .claims(&verifier, &Nonce::new(nonce.to_string()))
            .expect("ID token verifies");
    }
}

#[tokio::test]
async fn oidcc_server() {
    let d = registered(standard, serde_json::json!({})).await;
    let (url, nonce) = d.authorize_url(&[]);
    let r = d.browse(&url).await;
    let tokens = d.redeem(r.get("code").unwrap()).await;
    d.verify(tokens["id_token"].as_str().unwrap(), &nonce).await;
}

#[tokio::test]
async fn oidcc_idtoken_rs256() {
    let d = registered(
        standard,
        serde_json::json!({ "id_token_signed_response_alg": "RS256" }),
    )
    .await;
    let (url, nonce) = d.authorize_url(&[]);
    let r = d.browse(&url).await;
    let t = d.redeem(r.get("code").unwrap()).await;
    let idt = t["id_token"].as_str().unwrap();
    assert_eq!(jwt_header(idt)["alg"], "RS256");
    assert!(jwt_header(idt)["kid"].is_string());
    d.verify(idt, &nonce).await;
}

#[tokio::test]
async fn oidcc_userinfo_rs256() {
    let d = registered(
        standard,
        serde_json::json!({ "userinfo_signed_response_alg": "RS256" }),
    )
    .await;
    let disco = discovery(&d.app).await;
    assert!(
        disco["userinfo_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"RS256".into())
    );
    let (url, nonce) = d.authorize_url(&[]);
    let r = d.browse(&url).await;
    let t = d.redeem(r.get("code").unwrap()).await;
    d.verify(t["id_token"].as_str().unwrap(), &nonce).await;
    let res = d
        .app
        .http()
        .get(d.app.url("/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/jwt");
    let jwt = res.text().await.unwrap();
    assert_eq!(jwt_header(&jwt)["alg"], "RS256");
    verify_rs256_with_published_jwks(&d.app, &jwt).await;
    let c = jwt_claims(&jwt);
    assert_eq!(c["iss"], d.app.issuer.as_str());
    assert_eq!(c["aud"], d.client_id.as_str());
    assert_eq!(c["sub"], jwt_claims(t["id_token"].as_str().unwrap())["sub"]);
    assert!(c.get("nonce").is_none());
}

/// The RP swaps its key between getting a refresh token and using it: the refresh with an
/// assertion signed by the new key succeeds because Lanyard refetches the jwks_uri.
#[tokio::test]
async fn oidcc_refresh_token_rp_key_rotation() {
    let app = TestApp::spawn_with(|s| s.registration = RegistrationSettings::Open).await;
    app.user("buffy").await;
    let first = RpKeys::new("rp-1");
    let (jwks_uri, published) = serve_jwks(first.jwks.clone()).await;
    let res = register(
        &app,
        &serde_json::json!({
            "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_uri, "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid offline_access",
        }),
    )
    .await;
    let client_id = res.json_value().await["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = Dyn {
        app,
        keys: first,
        client_id,
    };
    let (url, _) = d.authorize_url(&[("scope", "openid offline_access"), ("prompt", "consent")]);
    let r = d.browse(&url).await;
    let t = d.redeem(r.get("code").unwrap()).await;
    let refresh = t["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let second = RpKeys::new("rp-2");
    *published.lock().unwrap() = second.jwks.clone();
    let now = chrono::Utc::now().timestamp();
    let assertion = second.sign(serde_json::json!({
        "iss": d.client_id, "sub": d.client_id, "aud": d.app.url("/token"),
        "jti": crate::harness::unique(), "exp": now + 60,
    }));
    let res = d
        .app
        .http()
        .post(d.app.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// The client's keys come from its jwks_uri for the private_key_jwt exchange.
#[tokio::test]
async fn oidcc_registration_jwks_uri() {
    let d = registered(standard, serde_json::json!({})).await;
    let stored = d.app.store.get_client(&d.client_id).await.unwrap().unwrap();
    assert!(stored.jwks_uri.is_some() && stored.jwks.is_none());
    let (url, nonce) = d.authorize_url(&[]);
    let r = d.browse(&url).await;
    let t = d.redeem(r.get("code").unwrap()).await;
    d.verify(t["id_token"].as_str().unwrap(), &nonce).await;
}

#[tokio::test]
async fn oidcc_ensure_client_assertion_with_iss_aud_succeeds() {
    let d = registered(standard, serde_json::json!({})).await;
    let (url, nonce) = d.authorize_url(&[]);
    let r = d.browse(&url).await;
    // The code exchange authenticated with an assertion whose aud is the issuer.
    let assertion = d.assertion(&d.app.issuer);
    let res = d
        .app
        .http()
        .post(d.app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", r.get("code").unwrap().as_str()),
            ("redirect_uri", REDIRECT),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let t = res.json_value().await;
    d.verify(t["id_token"].as_str().unwrap(), &nonce).await;
}

async fn shown_on_consent(key: &str, value: &str) {
    let d = registered(standard, serde_json::json!({ key: value })).await;
    let (url, _) = d.authorize_url(&[]);
    let mut b = d.app.browser();
    let page = b.get(&url).await;
    let login = b.follow(page).await;
    let res = b.submit_login(&login, "buffy", PASSWORD).await;
    let consent = b.follow(res).await;
    assert!(
        html_unescape(&consent.body).contains(value),
        "{key} shown: {}",
        consent.body
    );
}

#[tokio::test]
async fn oidcc_registration_logo_uri() {
    shown_on_consent("logo_uri", "https://rp.example.com/logo.png").await
}
#[tokio::test]
async fn oidcc_registration_policy_uri() {
    shown_on_consent("policy_uri", "https://rp.example.com/privacy").await
}
#[tokio::test]
async fn oidcc_registration_tos_uri() {
    shown_on_consent("tos_uri", "https://rp.example.com/terms").await
}

#[tokio::test]
async fn oidcc_redirect_uri_regfrag() {
    let app = TestApp::spawn_with(|s| s.registration = RegistrationSettings::Open).await;
    let res = register(
        &app,
        &serde_json::json!({ "redirect_uris": [format!("{REDIRECT}#frag")] }),
    )
    .await;
    assert_oauth_error(res, 400, "invalid_redirect_uri").await;
}

#[tokio::test]
async fn oidcc_ensure_redirect_uri_in_authorization_request() {
    let d = registered(
        standard,
        serde_json::json!({ "redirect_uris": [REDIRECT, format!("{REDIRECT}2")] }),
    )
    .await;
    let (url, _) = d.authorize_url(&[]);
    let url = rewrite(&url, &[("redirect_uri", None)]);
    let page = d.app.browser().get(&url).await;
    assert_eq!(page.status, 400);
    assert!(page.location().is_none());
}

async fn query_variant(registered_uri: &str, sent_uri: &str, ok: bool) {
    let d = registered(
        standard,
        serde_json::json!({ "redirect_uris": [registered_uri] }),
    )
    .await;
    let (url, _) = d.authorize_url(&[("redirect_uri", sent_uri)]);
    let mut b = d.app.browser();
    let page = b.get(&url).await;
    if ok {
        let login = b.follow(page).await;
        let res = b.submit_login(&login, "buffy", PASSWORD).await;
        let consent = b.follow(res).await;
        assert!(consent.body.contains("value=\"allow\""), "{}", consent.body);
    } else {
        assert_eq!(page.status, 400);
        assert!(page.location().is_none());
    }
}

#[tokio::test]
async fn oidcc_redirect_uri_query_ok() {
    let uri = format!("{REDIRECT}?foo=bar");
    query_variant(&uri, &uri, true).await
}
#[tokio::test]
async fn oidcc_redirect_uri_query_mismatch() {
    query_variant(
        &format!("{REDIRECT}?foo=bar"),
        &format!("{REDIRECT}?foo=zot"),
        false,
    )
    .await
}
#[tokio::test]
async fn oidcc_redirect_uri_query_added() {
    query_variant(REDIRECT, &format!("{REDIRECT}?foo=bar"), false).await
}

/// Serve a request object at a URL (request_uri).
async fn serve_text(body: String) -> String {
    let listener = reserve_port().await;
    let url = format!(
        "http://127.0.0.1:{}/request.jwt",
        listener.local_addr().unwrap().port()
    );
    let app = axum::Router::new().route(
        "/request.jwt",
        axum::routing::get(move || {
            let b = body.clone();
            async move { b }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test]
async fn oidcc_request_uri_signed_rs256() {
    let d = registered(standard, serde_json::json!({})).await;
    let now = chrono::Utc::now().timestamp();
    let object = d.keys.sign(serde_json::json!({
        "iss": d.client_id, "aud": d.app.issuer, "exp": now + 300,
        "response_type": "code", "client_id": d.client_id, "redirect_uri": REDIRECT,
        "scope": "openid profile", "state": "from-object", "nonce": "n-object",
    }));
    let uri = serve_text(object).await;
    let (url, _) = d.authorize_url(&[("request_uri", &uri)]);
    let url = rewrite(&url, &[("state", None), ("nonce", None)]);
    let r = d.browse(&url).await;
    assert_eq!(r.get("state").map(String::as_str), Some("from-object"));
    let t = d.redeem(r.get("code").unwrap()).await;
    d.verify(t["id_token"].as_str().unwrap(), "n-object").await;
}

#[tokio::test]
async fn oidcc_request_uri_unsigned() {
    let d = registered(
        |s| s.oauth.allow_unsigned_request_objects = true,
        serde_json::json!({}),
    )
    .await;
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let object = format!(
        "{}.{}.",
        b64(&serde_json::json!({ "alg": "none" })),
        b64(&serde_json::json!({ "state": "u", "nonce": "n-u" }))
    );
    let uri = serve_text(object).await;
    let (url, _) = d.authorize_url(&[("request_uri", &uri)]);
    let url = rewrite(&url, &[("state", None), ("nonce", None)]);
    let r = d.browse(&url).await;
    assert_eq!(r.get("state").map(String::as_str), Some("u"));
    let t = d.redeem(r.get("code").unwrap()).await;
    d.verify(t["id_token"].as_str().unwrap(), "n-u").await;
}

#[tokio::test]
async fn bad_request_objects_get_invalid_request_object() {
    let d = registered(standard, serde_json::json!({})).await;
    let now = chrono::Utc::now().timestamp();
    let stranger = RpKeys::new("rp-1");
    let good = serde_json::json!({ "iss": d.client_id, "aud": d.app.issuer, "exp": now + 300, "state": "o" });
    let mut cases = vec![("bad signature", stranger.sign(good.clone()))];
    for (k, v) in [
        ("aud", serde_json::json!("https://evil.example")),
        ("iss", serde_json::json!("someone")),
        ("exp", serde_json::json!(now - 10)),
        (
            "redirect_uri",
            serde_json::json!(format!("{REDIRECT}/other")),
        ),
    ] {
        let mut c = good.clone();
        c[k] = v;
        cases.push((k, d.keys.sign(c)));
    }
    for (what, object) in cases {
        let (url, _) = d.authorize_url(&[("request", &object)]);
        let page = d.app.browser().get(&url).await;
        // A self-registered client: the error is shown first, naming where it goes.
        assert_eq!(
            page.location(),
            None,
            "{what}: not redirected straight away"
        );
        let loc = page
            .continue_link()
            .unwrap_or_else(|| panic!("{what}: {}", page.body));
        assert!(loc.starts_with(REDIRECT), "{what}: {loc}");
        assert!(
            loc.contains("error=invalid_request_object"),
            "{what}: {loc}"
        );
    }
}

/// Pairwise subjects offered (they need a salt).
fn pairwise(s: &mut Settings) {
    s.oauth.pairwise_salt = Some(Secret::new("a-salt-for-pairwise-subjects".into()));
}

#[tokio::test]
async fn oidcc_registration_sector_uri() {
    let sector = serve_text(serde_json::json!([REDIRECT]).to_string()).await;
    let d = registered(
        pairwise,
        serde_json::json!({ "subject_type": "pairwise", "sector_identifier_uri": sector }),
    )
    .await;
    assert!(
        discovery(&d.app).await["subject_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"pairwise".into())
    );
    let user = d
        .app
        .store
        .find_user_by_username("buffy")
        .await
        .unwrap()
        .unwrap();
    let (url, nonce) = d.authorize_url(&[]);
    let r = d.browse(&url).await;
    let t = d.redeem(r.get("code").unwrap()).await;
    let idt = t["id_token"].as_str().unwrap().to_string();
    d.verify(&idt, &nonce).await;
    let sub = jwt_claims(&idt)["sub"].as_str().unwrap().to_string();
    assert_ne!(
        sub,
        user.id.to_string(),
        "a pairwise subject, not the user id"
    );
    let info = d
        .app
        .http()
        .get(d.app.url("/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(info["sub"], sub.as_str());
    // Stable: a second login gives the same subject.
    let (url, _) = d.authorize_url(&[]);
    let r = d.browse(&url).await;
    let t2 = d.redeem(r.get("code").unwrap()).await;
    assert_eq!(
        jwt_claims(t2["id_token"].as_str().unwrap())["sub"],
        sub.as_str()
    );
    // A public client (the config's `web`) sees the user id.
    let public = TestRp::new(
        &d.app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let mut b = d.app.browser();
    let s = public.start(&[], &[]);
    let code = public.authorize(&d.app, &mut b, &s, "buffy").await;
    let pt = public.exchange(&code, s.verifier).await.unwrap();
    assert_eq!(jwt_claims(&id_token(&pt))["sub"], user.id.to_string());
}

#[tokio::test]
async fn a_pairwise_id_token_hint_is_recognised() {
    let d = registered(pairwise, serde_json::json!({ "subject_type": "pairwise" })).await;
    let mut b = d.app.browser();
    let (url, _) = d.authorize_url(&[]);
    let page = b.get(&url).await;
    let login = b.follow(page).await;
    let res = b.submit_login(&login, "buffy", PASSWORD).await;
    let consent = b.follow(res).await;
    let csrf = consent.input("csrf_token").unwrap();
    let flow = consent.input("flow").unwrap();
    let res = b
        .post(
            "/consent",
            &[
                ("decision", "allow"),
                ("flow", &flow),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    let done = b.follow(res).await;
    let p = client_response(&done, Mode::Query).unwrap();
    let t = d.redeem(p.get("code").unwrap()).await;
    let hint = t["id_token"].as_str().unwrap().to_string();
    // prompt=none with the pairwise hint: the same user, silently.
    let (url, _) = d.authorize_url(&[("prompt", "none"), ("id_token_hint", &hint)]);
    let page = b.get(&url).await;
    let p = client_response(&page, Mode::Query).unwrap();
    assert!(p.contains_key("code"), "{p:?}");
}

#[tokio::test]
async fn oidcc_registration_sector_bad() {
    let sector = serve_text(serde_json::json!(["https://elsewhere.example/cb"]).to_string()).await;
    let app = TestApp::spawn_with(|s| {
        s.registration = RegistrationSettings::Open;
        pairwise(s);
    })
    .await;
    let res = register(
        &app,
        &serde_json::json!({ "redirect_uris": [REDIRECT], "subject_type": "pairwise", "sector_identifier_uri": sector }),
    )
    .await;
    assert_oauth_error(res, 400, "invalid_client_metadata").await;
}

/// A huge or slow request_uri document is refused (64 KB limit, 5 s timeout) and the
/// authorization request answers with invalid_request_uri instead of hanging.
#[tokio::test]
async fn huge_or_slow_request_uris_are_refused() {
    let d = registered(standard, serde_json::json!({})).await;
    let huge = serve_text("x".repeat(200_000)).await;
    let listener = reserve_port().await;
    let slow = format!(
        "http://127.0.0.1:{}/slow",
        listener.local_addr().unwrap().port()
    );
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            "too late"
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    for uri in [huge, slow] {
        let started = std::time::Instant::now();
        let (url, _) = d.authorize_url(&[("request_uri", &uri)]);
        let page = d.app.browser().get(&url).await;
        let loc = page.continue_link().expect("an error for the client");
        assert!(loc.contains("error=invalid_request_uri"), "{uri}: {loc}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{uri}: did not hang"
        );
    }
}

#[tokio::test]
async fn a_request_uri_on_a_private_address_is_refused() {
    let d = registered(
        |s| s.oauth.fetch_private_addresses = false,
        serde_json::json!({
            "token_endpoint_auth_method": "client_secret_basic", "jwks_uri": null,
        }),
    )
    .await;
    for uri in [
        "https://127.0.0.1:9/request.jwt",
        "http://169.254.169.254/latest/meta-data",
        "https://[::1]/r",
    ] {
        let (url, _) = d.authorize_url(&[("request_uri", uri)]);
        let page = d.app.browser().get(&url).await;
        let loc = page.continue_link().expect("an error for the client");
        assert!(loc.contains("error=invalid_request_uri"), "{uri}: {loc}");
    }
}
