//! Second factor end to end through the pages: enrollment, TOTP and backup-code logins through a
//! relying party, step-up, policy-forced enrollment, throttling, and secrets at rest.
use chrono::{DateTime, Duration, Utc};
use lanyard_core::clock::Clock;
use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
use openidconnect::{AuthType, OAuth2TokenResponse};
use serde_json::Value;

use crate::harness::{
    Browser, JsonBody, PASSWORD, Page, SECRET, TestApp, client_mut, html_unescape, jwt_claims,
    query_of, standard, totp_code,
};
use crate::rp::{REDIRECT, Started, TestRp};

/// A six-digit code that is not valid at `at` (nor one step either side).
fn wrong_code(key: &[u8], at: DateTime<Utc>) -> String {
    let valid: Vec<String> = [-30, 0, 30]
        .iter()
        .map(|d| totp_code(key, at + Duration::seconds(*d)))
        .collect();
    (0..1000)
        .map(|n| format!("{:06}", n * 997 % 1_000_000))
        .find(|c| !valid.contains(c))
        .expect("a wrong code")
}

fn between<'a>(body: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = body.find(start)? + start.len();
    let j = body[i..].find(end)?;
    Some(&body[i..i + j])
}

/// The key as the page shows it for typing in by hand, decoded.
pub(crate) fn key_from_page(page: &Page) -> Vec<u8> {
    let grouped = between(&page.body, "id=\"manual-key\">", "</code>")
        .unwrap_or_else(|| panic!("no manual key on the page: {}", page.body));
    let key: String = grouped.split_whitespace().collect();
    totp_rs::Secret::try_from_base32(&key)
        .expect("base32 key")
        .as_ref()
        .to_vec()
}

fn backup_codes_from(page: &Page) -> Vec<String> {
    let list = between(&page.body, "<ul class=\"backup-codes\"", "</ul>").expect("codes list");
    list.split("<code class=\"mono\">")
        .skip(1)
        .filter_map(|c| c.split("</code>").next())
        .map(str::to_string)
        .collect()
}

/// Enroll TOTP from the account page of a signed-in browser. Returns the key and backup codes.
pub(crate) async fn enroll(app: &TestApp, b: &mut Browser) -> (Vec<u8>, Vec<String>) {
    let page = b.get("/account/mfa/totp").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let key = key_from_page(&page);
    let csrf = page.input("csrf_token").unwrap();
    let code = totp_code(&key, app.clock.now());
    let done = b
        .post(
            "/account/mfa/totp",
            &[
                ("code", code.as_str()),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let codes = backup_codes_from(&done);
    assert_eq!(codes.len(), 10, "{}", done.body);
    (key, codes)
}

/// Start a relying-party login and submit the password; returns the page that follows.
pub(crate) async fn password_step(b: &mut Browser, started: &Started, username: &str) -> Page {
    let page = b.get(&started.url).await;
    let login = b.follow(page).await;
    let res = b.submit_login(&login, username, PASSWORD).await;
    b.follow(res).await
}

/// Submit the second-step form on `page` with `code` (TOTP, or a backup code with `backup`).
async fn submit_code(b: &mut Browser, page: &Page, code: &str, backup: bool) -> Page {
    let csrf = page.input("csrf_token").expect("csrf on the code page");
    let flow = page.input("flow").unwrap_or_default();
    let mut form = vec![
        ("code", code),
        ("flow", flow.as_str()),
        ("csrf_token", csrf.as_str()),
    ];
    if backup {
        form.push(("method", "backup"));
    }
    let res = b.post("/login/mfa", &form).await;
    b.follow(res).await
}

pub(crate) fn code_from_redirect(page: &Page, started: &Started) -> String {
    let loc = page.location().unwrap_or_else(|| {
        panic!(
            "expected a redirect to the client, got {}: {}",
            page.status, page.body
        )
    });
    assert!(loc.starts_with(REDIRECT), "redirected to {loc}");
    let q = query_of(&loc);
    assert_eq!(
        q.get("state").map(String::as_str),
        Some(started.state.secret().as_str())
    );
    q.get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {loc}"))
}

pub(crate) async fn web_rp(app: &TestApp) -> TestRp {
    TestRp::new(
        app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await
}

pub(crate) fn amr_of(id_token: &str) -> Vec<String> {
    jwt_claims(id_token)["amr"]
        .as_array()
        .expect("amr")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

async fn audit_kinds(app: &TestApp, user: uuid::Uuid) -> Vec<(String, Value)> {
    app.store
        .list_audit(&lanyard_core::model::AuditFilter {
            user_id: Some(user),
            limit: 200,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.detail))
        .collect()
}

#[tokio::test]
async fn enrollment_shows_a_qr_code_and_key_and_needs_a_current_code() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada").await;
    let mut b = app.browser();
    b.login("ada").await;
    let account = b.get("/account").await;
    assert!(account.body.contains("Set up an authenticator app"));

    let page = b.get("/account/mfa/totp").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<svg"), "QR code drawn server-side");
    let key = key_from_page(&page);
    assert_eq!(key.len(), 20, "160-bit secret");
    let body = html_unescape(&page.body);
    let uri = between(&body, "href=\"otpauth://", "\"").expect("otpauth link");
    let uri = format!("otpauth://{uri}");
    let parsed = url::Url::parse(&uri).unwrap();
    assert_eq!(parsed.host_str(), Some("totp"));
    let label = parsed.path().replace("%3A", ":");
    assert_eq!(label, "/127.0.0.1:ada", "issuer and account in the label");
    let q: std::collections::BTreeMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q.get("issuer").map(String::as_str), Some("127.0.0.1"));
    let key_b32: String = between(&page.body, "id=\"manual-key\">", "</code>")
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(q.get("secret"), Some(&key_b32));
    // The confirmation form carries the code only: the secret stays server-side.
    let form = between(
        &body,
        "<form method=\"post\" action=\"/account/mfa/totp\">",
        "</form>",
    )
    .unwrap();
    assert!(!form.contains(&key_b32));
    assert!(
        form.contains("autocomplete=\"one-time-code\"") && form.contains("inputmode=\"numeric\"")
    );

    // The same pending secret is shown on reload; bad codes change nothing.
    let again = b.get("/account/mfa/totp").await;
    assert_eq!(key_from_page(&again), key);
    let csrf = page.input("csrf_token").unwrap();
    let now = app.clock.now();
    // Whoever holds a session cookie cannot add their own authenticator: the password is needed.
    let good = totp_code(&key, now);
    for password in ["", "wrong password"] {
        let res = b
            .post(
                "/account/mfa/totp",
                &[
                    ("code", good.as_str()),
                    ("password", password),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        assert_eq!(res.status, 401, "password {password:?}");
        assert!(app.store.get_totp(ada.id).await.unwrap().is_none());
    }
    for bad in [
        wrong_code(&key, now),
        "abcdef".into(),
        "".into(),
        "1234567890".into(),
    ] {
        let res = b
            .post(
                "/account/mfa/totp",
                &[
                    ("code", bad.as_str()),
                    ("password", PASSWORD),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        assert_eq!(res.status, 400, "code {bad:?}: {}", res.body);
        assert!(res.body.contains("does not match"), "{}", res.body);
        assert!(app.store.get_totp(ada.id).await.unwrap().is_none());
    }
    let code = totp_code(&key, now);
    let done = b
        .post(
            "/account/mfa/totp",
            &[
                ("code", code.as_str()),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(done.status, 200);
    let codes = backup_codes_from(&done);
    assert_eq!(codes.len(), 10);
    assert!(done.body.contains("download=\"backup-codes.txt\""));
    assert!(html_unescape(&done.body).contains("href=\"data:text/plain;charset=utf-8,"));
    assert!(app.store.get_totp(ada.id).await.unwrap().is_some());
    assert_eq!(app.store.backup_codes_remaining(ada.id).await.unwrap(), 10);

    // Double submission: nothing changes, the backup codes stay the same set.
    let twice = b
        .post(
            "/account/mfa/totp",
            &[
                ("code", code.as_str()),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(twice.status, 303);
    assert_eq!(app.store.backup_codes_remaining(ada.id).await.unwrap(), 10);

    let account = b.get("/account").await;
    assert!(account.body.contains("10 of 10 left"), "{}", account.body);
    assert!(account.body.contains("Two-step verification turned on"));
    let kinds = audit_kinds(&app, ada.id).await;
    assert!(kinds.iter().any(|(k, _)| k == "mfa_enrolled"));
    assert!(
        kinds
            .iter()
            .any(|(k, d)| k == "sessions_revoked" && d["reason"] == "mfa_enrolled")
    );
}

#[tokio::test]
async fn totp_and_backup_code_logins_through_a_relying_party() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada").await;
    let mut setup = app.browser();
    setup.login("ada").await;
    let (key, codes) = enroll(&app, &mut setup).await;
    let rp = web_rp(&app).await;

    // Password, then a TOTP code (a later step than the one spent at enrollment).
    app.clock.advance(Duration::seconds(30));
    let mut b = app.browser();
    let s = rp.start(&["profile"], &[]);
    let page = password_step(&mut b, &s, "ada").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Two-step verification"), "{}", page.body);
    assert!(page.body.contains("autocomplete=\"one-time-code\""));
    assert!(page.body.contains("inputmode=\"numeric\""));
    assert!(
        page.body.contains("Web App"),
        "the page names the application"
    );
    let code = totp_code(&key, app.clock.now());
    let done = submit_code(&mut b, &page, &code, false).await;
    let auth_code = code_from_redirect(&done, &s);
    let tokens = rp.exchange(&auth_code, s.verifier).await.unwrap();
    let claims = rp.verify(&tokens, Some(&s.nonce));
    let id_token = tokens.extra_fields().id_token().unwrap().to_string();
    let amr = amr_of(&id_token);
    for m in ["pwd", "otp", "mfa"] {
        assert!(amr.contains(&m.to_string()), "amr {amr:?}");
    }
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:lanyard:acr:mfa")
    );

    // The same code again (same time step) is a replay.
    let mut other = app.browser();
    let s2 = rp.start(&[], &[]);
    let page = password_step(&mut other, &s2, "ada").await;
    let replay = submit_code(&mut other, &page, &code, false).await;
    assert_eq!(replay.status, 401);
    assert!(replay.body.contains("That code is not valid"));

    // A backup code instead.
    let backup_page = other.get("/login/mfa?method=backup").await;
    assert!(
        backup_page.body.contains("Backup code"),
        "{}",
        backup_page.body
    );
    let done = submit_code(&mut other, &page, &codes[0].to_uppercase(), true).await;
    let auth_code = code_from_redirect(&done, &s2);
    let tokens = rp.exchange(&auth_code, s2.verifier).await.unwrap();
    let amr = amr_of(
        tokens
            .extra_fields()
            .id_token()
            .unwrap()
            .to_string()
            .as_str(),
    );
    assert!(amr.contains(&"mfa".to_string()), "{amr:?}");
    assert_eq!(app.store.backup_codes_remaining(ada.id).await.unwrap(), 9);
    let used = audit_kinds(&app, ada.id).await;
    assert!(
        used.iter()
            .any(|(k, d)| k == "backup_code_used" && d["remaining"] == 9),
        "{used:?}"
    );

    // The used backup code does not work twice.
    let mut third = app.browser();
    let s3 = rp.start(&[], &[]);
    let page = password_step(&mut third, &s3, "ada").await;
    let again = submit_code(&mut third, &page, &codes[0], true).await;
    assert_eq!(again.status, 401);
    assert_eq!(app.store.backup_codes_remaining(ada.id).await.unwrap(), 9);
    let account = other.get("/account").await;
    assert!(account.body.contains("9 of 10 left"), "{}", account.body);
    assert!(account.body.contains("Backup code used"));
}

#[tokio::test]
async fn second_step_needs_a_recent_password_step_in_the_same_session() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut setup = app.browser();
    setup.login("ada").await;
    let (key, _) = enroll(&app, &mut setup).await;
    app.clock.advance(Duration::seconds(30));

    // No password step at all: a clear page, not a login.
    let mut b = app.browser();
    let login = b.get("/login").await;
    let csrf = login.input("csrf_token").unwrap();
    let code = totp_code(&key, app.clock.now());
    let res = b
        .post(
            "/login/mfa",
            &[
                ("code", code.as_str()),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("Sign in again"), "{}", res.body);
    assert!(b.get("/account").await.location().as_deref() == Some("/login"));

    // The pending state expires five minutes after the password step.
    let rp = web_rp(&app).await;
    let s = rp.start(&[], &[]);
    let page = password_step(&mut b, &s, "ada").await;
    app.clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    let code = totp_code(&key, app.clock.now());
    let res = submit_code(&mut b, &page, &code, false).await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("Sign in again"));
    // The code was not spent by the refused attempt: a fresh login can use it.
    let page = password_step(&mut b, &s, "ada").await;
    let done = submit_code(&mut b, &page, &code, false).await;
    code_from_redirect(&done, &s);
}

#[tokio::test]
async fn step_up_with_acr_values_and_policy_forced_enrollment() {
    let app = TestApp::spawn_with(|s| s.mfa.require_for_groups = vec!["admins".into()]).await;
    let ada = app.user("ada").await;
    let root = app.user("root").await;
    app.store.add_to_group(root.id, "admins").await.unwrap();
    let rp = web_rp(&app).await;

    // Ada has no second factor and no policy: a password-only session.
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let page = password_step(&mut b, &s, "ada").await;
    let code = code_from_redirect(&page, &s);
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    assert_eq!(
        amr_of(
            tokens
                .extra_fields()
                .id_token()
                .unwrap()
                .to_string()
                .as_str()
        ),
        vec!["pwd"]
    );

    // prompt=none cannot step up.
    let s = rp.start(
        &[],
        &[("acr_values", "urn:lanyard:acr:mfa"), ("prompt", "none")],
    );
    let res = b.get(&s.url).await;
    let q = query_of(&res.location().unwrap());
    assert_eq!(q.get("error").map(String::as_str), Some("login_required"));

    // acr_values asks for MFA: the session must add a factor; Ada has none, so she enrolls.
    let s = rp.start(&[], &[("acr_values", "urn:lanyard:acr:mfa")]);
    let res = b.get(&s.url).await;
    let page = b.follow(res).await;
    assert!(
        page.body.contains("Set up an authenticator app"),
        "{}",
        page.body
    );
    // The session is older than this request: adding a factor needs the password again.
    assert!(page.body.contains("name=\"password\""));
    let key = key_from_page(&page);
    let csrf = page.input("csrf_token").unwrap();
    let flow = page.input("flow").unwrap();
    let code = totp_code(&key, app.clock.now());
    let refused = b
        .post(
            "/login/enroll",
            &[
                ("code", code.as_str()),
                ("flow", &flow),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(refused.status, 401);
    assert!(app.store.get_totp(ada.id).await.unwrap().is_none());
    let codes_page = b
        .post(
            "/login/enroll",
            &[
                ("code", code.as_str()),
                ("password", PASSWORD),
                ("flow", &flow),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(codes_page.status, 200, "{}", codes_page.body);
    assert_eq!(backup_codes_from(&codes_page).len(), 10);
    let cont = between(&codes_page.body, "class=\"btn btn-primary\" href=\"", "\"").unwrap();
    let res = b.get(&html_unescape(cont)).await;
    let code = code_from_redirect(&res, &s);
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let id_token = tokens.extra_fields().id_token().unwrap().to_string();
    assert_eq!(jwt_claims(&id_token)["acr"], "urn:lanyard:acr:mfa");
    assert!(amr_of(&id_token).contains(&"otp".to_string()));
    assert!(app.store.get_totp(ada.id).await.unwrap().is_some());

    // Root is in the admins group: led through enrollment at the first login, before any code.
    let mut r = app.browser();
    let s = rp.start(&[], &[]);
    let page = password_step(&mut r, &s, "root").await;
    assert!(
        page.body
            .contains("Your organisation requires two-step verification"),
        "{}",
        page.body
    );
    // Leaving enrollment half-way gives the application nothing.
    assert!(page.location().is_none());
    let key = key_from_page(&page);
    let csrf = page.input("csrf_token").unwrap();
    let flow = page.input("flow").unwrap();
    let bad = wrong_code(&key, app.clock.now());
    let res = r
        .post(
            "/login/enroll",
            &[
                ("code", bad.as_str()),
                ("flow", &flow),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(app.store.get_totp(root.id).await.unwrap().is_none());
    let code = totp_code(&key, app.clock.now());
    let codes_page = r
        .post(
            "/login/enroll",
            &[
                ("code", code.as_str()),
                ("flow", &flow),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(codes_page.status, 200);
    let cont = between(&codes_page.body, "class=\"btn btn-primary\" href=\"", "\"").unwrap();
    let res = r.get(&html_unescape(cont)).await;
    code_from_redirect(&res, &s);
}

#[tokio::test]
async fn a_client_can_require_mfa() {
    let app = TestApp::spawn_with(|s| client_mut(s, "post").require_mfa = true).await;
    app.user("ada").await;
    let rp = TestRp::new(
        &app,
        "post",
        Some(SECRET),
        AuthType::RequestBody,
        Alg::EcdsaP256Sha256,
    )
    .await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let page = password_step(&mut b, &s, "ada").await;
    assert!(
        page.body.contains("requires two-step verification"),
        "{}",
        page.body
    );
    // The same browser still signs in to a client without the requirement using the password.
    let web = web_rp(&app).await;
    let s = web.start(&[], &[]);
    let page = password_step(&mut b, &s, "ada").await;
    code_from_redirect(&page, &s);
}

#[tokio::test]
async fn disabling_and_regenerating_need_reauthentication_and_end_other_sessions() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada").await;
    let mut b = app.browser();
    b.login("ada").await;
    let (key, codes) = enroll(&app, &mut b).await;

    // Another session, signed in with both factors.
    app.clock.advance(Duration::seconds(30));
    let mut other = app.browser();
    let res = other.login_with_totp(&app, "ada", &key).await;
    let done = other.follow(res).await;
    assert_eq!(done.status, 200, "lands on the account page: {}", done.body);

    let account = b.get("/account").await;
    let csrf = account.input("csrf_token").unwrap();
    let res = b
        .post(
            "/account/mfa/backup-codes",
            &[("password", "wrong"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(
        res.location().as_deref(),
        Some("/account?error=reauth#security")
    );
    let res = b
        .post("/account/mfa/backup-codes", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(
        res.location().as_deref(),
        Some("/account?error=reauth_missing#security")
    );
    let res = b
        .post(
            "/account/mfa/backup-codes",
            &[("password", PASSWORD), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status, 200);
    let fresh = backup_codes_from(&res);
    assert_eq!(fresh.len(), 10);
    assert!(!fresh.contains(&codes[1]), "a new set");
    assert_eq!(
        other.get("/account").await.location().as_deref(),
        Some("/login"),
        "other session ended"
    );

    // The old set no longer works; disabling with a fresh backup code does.
    let res = b
        .post(
            "/account/mfa/disable",
            &[("code", codes[1].as_str()), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(
        res.location().as_deref(),
        Some("/account?error=reauth#security")
    );
    assert!(app.store.get_totp(ada.id).await.unwrap().is_some());
    let res = b
        .post(
            "/account/mfa/disable",
            &[("code", fresh[0].as_str()), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(
        res.location().as_deref(),
        Some("/account?notice=mfa_off#security")
    );
    assert!(app.store.get_totp(ada.id).await.unwrap().is_none());
    assert_eq!(app.store.backup_codes_remaining(ada.id).await.unwrap(), 0);
    let kinds: Vec<String> = audit_kinds(&app, ada.id)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for k in [
        "backup_codes_regenerated",
        "mfa_disabled",
        "sessions_revoked",
    ] {
        assert!(kinds.contains(&k.to_string()), "{k} in {kinds:?}");
    }
    // Password only again.
    let mut again = app.browser();
    let res = again.login("ada").await;
    assert_eq!(res.location().as_deref(), Some("/account"));
}

#[tokio::test]
async fn a_pending_enrollment_belongs_to_the_user_who_started_it() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada").await;
    let bob = app.user("bob").await;
    let mut b = app.browser();
    b.login("ada").await;
    let page = b.get("/account/mfa/totp").await;
    let ada_key = key_from_page(&page);
    // Bob signs in on the same browser; Ada's pending secret must not become his.
    let res = b.login("bob").await;
    assert_eq!(res.location().as_deref(), Some("/account"));
    let account = b.get("/account").await;
    let csrf = account.input("csrf_token").unwrap();
    let code = totp_code(&ada_key, app.clock.now());
    let res = b
        .post(
            "/account/mfa/totp",
            &[
                ("code", code.as_str()),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.location().as_deref(), Some("/account/mfa/totp"));
    assert!(app.store.get_totp(bob.id).await.unwrap().is_none());
    assert!(app.store.get_totp(ada.id).await.unwrap().is_none());
}

#[tokio::test]
async fn repeated_failures_throttle_the_account_without_saying_why() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada").await;
    let mut b = app.browser();
    for _ in 0..5 {
        let page = b.get("/login").await;
        let res = b.submit_login(&page, "ada", "wrong password").await;
        assert_eq!(res.status, 401);
        assert!(res.body.contains("Incorrect username or password."));
    }
    // Now even the right password waits, with the same words for a user who does not exist.
    let page = b.get("/login").await;
    let res = b.submit_login(&page, "ada", PASSWORD).await;
    assert_eq!(res.status, 429, "{}", res.body);
    assert!(res.body.contains("Too many failed attempts"));
    for _ in 0..5 {
        let page = b.get("/login").await;
        b.submit_login(&page, "nobody", "wrong").await;
    }
    let page = b.get("/login").await;
    let ghost = b.submit_login(&page, "nobody", PASSWORD).await;
    assert_eq!(ghost.status, 429);
    assert_eq!(
        between(&ghost.body, "<p>", "</p>"),
        between(&res.body, "<p>", "</p>"),
        "same message whether or not the user exists"
    );
    let kinds = audit_kinds(&app, ada.id).await;
    assert!(
        kinds.iter().any(|(k, _)| k == "account_locked"),
        "{kinds:?}"
    );

    // The lock lifts by itself after the delay (30 s after the fifth failure).
    app.clock.advance(Duration::seconds(31));
    let page = b.get("/login").await;
    let res = b.submit_login(&page, "ada", PASSWORD).await;
    assert_eq!(res.location().as_deref(), Some("/account"), "{}", res.body);
}

#[tokio::test]
async fn second_factor_guesses_count_toward_the_lockout() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut setup = app.browser();
    setup.login("ada").await;
    let (key, _) = enroll(&app, &mut setup).await;
    app.clock.advance(Duration::seconds(30));
    let rp = web_rp(&app).await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let page = password_step(&mut b, &s, "ada").await;
    let bad = wrong_code(&key, app.clock.now());
    for guess in [
        bad.as_str(),
        "12ab56",
        "999",
        "abcd-efgh-jkmn",
        bad.as_str(),
    ] {
        let res = submit_code(&mut b, &page, guess, false).await;
        assert_eq!(res.status, 401, "{guess}");
    }
    let res = submit_code(&mut b, &page, &totp_code(&key, app.clock.now()), false).await;
    assert_eq!(res.status, 429, "{}", res.body);
    assert!(res.body.contains("Too many failed attempts"));
    // Empty input is not a guess and says what to do.
    let res = submit_code(&mut b, &page, "", false).await;
    assert_eq!(res.status, 400);
}

#[tokio::test]
async fn lockout_is_shared_by_two_instances_on_one_database() {
    let first = TestApp::spawn().await;
    first.user("ada").await;
    let dir = tempfile::tempdir().unwrap();
    let second = TestApp::spawn_on(dir, first.db_url.clone(), standard).await;
    second.clock.set(first.clock.now());
    let mut b = first.browser();
    for _ in 0..5 {
        let page = b.get("/login").await;
        assert_eq!(b.submit_login(&page, "ada", "wrong").await.status, 401);
    }
    let mut other = second.browser();
    let page = other.get("/login").await;
    let res = other.submit_login(&page, "ada", PASSWORD).await;
    assert_eq!(
        res.status, 429,
        "the second instance sees the first one's failures"
    );
}

#[tokio::test]
async fn groups_claim_follows_the_groups_scope() {
    let app = TestApp::spawn_with(|s| client_mut(s, "web").scopes.push("groups".into())).await;
    let ada = app.user("ada").await;
    app.store.add_to_group(ada.id, "staff").await.unwrap();
    app.store.add_to_group(ada.id, "admins").await.unwrap();
    let rp = web_rp(&app).await;
    let mut b = app.browser();
    let s = rp.start(&["groups"], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let id_token = tokens.extra_fields().id_token().unwrap().to_string();
    assert_eq!(
        jwt_claims(&id_token)["groups"],
        serde_json::json!(["admins", "staff"])
    );
    let info = app
        .http()
        .get(app.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(info["groups"], serde_json::json!(["admins", "staff"]));
    let s = rp.start(&["profile"], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let id_token = tokens.extra_fields().id_token().unwrap().to_string();
    assert!(jwt_claims(&id_token).get("groups").is_none());
}

#[tokio::test]
async fn the_token_endpoint_is_rate_limited_per_client() {
    let app = TestApp::spawn_with(|s| s.rate_limits.token_requests_per_minute = 3).await;
    let http = app.http();
    let call = |id: &'static str| {
        http.post(app.url("/token"))
            .basic_auth(id, Some(SECRET))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    for _ in 0..3 {
        assert_eq!(call("web").await.unwrap().status(), 200);
    }
    let res = call("web").await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(res.json_value().await["error"], "temporarily_unavailable");
    // Another client has its own budget (its request fails for its own reasons, not the limit).
    assert_ne!(call("post").await.unwrap().status(), 429);
}

/// DESIGN §3 / issue: dump the database and prove no secret is in it in plain text.
#[tokio::test]
async fn no_secret_is_stored_in_plain_text() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut b = app.browser();
    b.login("ada").await;
    let session_cookie = b.cookies.values().next().cloned().unwrap();
    // A pending enrollment (in the session row) and a confirmed one.
    let (key, codes) = enroll(&app, &mut b).await;
    let mut pending = app.browser();
    let bob = app.user("bob").await;
    pending.login("bob").await;
    let pending_page = pending.get("/account/mfa/totp").await;
    let pending_key = key_from_page(&pending_page);
    assert_eq!(bob.username, "bob");
    // Tokens and a code through a relying party.
    app.clock.advance(Duration::seconds(30));
    let rp = web_rp(&app).await;
    let mut c = app.browser();
    let s = rp.start(&["offline_access"], &[]);
    let page = password_step(&mut c, &s, "ada").await;
    let done = submit_code(&mut c, &page, &totp_code(&key, app.clock.now()), false).await;
    let code = code_from_redirect(&done, &s);
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let access = tokens.access_token().secret().clone();

    let dump = dump_database(&app).await;
    let b32 = |k: &[u8]| totp_rs::Secret::from(k.to_vec()).to_base32();
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("password".into(), PASSWORD.as_bytes().to_vec()),
        ("client secret".into(), SECRET.as_bytes().to_vec()),
        ("TOTP key".into(), key.clone()),
        ("TOTP key (hex)".into(), hex(&key).into_bytes()),
        ("TOTP key (base32)".into(), b32(&key).into_bytes()),
        ("pending TOTP key".into(), pending_key.clone()),
        (
            "pending TOTP key (hex)".into(),
            hex(&pending_key).into_bytes(),
        ),
        (
            "pending TOTP key (base32)".into(),
            b32(&pending_key).into_bytes(),
        ),
        ("authorization code".into(), code.clone().into_bytes()),
        ("access token".into(), access.into_bytes()),
        ("refresh token".into(), refresh.into_bytes()),
        ("session id".into(), session_cookie.into_bytes()),
    ];
    for (i, c) in codes.iter().enumerate() {
        needles.push((format!("backup code {i}"), c.clone().into_bytes()));
        needles.push((
            format!("backup code {i} (bare)"),
            c.replace('-', "").into_bytes(),
        ));
    }
    // Control: the dump does hold the data (a search that finds nothing proves nothing).
    let email = b"ada@example.com";
    assert!(
        dump.windows(email.len()).any(|w| w == email),
        "the dump has the user rows"
    );
    for (what, needle) in needles {
        assert!(
            !dump.windows(needle.len()).any(|w| w == needle.as_slice()),
            "{what} found in the database dump"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every byte the database holds: the SQLite file and its WAL, or `pg_dump` output.
pub(crate) async fn dump_database(app: &TestApp) -> Vec<u8> {
    if let Some(path) = app.db_url.strip_prefix("sqlite://") {
        let mut out = std::fs::read(path).unwrap();
        if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
            out.extend(wal);
        }
        out
    } else {
        let output = std::process::Command::new("pg_dump")
            .arg("--data-only")
            .arg(&app.db_url)
            .output()
            .expect("pg_dump (postgresql-client) is installed");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }
}

#[tokio::test]
async fn a_password_change_also_ends_a_login_waiting_for_its_second_step() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let mut owner = app.browser();
    owner.login("ada").await;
    let (key, _) = enroll(&app, &mut owner).await;
    app.clock.advance(Duration::seconds(30));
    // Someone with the password reaches the code step...
    let rp = web_rp(&app).await;
    let mut attacker = app.browser();
    let s = rp.start(&[], &[]);
    let page = password_step(&mut attacker, &s, "ada").await;
    assert!(page.body.contains("Two-step verification"));
    // ...the owner changes the password...
    let account = owner.get("/account").await;
    let csrf = account.input("csrf_token").unwrap();
    let res = owner
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a completely new password"),
                ("confirm_password", "a completely new password"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(res.location().as_deref(), Some("/account?notice=password"));
    // ...and the half-done login is gone, even with a valid code.
    let res = submit_code(
        &mut attacker,
        &page,
        &totp_code(&key, app.clock.now()),
        false,
    )
    .await;
    assert_eq!(
        res.status, 403,
        "the old session is gone, so its CSRF token is too: {}",
        res.status
    );
}

#[tokio::test]
async fn parallel_guesses_cannot_outrun_the_lockout() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    // Twenty browsers guess at once; at most the limit's worth get a real answer.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut b = app.browser();
        let page = b.get("/login").await;
        tasks.push(tokio::spawn(async move {
            b.submit_login(&page, "ada", "wrong password").await.status
        }));
    }
    let mut judged = 0;
    for t in tasks {
        match t.await.unwrap() {
            401 => judged += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        judged <= 6,
        "{judged} guesses were judged in a burst; the limit is 5"
    );
    assert!(judged >= 5);
}
