//! Browser-side security: cookies, CSRF, headers, session rotation, login failures.
use crate::harness::{PASSWORD, TestApp};

#[tokio::test]
async fn login_sets_a_hardened_cookie_and_rotates_the_session_id() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut b = app.browser();
    let page = b.get("/login").await;
    assert_eq!(page.status, 200);
    let before = b
        .cookies
        .get("lanyard_session")
        .cloned()
        .expect("a session for the CSRF token");
    let cookie = b.last_set_cookie.join("\n");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "no Secure flag on an http issuer: {cookie}"
    );
    let res = b.submit_login(&page, "ada", PASSWORD).await;
    assert_eq!(res.status, 303);
    assert_eq!(res.location().as_deref(), Some("/account"));
    let after = b.cookies.get("lanyard_session").cloned().unwrap();
    assert_ne!(before, after, "session id rotated at login");
    let account = b.get("/account").await;
    assert_eq!(account.status, 200);
    assert!(account.body.contains("ada@example.com"));
}

#[tokio::test]
async fn pages_carry_security_headers() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    let page = b.get("/login").await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'")
            && csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(page.headers.get("x-request-id").is_some());
}

#[tokio::test]
async fn a_form_without_the_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut b = app.browser();
    let page = b.get("/login").await;
    let res = b
        .post("/login", &[("username", "ada"), ("password", PASSWORD)])
        .await;
    assert_eq!(res.status, 403);
    let res = b
        .post(
            "/login",
            &[
                ("username", "ada"),
                ("password", PASSWORD),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(b.get("/account").await.status, 303, "not signed in");
    // The real token works.
    let res = b.submit_login(&page, "ada", PASSWORD).await;
    assert_eq!(res.status, 303);
    // Account forms need it too.
    let res = b.post("/account/profile", &[("name", "Mallory")]).await;
    assert_eq!(res.status, 403);
}

#[tokio::test]
async fn failed_logins_say_the_same_thing_whatever_was_wrong() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut b = app.browser();
    let page = b.get("/login").await;
    let wrong_pw = b.submit_login(&page, "ada", "not the password").await;
    let page = b.get("/login").await;
    let no_user = b.submit_login(&page, "nobody", "not the password").await;
    assert_eq!(wrong_pw.status, 401);
    assert_eq!(no_user.status, 401);
    assert!(wrong_pw.body.contains("Incorrect username or password."));
    assert!(no_user.body.contains("Incorrect username or password."));
    assert!(
        !wrong_pw.body.contains("not the password"),
        "the password is never echoed"
    );
    let page = b.get("/login").await;
    let empty = b.submit_login(&page, "", "").await;
    assert_eq!(empty.status, 400);
    // Audited, without the password.
    let events = app
        .store
        .list_audit(&lanyard_core::model::AuditFilter {
            kind: Some("login_failed".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(
        !events
            .iter()
            .any(|e| e.detail.to_string().contains("not the password"))
    );
}

#[tokio::test]
async fn usernames_are_case_insensitive() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut b = app.browser();
    let page = b.get("/login").await;
    assert_eq!(b.submit_login(&page, "ADA", PASSWORD).await.status, 303);
}

#[tokio::test]
async fn disabled_users_cannot_log_in() {
    let app = TestApp::spawn().await;
    let u = app.user("ada").await;
    app.store
        .set_disabled(u.id, true, chrono::Utc::now())
        .await
        .unwrap();
    let mut b = app.browser();
    let page = b.get("/login").await;
    let res = b.submit_login(&page, "ada", PASSWORD).await;
    assert_eq!(res.status, 401);
    assert!(res.body.contains("disabled"));
}

#[tokio::test]
async fn keepalive_extends_only_a_signed_in_session() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut b = app.browser();
    assert_eq!(b.post("/session/keepalive", &[]).await.status, 401);
    b.login("ada").await;
    let res = b.post("/session/keepalive", &[]).await;
    assert_eq!(res.status, 204);
    assert!(
        b.last_set_cookie.iter().any(|c| c.contains("Max-Age")),
        "{:?}",
        b.last_set_cookie
    );
}

#[tokio::test]
async fn an_expired_or_unknown_flow_explains_itself() {
    let app = TestApp::spawn().await;
    let mut b = app.browser();
    let page = b.get("/login?flow=nonexistent").await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("expired"));
    let page = b.get("/nowhere").await;
    assert_eq!(page.status, 404);
}

#[tokio::test]
async fn the_absolute_session_lifetime_ends_a_login() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut b = app.browser();
    b.login("ada").await;
    assert_eq!(b.get("/account").await.status, 200);
    app.clock.advance(chrono::Duration::hours(13));
    let page = b.get("/account").await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location().as_deref(), Some("/login"));
}
