//! The token endpoint and the endpoints that read its tokens.
use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
use openidconnect::{AuthType, OAuth2TokenResponse};
use serde_json::Value;

use crate::harness::JsonBody;
use crate::harness::assert_oauth_error;
use crate::harness::{SECRET, TestApp};
use crate::rp::{REDIRECT, TestRp};

async fn signed_in_tokens(
    app: &TestApp,
    rp: &TestRp,
    scopes: &[&str],
) -> openidconnect::core::CoreTokenResponse {
    let mut b = app.browser();
    let s = rp.start(scopes, &[]);
    let code = rp.authorize(app, &mut b, &s, "ada").await;
    rp.exchange(&code, s.verifier).await.unwrap()
}

async fn web_rp(app: &TestApp) -> TestRp {
    TestRp::new(
        app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await
}

async fn post_token(
    app: &TestApp,
    form: &[(&str, &str)],
) -> (u16, reqwest_headers::Headers, Value) {
    let res = app
        .http()
        .post(app.url("/token"))
        .basic_auth("web", Some(SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = reqwest_headers::Headers(res.headers().clone());
    let body = res.json_value().await;
    (status, headers, body)
}

mod reqwest_headers {
    pub struct Headers(pub openidconnect::reqwest::header::HeaderMap);
    impl Headers {
        pub fn get(&self, k: &str) -> Option<&str> {
            self.0.get(k).and_then(|v| v.to_str().ok())
        }
    }
}

async fn userinfo_status(app: &TestApp, access_token: &str) -> u16 {
    app.http()
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_grant() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let t1 = signed_in_tokens(&app, &rp, &["email"]).await;
    let rt1 = t1.refresh_token().unwrap().secret().clone();
    let t2 = rp.refresh(&rt1).await.unwrap();
    let rt2 = t2.refresh_token().unwrap().secret().clone();
    assert_ne!(rt1, rt2, "refresh tokens rotate");
    let claims = rp.verify(&t2, None);
    let raw = crate::harness::jwt_claims(
        &openidconnect::TokenResponse::id_token(&t2)
            .unwrap()
            .to_string(),
    );
    assert!(
        raw.get("nonce").is_none(),
        "no nonce on refresh (OIDC Core 12.2 errata)"
    );
    assert!(claims.auth_time().is_some());
    assert_eq!(userinfo_status(&app, t2.access_token().secret()).await, 200);
    // Presenting the rotated-out token again revokes everything in the grant.
    let err = rp.refresh(&rt1).await.unwrap_err();
    assert!(err.contains("invalid_grant"), "{err}");
    assert!(
        rp.refresh(&rt2)
            .await
            .unwrap_err()
            .contains("invalid_grant"),
        "the newest token died with the grant"
    );
    assert_eq!(userinfo_status(&app, t2.access_token().secret()).await, 401);
    assert_eq!(userinfo_status(&app, t1.access_token().secret()).await, 401);
}

#[tokio::test]
async fn refresh_can_narrow_but_not_widen_scope() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let t = signed_in_tokens(&app, &rp, &["email"]).await;
    let rt = t.refresh_token().unwrap().secret().clone();
    let (status, _, body) = post_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid profile"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, _, body) = post_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid");
}

#[tokio::test]
async fn a_refresh_token_of_another_client_is_refused_and_not_consumed() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let t = signed_in_tokens(&app, &rp, &[]).await;
    let rt = t.refresh_token().unwrap().secret().clone();
    let res = app
        .http()
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("client_id", "post"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    rp.refresh(&rt)
        .await
        .expect("still valid for its own client");
}

#[tokio::test]
async fn a_reused_code_fails_and_revokes_the_tokens_it_issued() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let verifier = s.verifier.secret().clone();
    let t = rp.exchange(&code, s.verifier).await.unwrap();
    let again = rp
        .exchange(&code, openidconnect::PkceCodeVerifier::new(verifier))
        .await
        .unwrap_err();
    assert!(again.contains("invalid_grant"), "{again}");
    assert_eq!(
        userinfo_status(&app, t.access_token().secret()).await,
        401,
        "tokens from a reused code are revoked"
    );
    assert!(
        rp.refresh(t.refresh_token().unwrap().secret())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    app.clock.advance(chrono::Duration::seconds(61));
    let err = rp.exchange(&code, s.verifier).await.unwrap_err();
    assert!(err.contains("invalid_grant"), "{err}");
}

#[tokio::test]
async fn the_redirect_uri_must_match_at_the_token_endpoint() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let (status, _, body) = post_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", s.verifier.secret()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn revocation_ends_the_whole_grant() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let t = signed_in_tokens(&app, &rp, &[]).await;
    let rt = t.refresh_token().unwrap().secret().clone();
    let res = app
        .http()
        .post(app.url("/revoke"))
        .basic_auth("web", Some(SECRET))
        .form(&[("token", rt.as_str()), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(rp.refresh(&rt).await.is_err());
    assert_eq!(userinfo_status(&app, t.access_token().secret()).await, 401);
    // Unknown tokens are fine (RFC 7009 2.2); another client's token is left alone.
    let res = app
        .http()
        .post(app.url("/revoke"))
        .basic_auth("web", Some(SECRET))
        .form(&[("token", "nonsense")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let t2 = signed_in_tokens(&app, &rp, &[]).await;
    let res = app
        .http()
        .post(app.url("/revoke"))
        .form(&[
            ("token", t2.access_token().secret().as_str()),
            ("client_id", "post"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        userinfo_status(&app, t2.access_token().secret()).await,
        200,
        "another client cannot revoke it"
    );
    // Revoking an access token revokes its grant.
    let res = app
        .http()
        .post(app.url("/revoke"))
        .basic_auth("web", Some(SECRET))
        .form(&[("token", t2.access_token().secret().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(userinfo_status(&app, t2.access_token().secret()).await, 401);
}

/// Userinfo reads its user through a cache; a profile change on this replica shows at once.
#[tokio::test]
async fn userinfo_shows_a_profile_change_at_once() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let mut b = app.browser();
    let s = rp.start(&["profile"], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let t = rp.exchange(&code, s.verifier).await.unwrap();
    let name = async || {
        let res = app
            .http()
            .get(app.url("/userinfo"))
            .bearer_auth(t.access_token().secret())
            .send()
            .await
            .unwrap();
        res.json_value().await["name"].clone()
    };
    assert_eq!(name().await, "ada Example");
    let csrf = b.get("/account").await.input("csrf_token").unwrap();
    let res = b
        .post(
            "/account/profile",
            &[("name", "Ada Lovelace"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.location().as_deref(), Some("/account?notice=profile"));
    assert_eq!(name().await, "Ada Lovelace");
}

/// A revocation made elsewhere (another replica, the CLI) reaches this replica's grant cache
/// within the documented bound.
#[tokio::test]
async fn a_grant_revoked_by_another_process_stops_working_within_the_bound() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada").await;
    let rp = web_rp(&app).await;
    let t = signed_in_tokens(&app, &rp, &[]).await;
    let token = t.access_token().secret();
    assert_eq!(userinfo_status(&app, token).await, 200, "read and cached");
    // Straight in the database, as another replica would: this process is not told.
    let revoked = app
        .store
        .revoke_user_grants(ada.id, chrono::Utc::now())
        .await;
    assert_eq!(revoked.unwrap(), 1);
    tokio::time::sleep(lanyard_core::grants::TTL + std::time::Duration::from_millis(100)).await;
    assert_eq!(userinfo_status(&app, token).await, 401);
}

#[tokio::test]
async fn introspection_reports_active_tokens_and_needs_a_confidential_client() {
    let app = TestApp::spawn().await;
    let user = app.user("ada").await;
    let rp = web_rp(&app).await;
    let t = signed_in_tokens(&app, &rp, &["email"]).await;
    let introspect = |token: String| {
        let app = &app;
        async move {
            let res = app
                .http()
                .post(app.url("/introspect"))
                .basic_auth("web", Some(SECRET))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json_value().await
        }
    };
    let at = introspect(t.access_token().secret().clone()).await;
    assert_eq!(at["active"], true);
    assert_eq!(at["sub"], user.id.to_string());
    assert_eq!(at["client_id"], "web");
    assert_eq!(at["scope"], "openid email");
    let rt = introspect(t.refresh_token().unwrap().secret().clone()).await;
    assert_eq!(rt["active"], true);
    assert_eq!(rt["token_type"], "refresh_token");
    assert_eq!(
        introspect("garbage".into()).await,
        serde_json::json!({ "active": false })
    );
    let res = app
        .http()
        .post(app.url("/introspect"))
        .form(&[
            ("token", t.access_token().secret().as_str()),
            ("client_id", "spa"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "public clients may not introspect");
    app.http()
        .post(app.url("/revoke"))
        .basic_auth("web", Some(SECRET))
        .form(&[("token", t.access_token().secret().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        introspect(t.access_token().secret().clone()).await["active"],
        false
    );
    // Expired access tokens are inactive.
    let t = signed_in_tokens(&app, &rp, &[]).await;
    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(
        introspect(t.access_token().secret().clone()).await["active"],
        false
    );
}

#[tokio::test]
async fn client_credentials_for_confidential_clients_only() {
    let app = TestApp::spawn().await;
    let (status, headers, body) = post_token(
        &app,
        &[("grant_type", "client_credentials"), ("scope", "email")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers.get("cache-control"), Some("no-store"));
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());
    let claims = crate::harness::jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "web");
    let (status, _, body) = post_token(
        &app,
        &[("grant_type", "client_credentials"), ("scope", "openid")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let res = app
        .http()
        .post(app.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "spa")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(res, 400, "unauthorized_client").await;
}

/// A client's own token is issued without writing anything, and is still revocable: its jti
/// goes on the revocation list that introspection checks; another client cannot revoke it.
#[tokio::test]
async fn client_credentials_tokens_write_nothing_and_can_be_revoked() {
    let app = TestApp::spawn().await;
    let (status, _, body) = post_token(
        &app,
        &[("grant_type", "client_credentials"), ("scope", "email")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_string();
    let claims = crate::harness::jwt_claims(&token);
    assert!(claims.get("gid").is_none(), "no grant behind it: {claims}");
    let introspect = |token: String| {
        let app = &app;
        async move {
            app.http()
                .post(app.url("/introspect"))
                .basic_auth("web", Some(SECRET))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap()
                .json_value()
                .await
        }
    };
    let seen = introspect(token.clone()).await;
    assert_eq!(
        (seen["active"].clone(), seen["sub"].clone()),
        (true.into(), "web".into())
    );
    // Another client's revocation is answered 200 and ignored (RFC 7009 2.2).
    let other = app
        .http()
        .post(app.url("/revoke"))
        .basic_auth("post", Some(SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(introspect(token.clone()).await["active"], true);
    let res = app
        .http()
        .post(app.url("/revoke"))
        .basic_auth("web", Some(SECRET))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(introspect(token).await["active"], false);
}

#[tokio::test]
async fn token_endpoint_bad_input_gets_rfc_6749_errors() {
    let app = TestApp::spawn().await;
    let (s, _, b) = post_token(&app, &[]).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_request")));
    let (s, _, b) = post_token(&app, &[("grant_type", "password")]).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (s, _, b) = post_token(&app, &[("grant_type", "authorization_code")]).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_request")));
    let (s, _, b) = post_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", "forged"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _, b) = post_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_request")),
        "duplicated parameters"
    );

    // Wrong secret, unknown client, no credentials: 401 invalid_client with WWW-Authenticate.
    for req in [
        app.http()
            .post(app.url("/token"))
            .basic_auth("web", Some("wrong")),
        app.http()
            .post(app.url("/token"))
            .basic_auth("ghost", Some(SECRET)),
        app.http().post(app.url("/token")),
    ] {
        let res = req
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(
            res.headers()
                .get("www-authenticate")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_eq!(res.json_value().await["error"], "invalid_client");
    }
    // Two authentication methods at once.
    let res = app
        .http()
        .post(app.url("/token"))
        .basic_auth("web", Some(SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Not form encoded.
    let res = app
        .http()
        .post(app.url("/token"))
        .basic_auth("web", Some(SECRET))
        .header("content-type", "application/json")
        .body("{\"grant_type\":\"client_credentials\"}")
        .send()
        .await
        .unwrap();
    assert_oauth_error(res, 400, "invalid_request").await;
    // Oversized body.
    let big = "x".repeat(200 * 1024);
    let res = app
        .http()
        .post(app.url("/token"))
        .basic_auth("web", Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("pad", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    // Wrong method.
    let res = app.http().get(app.url("/token")).send().await.unwrap();
    assert_eq!(res.status(), 405);
}

#[tokio::test]
async fn userinfo_accepts_header_or_body_and_rejects_bad_tokens() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let t = signed_in_tokens(&app, &rp, &["profile"]).await;
    let at = t.access_token().secret().clone();
    let res = app
        .http()
        .post(app.url("/userinfo"))
        .form(&[("access_token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json_value().await["preferred_username"], "ada");
    let res = app.http().get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let res = app
        .http()
        .get(app.url("/userinfo"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let res = app
        .http()
        .post(app.url("/userinfo"))
        .bearer_auth(&at)
        .form(&[("access_token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "two ways at once");
    // A client_credentials token has no openid scope.
    let (_, _, body) = post_token(&app, &[("grant_type", "client_credentials")]).await;
    let res = app
        .http()
        .get(app.url("/userinfo"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // Expired.
    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(userinfo_status(&app, &at).await, 401);
}
