//! The authorization code flow end to end, and the authorization endpoint's refusals.
use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
use openidconnect::{AuthType, OAuth2TokenResponse, TokenResponse};

use crate::harness::JsonBody;
use crate::harness::{SECRET, TestApp, jwt_claims, jwt_header, query_of};
use crate::rp::{REDIRECT, TestRp};

/// One full flow per signing algorithm and client authentication method, verified by the
/// openidconnect crate against the published JWKS.
#[tokio::test]
async fn code_flow_with_pkce_for_every_alg_and_auth_method() {
    let app = TestApp::spawn().await;
    let user = app.user("ada").await;
    let cases = [
        (
            "web",
            Some(SECRET),
            AuthType::BasicAuth,
            Alg::RsaSsaPkcs1V15Sha256,
            "RS256",
        ),
        (
            "post",
            Some(SECRET),
            AuthType::RequestBody,
            Alg::EcdsaP256Sha256,
            "ES256",
        ),
        ("spa", None, AuthType::RequestBody, Alg::EdDsa, "EdDSA"),
    ];
    for (client_id, secret, auth, alg, alg_name) in cases {
        let rp = TestRp::new(&app, client_id, secret, auth, alg).await;
        let mut browser = app.browser();
        let scopes: &[&str] = if client_id == "spa" {
            &["email", "offline_access"]
        } else {
            &["email", "profile"]
        };
        let started = rp.start(scopes, &[]);
        let code = rp.authorize(&app, &mut browser, &started, "ada").await;
        let tokens = rp
            .exchange(&code, started.verifier)
            .await
            .unwrap_or_else(|e| panic!("{client_id}: {e}"));
        let claims = rp.verify(&tokens, Some(&started.nonce));
        assert_eq!(
            claims.subject().as_str(),
            user.id.to_string(),
            "sub is the stable opaque id"
        );
        assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
        assert!(claims.auth_time().is_some());
        let raw = jwt_claims(tokens.id_token().unwrap().to_string().as_str());
        assert_eq!(raw["amr"], serde_json::json!(["pwd"]));
        assert_eq!(raw["acr"], "urn:lanyard:acr:pwd");
        assert_eq!(raw["azp"], client_id);
        assert!(raw["sid"].as_str().is_some_and(|s| s.len() > 20));
        assert_eq!(
            jwt_header(&tokens.id_token().unwrap().to_string())["alg"],
            alg_name
        );
        // RFC 9068 access token.
        let at = tokens.access_token().secret();
        assert_eq!(jwt_header(at)["typ"], "at+jwt");
        let at_claims = jwt_claims(at);
        assert_eq!(at_claims["client_id"], client_id);
        assert!(at_claims["jti"].is_string());
        assert!(
            tokens.refresh_token().is_some(),
            "{client_id} gets a refresh token"
        );
        // Userinfo serves the granted scopes only.
        let info = app
            .http()
            .get(app.url("/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), 200);
        let info: serde_json::Value = info.json_value().await;
        assert_eq!(info["sub"], user.id.to_string());
        assert_eq!(info["email"], "ada@example.com");
        assert_eq!(info["email_verified"], true);
        if client_id == "spa" {
            assert!(info.get("name").is_none(), "profile was not granted");
        }
    }
}

#[tokio::test]
async fn public_client_without_offline_access_gets_no_refresh_token() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = TestRp::new(&app, "spa", None, AuthType::RequestBody, Alg::EdDsa).await;
    let mut b = app.browser();
    let s = rp.start(&["email"], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    assert!(tokens.refresh_token().is_none());
}

async fn authorize_error(app: &TestApp, query: &str) -> std::collections::BTreeMap<String, String> {
    let mut b = app.browser();
    let page = b.get(&format!("/authorize?{query}")).await;
    assert_eq!(page.status, 303, "expected a redirect: {}", page.body);
    let loc = page.location().unwrap();
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q.get("state").map(String::as_str), Some("st"));
    assert_eq!(q.get("iss").map(String::as_str), Some(app.issuer.as_str()));
    q
}

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

#[tokio::test]
async fn pkce_is_required_for_public_clients_and_s256_only() {
    let app = TestApp::spawn().await;
    let base = "client_id=spa&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&response_type=code&scope=openid&state=st";
    let q = authorize_error(&app, base).await;
    assert_eq!(q["error"], "invalid_request");
    let q = authorize_error(
        &app,
        &format!("{base}&code_challenge={CHALLENGE}&code_challenge_method=plain"),
    )
    .await;
    assert_eq!(q["error"], "invalid_request");
    let q = authorize_error(&app, &format!("{base}&code_challenge={CHALLENGE}")).await;
    assert_eq!(
        q["error"], "invalid_request",
        "a challenge without a method defaults to plain and is refused"
    );
}

#[tokio::test]
async fn wrong_or_missing_code_verifier_is_invalid_grant() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = TestRp::new(
        &app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let wrong = openidconnect::PkceCodeVerifier::new("x".repeat(43));
    let err = rp.exchange(&code, wrong).await.unwrap_err();
    assert!(err.contains("invalid_grant"), "{err}");
    // Without a verifier at all (plain HTTP, since the RP library always sends one).
    let s = rp.start(&[], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let res = app
        .http()
        .post(app.url("/token"))
        .basic_auth("web", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json_value().await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn unknown_client_or_unregistered_redirect_uri_shows_a_page_and_never_redirects() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    for query in [
        "client_id=web&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code&scope=openid&state=st",
        "client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb%2F&response_type=code&scope=openid",
        "client_id=nobody&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&response_type=code&scope=openid",
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&response_type=code&scope=openid",
        "client_id=web&response_type=code&scope=openid",
        "client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code",
    ] {
        let page = b.get(&format!("/authorize?{query}")).await;
        assert_eq!(page.status, 400, "{query}");
        assert!(page.location().is_none(), "{query} must not redirect");
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(
            page.body.contains("can&#x27;t be completed")
                || page.body.contains("can't be completed"),
            "{}",
            page.body
        );
    }
}

#[tokio::test]
async fn protocol_errors_are_redirected_with_state_and_iss() {
    let app = TestApp::spawn().await;
    let base = "client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&state=st";
    assert_eq!(
        authorize_error(&app, &format!("{base}&response_type=token&scope=openid")).await["error"],
        "unsupported_response_type"
    );
    assert_eq!(
        authorize_error(&app, &format!("{base}&scope=openid")).await["error"],
        "invalid_request"
    );
    assert_eq!(
        authorize_error(
            &app,
            &format!("{base}&response_type=code&scope=openid%20admin")
        )
        .await["error"],
        "invalid_scope"
    );
    assert_eq!(
        authorize_error(&app, &format!("{base}&response_type=code")).await["error"],
        "invalid_scope"
    );
    assert_eq!(
        authorize_error(
            &app,
            &format!("{base}&response_type=code&scope=openid&prompt=none%20login")
        )
        .await["error"],
        "invalid_request"
    );
    assert_eq!(
        authorize_error(
            &app,
            &format!("{base}&response_type=code&scope=openid&max_age=soon")
        )
        .await["error"],
        "invalid_request"
    );
    assert_eq!(
        authorize_error(
            &app,
            &format!("{base}&response_type=code&scope=openid&id_token_hint=a.b.c")
        )
        .await["error"],
        "invalid_request"
    );
    assert_eq!(
        authorize_error(
            &app,
            &format!("{base}&response_type=code&scope=openid&request=e30.e30.")
        )
        .await["error"],
        "invalid_request_object"
    );
    assert_eq!(
        authorize_error(
            &app,
            &format!("{base}&response_type=code&scope=openid&scope=email")
        )
        .await["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = TestApp::spawn().await;
    let q = authorize_error(&app, "client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&state=st&response_type=code&scope=openid&prompt=none").await;
    assert_eq!(q["error"], "login_required");
}

#[tokio::test]
async fn prompt_none_with_a_session_issues_a_code_without_a_page() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = TestRp::new(
        &app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    rp.authorize(&app, &mut b, &s, "ada").await;
    let s = rp.start(&[], &[("prompt", "none")]);
    let page = b.get(&s.url).await;
    assert_eq!(page.status, 303);
    let q = query_of(&page.location().unwrap());
    assert!(q.contains_key("code"), "{q:?}");
    rp.exchange(&q["code"], s.verifier).await.unwrap();
}

#[tokio::test]
async fn max_age_forces_a_new_login_and_prompt_login_too() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = TestRp::new(
        &app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    rp.authorize(&app, &mut b, &s, "ada").await;
    app.clock.advance(chrono::Duration::seconds(120));
    let s = rp.start(&[], &[("max_age", "60")]);
    let page = {
        let __p = b.get(&s.url).await;
        b.follow(__p)
    }
    .await;
    assert!(
        page.body.contains("name=\"password\""),
        "max_age=60 after 120 s asks for the password again"
    );
    let s = rp.start(&[], &[("prompt", "login")]);
    let page = {
        let __p = b.get(&s.url).await;
        b.follow(__p)
    }
    .await;
    assert!(
        page.body.contains("name=\"password\""),
        "prompt=login asks for the password again"
    );
    // Logging in again satisfies it and auth_time moves forward.
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let claims = rp.verify(
        &rp.exchange(&code, s.verifier).await.unwrap(),
        Some(&s.nonce),
    );
    assert_eq!(
        claims.auth_time().unwrap().timestamp(),
        lanyard_core::clock::Clock::now(&app.clock).timestamp()
    );
    let s = rp.start(&[], &[("max_age", "60"), ("prompt", "none")]);
    app.clock.advance(chrono::Duration::seconds(120));
    let page = b.get(&s.url).await;
    assert_eq!(
        query_of(&page.location().unwrap())["error"],
        "login_required"
    );
}

#[tokio::test]
async fn consent_is_asked_once_and_a_refusal_is_access_denied() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = TestRp::new(
        &app,
        "thirdparty",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let mut b = app.browser();
    // Refuse first.
    let s = rp.start(&["email"], &[]);
    let page = {
        let __p = b.get(&s.url).await;
        b.follow(__p)
    }
    .await;
    let page = {
        let __p = b.submit_login(&page, "ada", crate::harness::PASSWORD).await;
        b.follow(__p)
    }
    .await;
    assert!(
        page.body.contains("Third Party Notes"),
        "consent names the app"
    );
    assert!(
        page.body.contains("Your email address"),
        "consent lists scopes in plain words"
    );
    let csrf = page.input("csrf_token").unwrap();
    let flow = page.input("flow").unwrap();
    let denied = b
        .post(
            "/consent",
            &[("decision", "deny"), ("flow", &flow), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(
        query_of(&denied.location().unwrap())["error"],
        "access_denied"
    );
    // prompt=none now says consent_required.
    let s = rp.start(&["email"], &[("prompt", "none")]);
    let page = b.get(&s.url).await;
    assert_eq!(
        query_of(&page.location().unwrap())["error"],
        "consent_required"
    );
    // Allow, then it is remembered.
    let s = rp.start(&["email"], &[]);
    rp.authorize(&app, &mut b, &s, "ada").await;
    let s = rp.start(&["email"], &[("prompt", "none")]);
    let page = b.get(&s.url).await;
    assert!(
        query_of(&page.location().unwrap()).contains_key("code"),
        "consent was remembered"
    );
    // A wider request asks again.
    let s = rp.start(&["email", "profile"], &[]);
    let page = {
        let __p = b.get(&s.url).await;
        b.follow(__p)
    }
    .await;
    assert!(page.body.contains("value=\"allow\""));
}

#[tokio::test]
async fn form_post_response_mode_renders_an_auto_submitting_form() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = TestRp::new(
        &app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    rp.authorize(&app, &mut b, &s, "ada").await;
    let s = rp.start(&[], &[("response_mode", "form_post")]);
    let page = b.get(&s.url).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .replace("&#x2f;", "/")
            .contains("action=\"http://127.0.0.1:9/cb\""),
        "{}",
        page.body
    );
    assert_eq!(
        page.input("state").as_deref(),
        Some(s.state.secret().as_str())
    );
    assert_eq!(page.input("iss").as_deref(), Some(app.issuer.as_str()));
    let code = page.input("code").unwrap();
    assert!(page.body.contains("/static/form_post.js"));
    assert_eq!(page.headers["cache-control"], "no-store");
    rp.exchange(&code, s.verifier).await.unwrap();
}
