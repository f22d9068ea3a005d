//! The account page and user lifecycle through the pages.
use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
use openidconnect::{AuthType, OAuth2TokenResponse};

use crate::harness::{PASSWORD, SECRET, TestApp};
use crate::rp::TestRp;

#[tokio::test]
async fn changing_the_password_ends_other_sessions_and_revokes_grants() {
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
    let mut other = app.browser();
    let s = rp.start(&[], &[]);
    let code = rp.authorize(&app, &mut other, &s, "ada").await;
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();

    let mut b = app.browser();
    b.login("ada").await;
    let page = b.get("/account").await;
    let csrf = page.input("csrf_token").unwrap();
    let res = b
        .post(
            "/account/password",
            &[
                ("current_password", "wrong"),
                ("new_password", "a new long password"),
                ("confirm_password", "a new long password"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(
        res.location().as_deref(),
        Some("/account?error=wrong_password")
    );
    let res = b
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "short"),
                ("confirm_password", "short"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.location().as_deref(), Some("/account?error=weak"));
    let res = b
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a new long password"),
                ("confirm_password", "a new long password"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.location().as_deref(), Some("/account?notice=password"));
    let page = b.get("/account?notice=password").await;
    assert_eq!(page.status, 200, "this session survives");
    assert!(page.body.contains("Your password was changed"));
    assert_eq!(
        other.get("/account").await.status,
        303,
        "the other session ended"
    );
    assert!(
        rp.refresh(tokens.refresh_token().unwrap().secret())
            .await
            .is_err(),
        "grants revoked"
    );
    // The new password works, the old one does not.
    let mut fresh = app.browser();
    let login = fresh.get("/login").await;
    assert_eq!(
        fresh.submit_login(&login, "ada", PASSWORD).await.status,
        401
    );
    let login = fresh.get("/login").await;
    assert_eq!(
        fresh
            .submit_login(&login, "ada", "a new long password")
            .await
            .status,
        303
    );
}

#[tokio::test]
async fn the_profile_can_be_edited_and_feeds_the_claims() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut b = app.browser();
    b.login("ada").await;
    let page = b.get("/account").await;
    let csrf = page.input("csrf_token").unwrap();
    let res = b
        .post(
            "/account/profile",
            &[
                ("name", "Ada Lovelace"),
                ("given_name", "Ada"),
                ("email", "ada@analytical.engine"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.location().as_deref(), Some("/account?notice=profile"));
    let res = b
        .post(
            "/account/profile",
            &[("email", "not an email"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.location().as_deref(), Some("/account?error=email"));
    let u = app
        .store
        .find_user_by_username("ada")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(u.email.as_deref(), Some("ada@analytical.engine"));
    assert!(!u.email_verified, "a changed email is no longer verified");
}

#[tokio::test]
async fn consents_are_listed_and_can_be_revoked() {
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
    let s = rp.start(&["email"], &[]);
    rp.authorize(&app, &mut b, &s, "ada").await;
    let page = b.get("/account").await;
    assert!(page.body.contains("Third Party Notes"));
    let csrf = page.input("csrf_token").unwrap();
    b.post(
        "/account/consents/revoke",
        &[("client_id", "thirdparty"), ("csrf_token", &csrf)],
    )
    .await;
    let s = rp.start(&["email"], &[("prompt", "none")]);
    let res = b.get(&s.url).await;
    assert_eq!(
        crate::harness::query_of(&res.location().unwrap())["error"],
        "consent_required"
    );
}

#[tokio::test]
async fn a_bcrypt_user_logs_in_and_is_upgraded_to_argon2id() {
    let app = TestApp::spawn().await;
    let mut u = lanyard_core::model::User::new("legacy", chrono::Utc::now());
    u.password_hash = Some(bcrypt::hash("old app password", 4).unwrap());
    app.store.create_user(&u).await.unwrap();
    let mut b = app.browser();
    let page = b.get("/login").await;
    assert_eq!(
        b.submit_login(&page, "legacy", "old app password")
            .await
            .status,
        303
    );
    let stored = app
        .store
        .get_user(u.id)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "upgraded: {stored}");
    let mut b = app.browser();
    let page = b.get("/login").await;
    assert_eq!(
        b.submit_login(&page, "legacy", "old app password")
            .await
            .status,
        303,
        "still works after upgrade"
    );
}
