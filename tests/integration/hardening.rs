//! The findings of the outside review (issue "Hardening"), each reproduced through the real
//! server and shown closed.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lanyard_core::clock::Clock;

use crate::harness::{Browser, PASSWORD, Page, TestApp, http_client};

/// Sign in through /login with `password`.
async fn sign_in(b: &mut Browser, username: &str, password: &str) -> Page {
    let page = b.get("/login").await;
    let res = b.submit_login(&page, username, password).await;
    assert_eq!(res.status, 303, "signed in: {}", res.body);
    res
}

/// The cookie header a browser sends: what a thief copies.
fn cookie_of(b: &Browser) -> String {
    b.cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether a request carrying `cookie` is still treated as signed in: the account page renders,
/// or an authorization request is answered with a code without a login page.
async fn still_signed_in(app: &TestApp, cookie: &str) -> bool {
    let http = http_client();
    let account = http
        .get(app.url("/account"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let authorize = http
        .get(app.url(
            "/authorize?response_type=code&client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb\
             &scope=openid&state=s&nonce=n",
        ))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let location = authorize
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    account.status() == 200 || location.contains("code=")
}

/// Finding 1: a request in flight with a stolen cookie must not write an ended session back.
/// 20 rounds of a password change and 20 of "sign out that session", each while three clients
/// poll the account page with the stolen cookie: no round leaves the stolen session alive.
#[tokio::test]
async fn ended_sessions_stay_ended_while_a_stolen_cookie_polls() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut password = PASSWORD.to_string();
    let mut owner = app.browser();
    sign_in(&mut owner, "ada", &password).await;
    let mut survivors = Vec::new();
    for round in 0..20 {
        for how in ["password change", "end session"] {
            let mut thief = app.browser();
            sign_in(&mut thief, "ada", &password).await;
            let cookie = cookie_of(&thief);
            let stop = Arc::new(AtomicBool::new(false));
            let pollers: Vec<_> = (0..3)
                .map(|_| {
                    let (stop, cookie, url) = (stop.clone(), cookie.clone(), app.url("/account"));
                    tokio::spawn(async move {
                        let http = http_client();
                        let mut seen = 0;
                        while !stop.load(Ordering::Relaxed) {
                            let res = http.get(&url).header("cookie", &cookie).send().await;
                            seen += u32::from(res.is_ok_and(|r| r.status() == 200));
                        }
                        seen
                    })
                })
                .collect();
            tokio::time::sleep(std::time::Duration::from_millis(15)).await;
            let page = owner.get("/account").await;
            assert_eq!(page.status, 200, "the owner's session is kept");
            let csrf = page.input("csrf_token").unwrap();
            let res = if how == "password change" {
                let new = format!("a new long password {round}");
                let res = owner
                    .post(
                        "/account/password",
                        &[
                            ("current_password", password.as_str()),
                            ("new_password", &new),
                            ("confirm_password", &new),
                            ("csrf_token", &csrf),
                        ],
                    )
                    .await;
                password = new;
                res
            } else {
                let target = page
                    .input("session")
                    .expect("the thief's session is listed");
                owner
                    .post(
                        "/account/sessions/end",
                        &[("session", target.as_str()), ("csrf_token", &csrf)],
                    )
                    .await
            };
            assert_eq!(res.status, 303, "{how}: {}", res.body);
            tokio::time::sleep(std::time::Duration::from_millis(15)).await;
            stop.store(true, Ordering::Relaxed);
            let mut polled = 0;
            for p in pollers {
                polled += p.await.unwrap();
            }
            assert!(polled > 0, "the pollers were signed in before the change");
            if still_signed_in(&app, &cookie).await {
                survivors.push(format!("round {round}: {how}"));
            }
        }
    }
    assert!(
        survivors.is_empty(),
        "stolen sessions that survived: {survivors:?}"
    );
}

/// Finding 10: adding an authenticator from the account page raises the session's level, so
/// the session gets a new id, as at login; the old id is worth nothing afterwards.
#[tokio::test]
async fn enrolling_from_the_account_page_rotates_the_session_id() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut b = app.browser();
    sign_in(&mut b, "ada", PASSWORD).await;
    let before = cookie_of(&b);
    crate::mfa::enroll(&app, &mut b).await;
    let after = cookie_of(&b);
    assert_ne!(before, after, "a new session id after enrolling");
    assert!(!still_signed_in(&app, &before).await, "the old id is dead");
    assert_eq!(b.get("/account").await.status, 200, "the new one works");
}

/// Finding 10: `[sessions] login_flow_timeout` is how long the second step may wait.
#[tokio::test]
async fn the_login_flow_timeout_bounds_the_second_step() {
    let app = TestApp::spawn_with(|c| {
        c.replace(
            "[oauth]",
            "[sessions]\nlogin_flow_timeout = \"2m\"\n\n[oauth]",
        )
    })
    .await;
    app.user("ada").await;
    let mut owner = app.browser();
    sign_in(&mut owner, "ada", PASSWORD).await;
    let (key, _) = crate::mfa::enroll(&app, &mut owner).await;
    for (wait, works) in [(110, true), (130, false)] {
        app.clock.advance(chrono::Duration::seconds(31));
        let mut b = app.browser();
        let res = sign_in(&mut b, "ada", PASSWORD).await;
        assert_eq!(res.location().as_deref(), Some("/login/mfa"));
        let page = b.get("/login/mfa").await;
        app.clock.advance(chrono::Duration::seconds(wait));
        let code = crate::mfa::totp_code(&key, app.clock.now());
        let res = b
            .post(
                "/login/mfa",
                &[
                    ("code", code.as_str()),
                    ("csrf_token", &page.input("csrf_token").unwrap()),
                ],
            )
            .await;
        if works {
            assert_eq!(res.location().as_deref(), Some("/account"), "{}", res.body);
        } else {
            assert_eq!(res.status, 400, "expired after 2 minutes: {}", res.body);
            assert!(res.body.contains("Sign in again"));
        }
    }
}
