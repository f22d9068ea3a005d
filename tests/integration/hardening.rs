//! The findings of the outside review (issue "Hardening"), each reproduced through the real
//! server and shown closed.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lanyard_core::clock::Clock;

use openidconnect::OAuth2TokenResponse;

use lanyard_core::model::GrantType;

use crate::harness::{
    Browser, JsonBody, PASSWORD, Page, RegistrationSettings, SECRET, Settings, TestApp, client,
    http_client,
};

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
    let app = TestApp::spawn_with(|s| {
        s.sessions.login_flow_timeout = std::time::Duration::from_secs(120);
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
        let code = crate::harness::totp_code(&key, app.clock.now());
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

pub(crate) async fn web_rp(app: &TestApp) -> crate::rp::TestRp {
    crate::rp::TestRp::new(
        app,
        "web",
        Some(SECRET),
        openidconnect::AuthType::BasicAuth,
        openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    )
    .await
}

/// POST /token as `client` (basic auth) with `form`: status and JSON body.
async fn token_as(
    app: &TestApp,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let res = http_client()
        .post(app.url("/token"))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json_value().await)
}

/// Finding 9: whoever holds an intercepted code but not the client's credentials, its redirect
/// URI or the PKCE verifier can neither spend the code nor revoke what it grants. Only a
/// correct exchange consumes it; a second correct exchange is the replay that revokes.
#[tokio::test]
async fn a_code_is_consumed_only_by_a_correct_exchange() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let verifier = s.verifier.secret().clone();
    let base = |v: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("redirect_uri", crate::rp::REDIRECT),
            ("code_verifier", v),
        ]
    };
    let wrong_verifier = "x".repeat(43);
    type Form<'a> = Vec<(&'a str, &'a str)>;
    let attempts: Vec<((&str, &str), Form)> = vec![
        // Another client's credentials.
        (("post", SECRET), base("")),
        // The right client, a wrong verifier.
        (
            ("web", SECRET),
            vec![
                ("grant_type", "authorization_code"),
                ("redirect_uri", crate::rp::REDIRECT),
                ("code_verifier", &wrong_verifier),
            ],
        ),
        // The right client, no verifier.
        (
            ("web", SECRET),
            vec![
                ("grant_type", "authorization_code"),
                ("redirect_uri", crate::rp::REDIRECT),
            ],
        ),
        // The right verifier, another redirect URI.
        (
            ("web", SECRET),
            vec![
                ("grant_type", "authorization_code"),
                ("redirect_uri", "http://127.0.0.1:9/other"),
                ("code_verifier", &verifier),
            ],
        ),
    ];
    for (client, mut form) in attempts {
        form.retain(|(_, v)| !v.is_empty());
        form.push(("code", &code));
        let (status, body) = token_as(&app, client, &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    let tokens = rp
        .exchange(
            &code,
            openidconnect::PkceCodeVerifier::new(verifier.clone()),
        )
        .await
        .expect("the code survived the wrong attempts");
    assert!(
        crate::harness::userinfo_ok(&app, tokens.access_token().secret()).await,
        "tokens work"
    );
    // The same correct exchange again is a replay: refused, and the grant is revoked.
    let again = rp
        .exchange(&code, openidconnect::PkceCodeVerifier::new(verifier))
        .await
        .unwrap_err();
    assert!(again.contains("invalid_grant"), "{again}");
    assert!(!crate::harness::userinfo_ok(&app, tokens.access_token().secret()).await);
}

/// Finding 10: two parallel refreshes of one refresh token. Without a grace period the reuse
/// rule holds (the grant is revoked); with `[tokens] refresh_reuse_grace`, the token rotated a
/// moment ago answers with the same successor, and only after the grace period is it reuse.
#[tokio::test]
async fn refresh_reuse_grace_returns_the_same_successor() {
    for grace in [None, Some(30)] {
        let app = TestApp::spawn_with(|s| {
            if let Some(secs) = grace {
                s.tokens.refresh_reuse_grace = std::time::Duration::from_secs(secs);
            }
        })
        .await;
        app.user("ada").await;
        let rp = web_rp(&app).await;
        let mut b = app.browser();
        let s = rp.start(&["offline_access"], &[]);
        let code = rp.authorize(&app, &mut b, &s, "ada").await;
        let first = rp.exchange(&code, s.verifier).await.unwrap();
        let old = first.refresh_token().unwrap().secret().clone();
        // Two clients (or a retry) refresh the same token at once.
        let (a, b2) = tokio::join!(rp.refresh(&old), rp.refresh(&old));
        match grace {
            None => {
                assert!(a.is_err() || b2.is_err(), "one of them is reuse");
                let survivor = [a, b2].into_iter().flatten().next();
                if let Some(t) = survivor {
                    assert!(
                        rp.refresh(t.refresh_token().unwrap().secret())
                            .await
                            .is_err(),
                        "the grant was revoked"
                    );
                }
            }
            Some(secs) => {
                let (a, b2) = (a.expect("first"), b2.expect("second, within the grace"));
                let successor = a.refresh_token().unwrap().secret().clone();
                assert_eq!(&successor, b2.refresh_token().unwrap().secret());
                assert_ne!(successor, old);
                // Still within the grace: the same successor again.
                let again = rp.refresh(&old).await.expect("within the grace period");
                assert_eq!(again.refresh_token().unwrap().secret(), &successor);
                // After the grace period, the old token is reuse: the grant is revoked.
                app.clock
                    .advance(chrono::Duration::seconds(secs as i64 + 1));
                assert!(rp.refresh(&old).await.is_err());
                assert!(rp.refresh(&successor).await.is_err(), "grant revoked");
            }
        }
    }
}

/// Finding 10: within the grace period, a successor that has itself been used is not handed
/// out again: presenting the old token then is reuse.
#[tokio::test]
async fn refresh_grace_does_not_hand_out_a_used_successor() {
    let app = TestApp::spawn_with(|s| {
        s.tokens.refresh_reuse_grace = std::time::Duration::from_secs(60);
    })
    .await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let mut b = app.browser();
    let s = rp.start(&["offline_access"], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let t0 = rp.exchange(&code, s.verifier).await.unwrap();
    let old = t0.refresh_token().unwrap().secret().clone();
    let t1 = rp.refresh(&old).await.unwrap();
    let t2 = rp
        .refresh(t1.refresh_token().unwrap().secret())
        .await
        .unwrap();
    assert!(
        rp.refresh(&old).await.is_err(),
        "the successor was used: reuse"
    );
    assert!(
        rp.refresh(t2.refresh_token().unwrap().secret())
            .await
            .is_err(),
        "and the grant is revoked"
    );
}

/// A trusted client allowed only `openid`, for finding 2.
fn with_narrow_client(s: &mut Settings) {
    let mut narrow = client("narrow");
    narrow.name = "Narrow".into();
    narrow.scopes = vec!["openid".into()];
    narrow.grant_types = vec![GrantType::AuthorizationCode];
    s.clients.push(narrow);
}

/// Finding 2: the `claims` parameter cannot release what the client's scopes do not allow.
#[tokio::test]
async fn the_claims_parameter_stays_within_the_clients_scopes() {
    let app = TestApp::spawn_with(with_narrow_client).await;
    let ada = app.user("ada").await;
    app.store.add_to_group(ada.id, "staff").await.unwrap();
    let rp = crate::rp::TestRp::new(
        &app,
        "narrow",
        Some(SECRET),
        openidconnect::AuthType::BasicAuth,
        openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    )
    .await;
    // Asking for the scope is refused outright.
    let mut b = app.browser();
    let s = rp.start(&["email"], &[]);
    let res = b.get(&s.url).await;
    let q = crate::harness::query_of(&res.location().unwrap());
    assert_eq!(q["error"], "invalid_scope");
    // Asking for its claims one by one releases none of them.
    let claims = r#"{"id_token":{"email":null,"name":{"essential":true},"groups":null},
                     "userinfo":{"email":null,"email_verified":null,"groups":null,"phone_number":null}}"#;
    let s = rp.start(&[], &[("claims", claims)]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let id_token = crate::harness::jwt_claims(
        &openidconnect::TokenResponse::id_token(&tokens)
            .unwrap()
            .to_string(),
    );
    for claim in ["email", "name", "groups", "preferred_username"] {
        assert!(id_token.get(claim).is_none(), "{claim} in {id_token}");
    }
    let info = http_client()
        .get(app.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(
        info.as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["sub"],
        "{info}"
    );
}

/// Finding 2: for an untrusted client, claims asked for one by one appear on the consent page
/// through their scopes, and the consent covers exactly those.
#[tokio::test]
async fn requested_claims_are_shown_on_the_consent_page() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = crate::rp::TestRp::new(
        &app,
        "thirdparty",
        Some(SECRET),
        openidconnect::AuthType::BasicAuth,
        openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let mut b = app.browser();
    let s = rp.start(
        &[],
        &[(
            "claims",
            r#"{"userinfo":{"email":null,"phone_number":null}}"#,
        )],
    );
    let page = b.get(&s.url).await;
    let login = b.follow(page).await;
    let res = b.submit_login(&login, "ada", PASSWORD).await;
    let consent = b.follow(res).await;
    assert!(consent.body.contains("value=\"allow\""), "{}", consent.body);
    assert!(
        consent.body.contains("Your email address"),
        "email through its scope"
    );
    assert!(
        !consent.body.contains("Your phone number"),
        "phone is not a scope this client may use"
    );
}

/// Finding 5: a number from a request that is too large for a date answers the protocol's
/// error, never a 500; the largest accepted `max_age` works.
#[tokio::test]
async fn huge_max_age_is_a_protocol_error_not_a_500() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let mut b = app.browser();
    sign_in(&mut b, "ada", PASSWORD).await;
    for huge in ["9223372036854775807", "9223372036854775", "2147483648"] {
        let s = rp.start(&[], &[("max_age", huge)]);
        let res = b.get(&s.url).await;
        let location = res
            .location()
            .unwrap_or_else(|| panic!("{huge}: {}", res.status));
        let q = crate::harness::query_of(&location);
        assert_eq!(q["error"], "invalid_request", "{huge}");
    }
    let s = rp.start(&[], &[("max_age", "2147483647")]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    assert!(rp.exchange(&code, s.verifier).await.is_ok());
}

/// Finding 6: redirect URIs with control characters or in a form browsers rewrite are refused
/// at registration, so none can reach a `Location` header.
#[tokio::test]
async fn registration_refuses_control_characters_and_unnormalised_uris() {
    let app = TestApp::spawn_with(|s| s.registration = RegistrationSettings::Open).await;
    for uri in [
        "https://app.example/cb\n",
        "https://app.example/c\tb",
        "https://app.example/cb\r\nSet-Cookie: a=b",
        "https://APP.example/cb",
        "https://app.example/a/../cb",
    ] {
        for key in ["redirect_uris", "post_logout_redirect_uris"] {
            let mut body = serde_json::json!({ "redirect_uris": ["https://app.example/cb"] });
            body[key] = serde_json::json!([uri]);
            let res = http_client()
                .post(app.url("/register"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 400, "{key} {uri:?}");
            assert_eq!(res.json_value().await["error"], "invalid_redirect_uri");
        }
    }
}

fn with_client_lockout(s: &mut Settings) {
    s.lockout.client_max_failures = 5;
    s.lockout.client_ip_max_failures = 12;
}

/// One authenticated request per endpoint that authenticates clients, with `secret`.
async fn client_call(app: &TestApp, path: &str, client: &str, secret: &str) -> reqwest::Response {
    let form: &[(&str, &str)] = match path {
        "/token" => &[("grant_type", "client_credentials")],
        _ => &[("token", "not-a-token")],
    };
    http_client()
        .post(app.url(path))
        .basic_auth(client, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap()
}

use openidconnect::reqwest;

/// Finding 7: failed client authentication has a budget per client, checked before the
/// credentials on every endpoint that authenticates clients, and shared by replicas: once it is
/// spent, even the right secret waits.
#[tokio::test]
async fn client_secret_guessing_is_throttled_before_verifying() {
    let app = TestApp::spawn_with(with_client_lockout).await;
    let dir = tempfile::tempdir().unwrap();
    let replica = TestApp::spawn_on(dir, app.db_url.clone(), with_client_lockout).await;
    replica.clock.set(app.clock.now());
    for (i, path) in ["/token", "/introspect", "/revoke", "/token", "/introspect"]
        .into_iter()
        .enumerate()
    {
        let on = if i % 2 == 0 { &app } else { &replica };
        let res = client_call(on, path, "web", "a wrong secret").await;
        assert_eq!(res.status(), 401, "{path}");
        assert_eq!(res.json_value().await["error"], "invalid_client");
    }
    for (on, path) in [
        (&app, "/token"),
        (&replica, "/introspect"),
        (&app, "/revoke"),
    ] {
        let res = client_call(on, path, "web", SECRET).await;
        assert_eq!(res.status(), 429, "the right secret waits too: {path}");
        assert!(res.headers().get("retry-after").is_some());
        assert_eq!(res.json_value().await["error"], "temporarily_unavailable");
    }
    // Other clients are not affected.
    assert_eq!(
        client_call(&app, "/introspect", "post", SECRET)
            .await
            .status(),
        200
    );
    let locked = app
        .store
        .list_audit(&lanyard_core::model::AuditFilter {
            kind: Some("client_locked".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(locked.len(), 1);
    assert_eq!(locked[0].client_id.as_deref(), Some("web"));
    // The lock lifts by itself after the delay.
    app.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(
        client_call(&app, "/token", "web", SECRET).await.status(),
        200
    );
}

/// Finding 7: one address guessing across many client ids is throttled as an address.
#[tokio::test]
async fn an_address_guessing_many_client_ids_is_throttled() {
    let app = TestApp::spawn_with(with_client_lockout).await;
    for i in 0..12 {
        let res = client_call(&app, "/token", &format!("made-up-{i}"), "x").await;
        assert_eq!(res.status(), 401);
    }
    let res = client_call(&app, "/token", "web", SECRET).await;
    assert_eq!(res.status(), 429, "this address spent its budget");
}

/// Register a client openly, with redirect and post-logout URIs on a stranger's host.
async fn register_stranger(app: &TestApp) -> String {
    let res = http_client()
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body(
            serde_json::json!({
                "redirect_uris": ["https://evil.example/cb"],
                "post_logout_redirect_uris": ["https://evil.example/bye"],
                "token_endpoint_auth_method": "none",
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json_value().await["client_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Finding 3 (RFC 9700 4.11.2): with open registration, anyone can register a redirect URI.
/// Errors for such a client are shown on a page naming the destination host before the
/// browser goes there, and so is the return from logout; a user's own choice on the consent
/// page, and errors for administrator-configured clients, still go straight back.
#[tokio::test]
async fn open_registration_is_not_an_open_redirector() {
    let app = TestApp::spawn_with(|s| s.registration = RegistrationSettings::Open).await;
    app.user("ada").await;
    let id = register_stranger(&app).await;
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let authorize = |extra: &str| {
        format!(
            "/authorize?client_id={id}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=openid\
             &state=s1&code_challenge={challenge}&code_challenge_method=S256{extra}"
        )
    };
    let mut b = app.browser();
    for (extra, error) in [
        ("&response_type=token", "unsupported_response_type"),
        ("&response_type=code&prompt=none", "login_required"),
        ("&response_type=code&max_age=-1", "invalid_request"),
    ] {
        let page = b.get(&authorize(extra)).await;
        assert_eq!(
            page.location(),
            None,
            "{extra}: not sent to the stranger's site"
        );
        assert_eq!(page.status, 400);
        assert!(
            page.body.contains("<strong>evil.example</strong>"),
            "the host is named"
        );
        let link = page.continue_link().expect("a link the user may follow");
        assert!(link.starts_with("https://evil.example/cb?"), "{link}");
        let q = crate::harness::query_of(&link);
        assert_eq!((q["error"].as_str(), q["state"].as_str()), (error, "s1"));
    }
    // Declining on the consent page is the user's own choice: straight back.
    let page = b.get(&authorize("&response_type=code")).await;
    let login = b.follow(page).await;
    let res = b.submit_login(&login, "ada", PASSWORD).await;
    let consent = b.follow(res).await;
    let res = b
        .post(
            "/consent",
            &[
                ("decision", "deny"),
                ("flow", &consent.input("flow").unwrap()),
                ("csrf_token", &consent.input("csrf_token").unwrap()),
            ],
        )
        .await;
    let loc = res.location().expect("back to the client");
    assert!(loc.starts_with("https://evil.example/cb?") && loc.contains("error=access_denied"));
    // Logout shows where it leads instead of going there.
    let page = b
        .get(&format!(
            "/logout?client_id={id}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2Fbye&state=z"
        ))
        .await;
    let confirm = page;
    let res = b
        .post(
            "/logout",
            &[
                ("confirm", "yes"),
                ("client_id", &id),
                ("post_logout_redirect_uri", "https://evil.example/bye"),
                ("state", "z"),
                ("csrf_token", &confirm.input("csrf_token").unwrap()),
            ],
        )
        .await;
    assert_eq!(res.location(), None, "not sent to the stranger's site");
    assert_eq!(res.status, 200);
    assert!(res.body.contains("Signed out"));
    assert_eq!(
        res.continue_link().as_deref(),
        Some("https://evil.example/bye?state=z")
    );
    // An administrator's client still gets its errors directly.
    let res = b
        .get("/authorize?client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid&response_type=token&state=s")
        .await;
    assert!(
        res.location()
            .unwrap()
            .contains("error=unsupported_response_type")
    );
}

/// Finding 8: a cookie-less authorization request that needs a sign-in stores nothing (it may
/// be a bot that never shows the page); the request travels sealed to the sign-in page, which
/// keeps it once it is shown, and the flow completes from there.
#[tokio::test]
async fn anonymous_authorization_requests_store_nothing() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let rp = web_rp(&app).await;
    let now = app.clock.now();
    for _ in 0..200 {
        let s = rp.start(&[], &[("login_hint", &"s".repeat(2000))]);
        let res = http_client().get(&s.url).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert!(res.headers().get("set-cookie").is_none(), "no session");
        let to = res.headers()["location"].to_str().unwrap().to_string();
        assert!(to.starts_with("/login?resume="), "{to}");
    }
    assert_eq!(app.store.count_sessions(now).await.unwrap(), 0);
    // A real browser follows to the sign-in page: now a session holds the request.
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    assert!(rp.exchange(&code, s.verifier).await.is_ok());
    assert_eq!(app.store.count_sessions(now).await.unwrap(), 1);
    // A tampered or foreign resume value is an expired sign-in page, not a 500.
    let page = app.browser().get("/login?resume=AAAA").await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("expired"));
}

/// Finding 8: what one pending sign-in may store is bounded: each parameter within its own
/// limit, together too much, is invalid_request.
#[tokio::test]
async fn an_oversized_authorization_request_is_refused() {
    let app = TestApp::spawn().await;
    let rp = web_rp(&app).await;
    let big = "x".repeat(3500);
    let claims = format!(r#"{{"userinfo":{{"{big}":null}}}}"#);
    let s = rp.start(
        &[],
        &[
            ("claims", &claims),
            ("login_hint", &big),
            ("acr_values", &big),
        ],
    );
    let res = app.browser().get(&s.url).await;
    let q = crate::harness::query_of(&res.location().unwrap());
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("too large"));
}

/// Finding 8: refused attempts against a throttled account cost no hashing, so they write no
/// audit row each (the lockout itself is audited once).
#[tokio::test]
async fn throttled_attempts_do_not_grow_the_audit_table() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let all = || async {
        app.store
            .list_audit(&lanyard_core::model::AuditFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
    };
    let mut b = app.browser();
    for _ in 0..5 {
        let page = b.get("/login").await;
        assert_eq!(b.submit_login(&page, "ada", "wrong").await.status, 401);
    }
    let before = all().await;
    assert!(before.iter().any(|e| e.kind == "account_locked"));
    for _ in 0..30 {
        let page = b.get("/login").await;
        assert_eq!(b.submit_login(&page, "ada", "wrong").await.status, 429);
    }
    assert_eq!(all().await.len(), before.len());
}
