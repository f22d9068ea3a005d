//! RP-Initiated Logout.
use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
use openidconnect::{AuthType, TokenResponse};

use crate::harness::{SECRET, TestApp, query_of};
use crate::rp::TestRp;

async fn login_with_token(app: &TestApp) -> (crate::harness::Browser, String) {
    app.user("ada").await;
    let rp = TestRp::new(
        app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let code = rp.authorize(app, &mut b, &s, "ada").await;
    let t = rp.exchange(&code, s.verifier).await.unwrap();
    (b, t.id_token().unwrap().to_string())
}

#[tokio::test]
async fn logout_with_id_token_hint_ends_the_session_and_returns_with_state() {
    let app = TestApp::spawn().await;
    let (mut b, id_token) = login_with_token(&app).await;
    let url = format!(
        "/logout?id_token_hint={id_token}&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye&state=xyz"
    );
    let res = b.get(&url).await;
    assert_eq!(res.status, 303);
    let loc = res.location().unwrap();
    assert!(loc.starts_with("http://127.0.0.1:9/bye"));
    assert_eq!(query_of(&loc)["state"], "xyz");
    let page = b.get("/account").await;
    assert_eq!(
        page.location().as_deref(),
        Some("/login"),
        "the session is gone"
    );
}

#[tokio::test]
async fn logout_without_a_hint_asks_for_confirmation() {
    let app = TestApp::spawn().await;
    let (mut b, _) = login_with_token(&app).await;
    let page = b.get("/logout?client_id=web&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye&state=s1").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("value=\"yes\""), "{}", page.body);
    assert_eq!(
        b.get("/account").await.status,
        200,
        "not logged out by a mere GET"
    );
    let csrf = page.input("csrf_token").unwrap();
    let res = b
        .post(
            "/logout",
            &[
                ("confirm", "yes"),
                ("csrf_token", &csrf),
                ("client_id", "web"),
                ("post_logout_redirect_uri", "http://127.0.0.1:9/bye"),
                ("state", "s1"),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    assert_eq!(query_of(&res.location().unwrap())["state"], "s1");
    assert_eq!(b.get("/account").await.status, 303);
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_uri_is_never_followed() {
    let app = TestApp::spawn().await;
    let (mut b, id_token) = login_with_token(&app).await;
    let res = b.get(&format!("/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F")).await;
    assert_eq!(res.status, 400);
    assert!(res.location().is_none());
    let res = b
        .get("/logout?post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fbye")
        .await;
    assert_eq!(res.status, 400, "no client to check the URI against");
    let res = b.get("/logout?id_token_hint=forged.token.here").await;
    assert_eq!(res.status, 400);
    assert_eq!(
        b.get("/account").await.status,
        200,
        "still signed in after refused requests"
    );
}

#[tokio::test]
async fn logout_without_a_session_just_confirms() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    let page = b.get("/logout").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("signed out"));
}
