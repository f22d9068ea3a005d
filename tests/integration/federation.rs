//! Upstream federation: a second Lanyard instance is the upstream (real discovery, JWKS, token
//! and userinfo endpoints over HTTP), and a relying party signs in at the downstream one.
use chrono::Duration;
use lanyard_core::clock::Clock;
use openidconnect::AuthType;
use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
use tokio::net::TcpListener;

use lanyard_core::federation::{LinkBy, Upstream};
use lanyard_core::secret::Secret;

use crate::harness::{
    Browser, PASSWORD, Page, SECRET, Settings, TestApp, client, jwt_claims, query_of, reserve_port,
    standard, upstream,
};
use crate::rp::{REDIRECT, Started, TestRp};

/// A downstream Lanyard federating with an upstream Lanyard ("up").
pub(crate) struct Pair {
    pub down: TestApp,
    pub up: TestApp,
}

fn port(l: &TcpListener) -> u16 {
    l.local_addr().unwrap().port()
}

/// `edit_upstream`: changes to the downstream's `up` upstream entry; `edit_down`: changes to
/// the downstream's settings.
pub(crate) async fn pair(
    edit_upstream: impl FnOnce(&mut Upstream),
    edit_down: impl FnOnce(&mut Settings),
) -> Pair {
    let (dl, ul) = (reserve_port().await, reserve_port().await);
    let (d, u) = (port(&dl), port(&ul));
    let up = TestApp::spawn_listening(ul, |s| {
        // A different cookie name: browsers share cookies across ports of one host.
        s.sessions.cookie_name = "upstream_session".into();
        let mut down = client("lanyard-down");
        down.name = "Downstream Lanyard".into();
        down.redirect_uris = vec![format!("http://127.0.0.1:{d}/federation/up/callback")];
        down.post_logout_redirect_uris =
            vec![format!("http://127.0.0.1:{d}/federation/up/logged-out")];
        down.scopes.push("groups".into());
        s.clients.push(down);
    })
    .await;
    let down = TestApp::spawn_listening(dl, |s| {
        let issuer = format!("http://127.0.0.1:{u}");
        let mut up = upstream("up", "Upstream Co", &issuer, "lanyard-down");
        up.scopes.push("groups".into());
        edit_upstream(&mut up);
        s.upstreams.push(up);
        edit_down(s);
    })
    .await;
    Pair { down, up }
}

/// Follow redirects across origins (downstream ⇄ upstream) until a page renders or the
/// browser is sent to the relying party. Returns the page and the URL it came from.
pub(crate) async fn go(b: &mut Browser, url: &str) -> (Page, String) {
    let mut url = url.to_string();
    for _ in 0..15 {
        let page = b.get(&url).await;
        match page.location() {
            Some(loc) if !loc.starts_with(REDIRECT) && !loc.starts_with("http://127.0.0.1:9/") => {
                url = url::Url::parse(&url)
                    .unwrap()
                    .join(&loc)
                    .unwrap()
                    .to_string();
            }
            _ => return (page, url),
        }
    }
    panic!("too many redirects from {url}");
}

/// Submit a login form shown at `page_url` (any origin), then keep following.
pub(crate) async fn sign_in_at(
    b: &mut Browser,
    page: &Page,
    page_url: &str,
    user: &str,
) -> (Page, String) {
    let csrf = page.input("csrf_token").expect("csrf on the login page");
    let flow = page.input("flow").unwrap_or_default();
    let action = url::Url::parse(page_url).unwrap().join("/login").unwrap();
    let res = b
        .post(
            action.as_str(),
            &[
                ("username", user),
                ("password", PASSWORD),
                ("flow", &flow),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    match res.location() {
        Some(loc) if !loc.starts_with(REDIRECT) => go(b, action.join(&loc).unwrap().as_str()).await,
        _ => (res, action.to_string()),
    }
}

/// From the relying party's authorize URL, click "Continue with Upstream Co" and sign in at the
/// upstream. Returns where that ends (the RP redirect, or a downstream page).
pub(crate) async fn federated_login(
    p: &Pair,
    b: &mut Browser,
    started: &Started,
    user: &str,
) -> (Page, String) {
    let (login, _) = go(b, &started.url).await;
    assert!(
        login.body.contains("Continue with Upstream Co"),
        "{}",
        login.body
    );
    let start = crate::harness::html_unescape(
        login
            .body
            .split("href=\"")
            .find(|s| {
                s.starts_with("&#x2f;federation&#x2f;up&#x2f;start")
                    || s.starts_with("/federation/up/start")
            })
            .and_then(|s| s.split('"').next())
            .expect("upstream button"),
    );
    let (up_login, up_url) = go(b, &p.down.url(&start)).await;
    assert!(
        up_url.starts_with(&p.up.issuer),
        "at the upstream: {up_url}"
    );
    sign_in_at(b, &up_login, &up_url, user).await
}

fn code_of(page: &Page, started: &Started) -> String {
    let loc = page.location().unwrap_or_else(|| {
        panic!(
            "expected a redirect to the RP, got {}: {}",
            page.status, page.body
        )
    });
    let q = query_of(&loc);
    assert_eq!(
        q.get("state").map(String::as_str),
        Some(started.state.secret().as_str())
    );
    q.get("code").cloned().expect("code")
}

async fn rp(app: &TestApp) -> TestRp {
    TestRp::new(
        app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await
}

async fn kinds(app: &TestApp) -> Vec<(String, serde_json::Value)> {
    app.store
        .list_audit(&lanyard_core::model::AuditFilter {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.detail))
        .collect()
}

#[tokio::test]
async fn jit_creates_the_account_and_the_rp_request_survives_the_round_trip() {
    let p = pair(|u| u.jit = true, standard).await;
    p.up.user("ada").await;
    let rp = rp(&p.down).await;
    let mut b = p.down.browser();
    let s = rp.start(&["profile", "email"], &[]);
    let (done, _) = federated_login(&p, &mut b, &s, "ada").await;
    // state checked in code_of; nonce and PKCE by the exchange and verification.
    let code = code_of(&done, &s);
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let claims = rp.verify(&tokens, Some(&s.nonce));
    let id = jwt_claims(&tokens.extra_fields().id_token().unwrap().to_string());
    assert_eq!(id["amr"], serde_json::json!(["fed"]));
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
    let local = p
        .down
        .store
        .find_user_by_username("ada")
        .await
        .unwrap()
        .expect("JIT user");
    assert!(
        local.password_hash.is_none(),
        "no local password for a JIT user"
    );
    assert!(local.email_verified);
    assert_eq!(claims.subject().as_str(), local.id.to_string());
    let events = kinds(&p.down).await;
    assert!(
        events
            .iter()
            .any(|(k, d)| k == "user_created" && d["by"] == "jit")
    );
    assert!(
        events
            .iter()
            .any(|(k, d)| k == "login_succeeded" && d["upstream"] == "up")
    );

    // The next login finds the identity: no second user.
    let mut again = p.down.browser();
    let s = rp.start(&[], &[]);
    let (done, _) = federated_login(&p, &mut again, &s, "ada").await;
    code_of(&done, &s);
    assert_eq!(p.down.store.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_verified_email_links_to_the_existing_account() {
    let p = pair(|u| u.link_by = LinkBy::VerifiedEmail, standard).await;
    p.up.user("ada").await;
    let local = p.down.user("ada.local").await;
    let mut u = local.clone();
    u.email = Some("ADA@example.com".into());
    p.down
        .store
        .update_profile(
            u.id,
            &lanyard_core::model::ProfileUpdate {
                email: u.email.clone(),
                name: u.name.clone(),
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    // update_profile resets email_verified when the email changes; the admin verified it.
    let rp = rp(&p.down).await;
    let mut b = p.down.browser();
    let s = rp.start(&[], &[]);
    let (page, _) = federated_login(&p, &mut b, &s, "ada").await;
    assert_eq!(
        page.status, 403,
        "an unverified local address is not linked: {}",
        page.body
    );
    assert!(
        p.down
            .store
            .list_identities(local.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Verified on both sides: the owner of the local account confirms by signing in to it.
    let p = pair(|u| u.link_by = LinkBy::VerifiedEmail, standard).await;
    p.up.user("ada").await;
    let template = p.down.user("someone.else").await;
    let mut local = lanyard_core::model::User::new("ada.local", chrono::Utc::now());
    local.email = Some("Ada@Example.com".into());
    local.email_verified = true;
    local.password_hash = template.password_hash.clone();
    p.down.store.create_user(&local).await.unwrap();
    let rp = crate::federation::rp(&p.down).await;
    let mut b = p.down.browser();
    let s = rp.start(&[], &[]);
    let (page, page_url) = federated_login(&p, &mut b, &s, "ada").await;
    assert_eq!(page.status, 200, "the local sign-in page: {}", page.body);
    assert!(
        page.body
            .contains("Upstream Co sign-in uses the email address")
    );
    assert_eq!(page.input("username").as_deref(), Some("ada.local"));
    assert!(
        p.down
            .store
            .list_identities(local.id)
            .await
            .unwrap()
            .is_empty(),
        "nothing is linked before the owner confirms"
    );
    let (done, _) = sign_in_at(&mut b, &page, &page_url, "ada.local").await;
    let code = code_of(&done, &s);
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let claims = rp.verify(&tokens, Some(&s.nonce));
    assert_eq!(
        claims.subject().as_str(),
        local.id.to_string(),
        "the existing account"
    );
    let ids = p.down.store.list_identities(local.id).await.unwrap();
    assert_eq!(ids.len(), 1);
    assert!(
        kinds(&p.down)
            .await
            .iter()
            .any(|(k, d)| k == "identity_linked" && d["by"] == "verified_email_confirmed")
    );
    // From now on the upstream alone signs the owner in.
    let mut again = p.down.browser();
    let s = rp.start(&[], &[]);
    let (done, _) = federated_login(&p, &mut again, &s, "ada").await;
    let tokens = rp.exchange(&code_of(&done, &s), s.verifier).await.unwrap();
    let id = jwt_claims(&tokens.extra_fields().id_token().unwrap().to_string());
    assert_eq!(id["sub"], local.id.to_string());
    assert_eq!(id["amr"], serde_json::json!(["fed"]));
}

/// Issue "Hardening" 4b: the proposal to link is only honoured for its own account; signing in
/// to another one on that page links nothing.
#[tokio::test]
async fn a_link_by_email_is_not_made_for_another_account() {
    let p = pair(|u| u.link_by = LinkBy::VerifiedEmail, standard).await;
    p.up.user("ada").await;
    let other = p.down.user("mallory").await;
    let mut local = lanyard_core::model::User::new("ada.local", chrono::Utc::now());
    local.email = Some("ada@example.com".into());
    local.email_verified = true;
    local.password_hash = other.password_hash.clone();
    p.down.store.create_user(&local).await.unwrap();
    let rp = crate::federation::rp(&p.down).await;
    let mut b = p.down.browser();
    let s = rp.start(&[], &[]);
    let (page, page_url) = federated_login(&p, &mut b, &s, "ada").await;
    assert_eq!(page.status, 200);
    let (done, _) = sign_in_at(&mut b, &page, &page_url, "mallory").await;
    let tokens = rp.exchange(&code_of(&done, &s), s.verifier).await.unwrap();
    let id = jwt_claims(&tokens.extra_fields().id_token().unwrap().to_string());
    assert_eq!(id["sub"], other.id.to_string(), "signed in as mallory");
    for u in [local.id, other.id] {
        assert!(p.down.store.list_identities(u).await.unwrap().is_empty());
    }
}

/// Submit the code step shown on `page` (downstream) and follow on.
async fn submit_totp(p: &Pair, b: &mut Browser, page: &Page, key: &[u8]) -> Page {
    let code = crate::harness::totp_code(key, p.down.clock.now());
    let res = b
        .post(
            &p.down.url("/login/mfa"),
            &[
                ("code", code.as_str()),
                ("flow", &page.input("flow").unwrap_or_default()),
                ("csrf_token", &page.input("csrf_token").unwrap()),
            ],
        )
        .await;
    b.follow(res).await
}

/// Issue "Hardening" 4: an account with a second factor confirms a link by email with both
/// factors, and afterwards completes its second factor after every upstream login whose amr/acr
/// the upstream entry does not trust.
#[tokio::test]
async fn a_local_second_factor_is_asked_after_an_untrusted_upstream_login() {
    let p = pair(
        |u| {
            u.link_by = LinkBy::VerifiedEmail;
            u.trust_upstream_mfa = vec!["hwk".into()];
        },
        standard,
    )
    .await;
    p.up.user("ada.local").await;
    p.down.user("ada.local").await;
    let mut owner = p.down.browser();
    owner.login("ada.local").await;
    let (key, _) = crate::mfa::enroll(&p.down, &mut owner).await;
    let rp = rp(&p.down).await;

    // Linking: the upstream login leads to the local sign-in, which asks for the code too.
    p.down.clock.advance(Duration::seconds(30));
    let mut b = p.down.browser();
    let s = rp.start(&[], &[]);
    let (page, page_url) = federated_login(&p, &mut b, &s, "ada.local").await;
    assert!(
        page.body
            .contains("uses the email address of an account here")
    );
    let (code_page, _) = sign_in_at(&mut b, &page, &page_url, "ada.local").await;
    assert!(
        code_page.body.contains("Two-step verification"),
        "{}",
        code_page.body
    );
    let done = submit_totp(&p, &mut b, &code_page, &key).await;
    code_of(&done, &s);
    let local = p
        .down
        .store
        .find_user_by_username("ada.local")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.down.store.list_identities(local.id).await.unwrap().len(),
        1
    );

    // Signing in through the upstream again stops at the local code step.
    p.down.clock.advance(Duration::seconds(30));
    let mut b = p.down.browser();
    let s = rp.start(&[], &[]);
    let (page, page_url) = federated_login(&p, &mut b, &s, "ada.local").await;
    assert!(page_url.contains("/login/mfa"), "{page_url}");
    let done = submit_totp(&p, &mut b, &page, &key).await;
    let tokens = rp.exchange(&code_of(&done, &s), s.verifier).await.unwrap();
    let id = jwt_claims(&tokens.extra_fields().id_token().unwrap().to_string());
    assert_eq!(id["amr"], serde_json::json!(["fed", "otp", "mfa"]));
}

#[tokio::test]
async fn an_unverified_upstream_email_is_not_linked_and_nothing_is_created() {
    let p = pair(|u| u.link_by = LinkBy::VerifiedEmail, standard).await;
    let mut ada = p.up.user("ada").await;
    ada.email_verified = false;
    // Re-create the upstream user with an unverified address.
    p.up.store.delete_user(ada.id).await.unwrap();
    let mut u = lanyard_core::model::User::new("ada", chrono::Utc::now());
    u.email = Some("ada@example.com".into());
    u.password_hash = ada.password_hash.clone();
    p.up.store.create_user(&u).await.unwrap();
    let local = p.down.user("ada.local").await;
    let rp = rp(&p.down).await;
    let mut b = p.down.browser();
    let s = rp.start(&[], &[]);
    let (page, _) = federated_login(&p, &mut b, &s, "ada").await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("not verified"), "{}", page.body);
    assert!(
        p.down
            .store
            .list_identities(local.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(p.down.store.list_users().await.unwrap().len(), 1);
    assert!(
        kinds(&p.down)
            .await
            .iter()
            .any(|(k, d)| k == "federation_refused" && d["reason"] == "email_unverified")
    );
    // No session either.
    assert_eq!(
        b.get(&p.down.url("/account")).await.location().as_deref(),
        Some("/login")
    );
}

#[tokio::test]
async fn local_mfa_policy_applies_unless_the_upstream_mfa_is_trusted() {
    // Not trusted: a JIT user under require_for_all enrolls locally, with no password to ask for.
    let p = pair(|u| u.jit = true, |s| s.mfa.require_for_all = true).await;
    p.up.user("ada").await;
    let rp = rp(&p.down).await;
    let mut b = p.down.browser();
    let s = rp.start(&[], &[]);
    let (page, url) = federated_login(&p, &mut b, &s, "ada").await;
    assert!(url.contains("/login/enroll"), "{url}");
    assert!(page.body.contains("Set up an authenticator app"));
    assert!(
        !page.body.contains("name=\"password\""),
        "a JIT user has no password"
    );
    let key = crate::mfa::key_from_page(&page);
    let csrf = page.input("csrf_token").unwrap();
    let flow = page.input("flow").unwrap();
    let code = crate::harness::totp_code(&key, p.down.clock.now());
    let codes = b
        .post(
            &p.down.url("/login/enroll"),
            &[
                ("code", code.as_str()),
                ("flow", &flow),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(codes.status, 200, "{}", codes.body);
    let cont = crate::harness::html_unescape(
        codes
            .body
            .split("class=\"btn btn-primary\" href=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap(),
    );
    let res = b.get(&p.down.url(&cont)).await;
    let code = code_of(&res, &s);
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let id = jwt_claims(&tokens.extra_fields().id_token().unwrap().to_string());
    assert_eq!(id["amr"], serde_json::json!(["fed", "otp", "mfa"]));
    assert_eq!(id["acr"], "urn:lanyard:acr:mfa");

    // Trusted: the upstream's own MFA satisfies the policy.
    let p = pair(
        |u| {
            u.jit = true;
            u.trust_upstream_mfa = vec!["mfa".into()];
        },
        |s| s.mfa.require_for_all = true,
    )
    .await;
    p.up.user("bob").await;
    let mut setup = p.up.browser();
    setup.login("bob").await;
    let (key, _) = crate::mfa::enroll(&p.up, &mut setup).await;
    p.up.clock.advance(Duration::seconds(30));
    let rp = crate::federation::rp(&p.down).await;
    let mut b = p.down.browser();
    let s = rp.start(&[], &[]);
    let (page, url) = federated_login(&p, &mut b, &s, "bob").await;
    assert!(
        url.contains("/login/mfa"),
        "the upstream asks for its code: {url}"
    );
    let csrf = page.input("csrf_token").unwrap();
    let flow = page.input("flow").unwrap_or_default();
    let code = crate::harness::totp_code(&key, p.up.clock.now());
    let res = b
        .post(
            &p.up.url("/login/mfa"),
            &[
                ("code", code.as_str()),
                ("flow", &flow),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    let next = url::Url::parse(&p.up.issuer)
        .unwrap()
        .join(&res.location().unwrap())
        .unwrap();
    let (done, _) = go(&mut b, next.as_str()).await;
    let code = code_of(&done, &s);
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let id = jwt_claims(&tokens.extra_fields().id_token().unwrap().to_string());
    assert_eq!(
        id["amr"],
        serde_json::json!(["fed", "mfa"]),
        "fed plus what was trusted"
    );
    assert_eq!(id["acr"], "urn:lanyard:acr:mfa");
}

#[tokio::test]
async fn identities_are_linked_and_unlinked_from_the_account_page() {
    let p = pair(|_| {}, standard).await;
    p.up.user("ada").await;
    let local = p.down.user("ada").await;
    let mut b = p.down.browser();
    b.login("ada").await;
    let account = b.get("/account").await;
    assert!(account.body.contains("Link provider"));
    let csrf = account.input("csrf_token").unwrap();
    // Linking adds a way in: it needs the password (and a POST with the CSRF token).
    let res = b
        .post(
            "/account/identities/link",
            &[
                ("upstream", "up"),
                ("password", "wrong"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(
        res.location().as_deref(),
        Some("/account?error=reauth#identities")
    );
    assert_eq!(
        b.get("/federation/up/start?link=1")
            .await
            .location()
            .map(|l| l.contains("/federation/")),
        Some(false)
    );
    let res = b
        .post(
            "/account/identities/link",
            &[
                ("upstream", "up"),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    let to_upstream = res.location().expect("to the upstream");
    assert!(
        to_upstream.contains("prompt=login"),
        "a fresh login at the upstream: {to_upstream}"
    );
    let (up_login, up_url) = go(&mut b, &to_upstream).await;
    let (page, url) = sign_in_at(&mut b, &up_login, &up_url, "ada").await;
    assert!(
        url.ends_with("/account?notice=linked#identities") || page.body.contains("was linked"),
        "{url}"
    );
    let ids = p.down.store.list_identities(local.id).await.unwrap();
    assert_eq!(ids.len(), 1);
    let account = b.get("/account").await;
    assert!(account.body.contains("Upstream Co"));
    let csrf = account.input("csrf_token").unwrap();
    let res = b
        .post(
            "/account/identities/unlink",
            &[
                ("upstream", "up"),
                ("subject", &ids[0].subject),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(
        res.location().as_deref(),
        Some("/account?notice=unlinked#identities")
    );
    assert!(
        p.down
            .store
            .list_identities(local.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked() {
    let p = pair(|u| u.jit = true, standard).await;
    p.up.user("ada").await;
    let rp = rp(&p.down).await;
    let mut b = p.down.browser();
    let s = rp.start(&[], &[]);
    let (done, _) = federated_login(&p, &mut b, &s, "ada").await;
    code_of(&done, &s);
    let user = p
        .down
        .store
        .find_user_by_username("ada")
        .await
        .unwrap()
        .unwrap();
    let ids = p.down.store.list_identities(user.id).await.unwrap();
    let account = b.get(&p.down.url("/account")).await;
    assert!(
        account.body.contains("Your only way to sign in"),
        "{}",
        account.body
    );
    let csrf = account.input("csrf_token").unwrap();
    let res = b
        .post(
            &p.down.url("/account/identities/unlink"),
            &[
                ("upstream", "up"),
                ("subject", &ids[0].subject),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(
        res.location().as_deref(),
        Some("/account?error=last_login_method#identities")
    );
    assert_eq!(
        p.down.store.list_identities(user.id).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn logout_continues_to_the_upstream_and_back() {
    let p = pair(
        |u| {
            u.jit = true;
            u.logout_upstream = true;
        },
        standard,
    )
    .await;
    p.up.user("ada").await;
    let rp = rp(&p.down).await;
    let mut b = p.down.browser();
    let s = rp.start(&[], &[]);
    let (done, _) = federated_login(&p, &mut b, &s, "ada").await;
    let code = code_of(&done, &s);
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let hint = tokens.extra_fields().id_token().unwrap().to_string();
    let logout = format!(
        "/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=bye1",
        url::form_urlencoded::byte_serialize(b"http://127.0.0.1:9/bye").collect::<String>()
    );
    let res = b.get(&p.down.url(&logout)).await;
    let loc = res.location().expect("redirect to the upstream's logout");
    assert!(
        loc.starts_with(&format!("{}/logout?", p.up.issuer)),
        "{loc}"
    );
    assert!(loc.contains("client_id=lanyard-down"));
    // The upstream's own ID token goes along as id_token_hint, so it signs out at once.
    assert!(loc.contains("id_token_hint="), "{loc}");
    let back = b.get(&loc).await;
    let back_loc = back.location().expect("back to the downstream");
    assert!(
        back_loc.starts_with(&p.down.url("/federation/up/logged-out")),
        "{back_loc}"
    );
    let fin = b.get(&back_loc).await;
    assert_eq!(
        fin.location().as_deref(),
        Some("http://127.0.0.1:9/bye?state=bye1")
    );
    assert_eq!(
        b.get(&p.down.url("/account")).await.location().as_deref(),
        Some("/login")
    );
}

#[tokio::test]
async fn an_unreachable_upstream_does_not_stop_local_logins() {
    let closed = reserve_port().await;
    let dead = port(&closed);
    drop(closed);
    let app = TestApp::spawn_with(move |s| {
        let issuer = format!("http://127.0.0.1:{dead}");
        s.upstreams.push(upstream("gone", "Gone Inc", &issuer, "x"));
    })
    .await;
    app.user("ada").await;
    let mut b = app.browser();
    let login = b.get("/login").await;
    assert!(login.body.contains("Continue with Gone Inc"));
    let res = b.submit_login(&login, "ada", PASSWORD).await;
    assert_eq!(
        res.location().as_deref(),
        Some("/account"),
        "local login works"
    );
    let page = b.get("/federation/gone/start").await;
    assert_eq!(page.status, 502);
    assert!(
        page.body.contains("Gone Inc cannot be reached right now"),
        "{}",
        page.body
    );
    assert!(
        kinds(&app)
            .await
            .iter()
            .any(|(k, d)| k == "federation_failed" && d["reason"] == "unavailable")
    );
    let unknown = b.get("/federation/nope/start").await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn a_callback_needs_the_state_of_a_login_started_here_and_only_once() {
    let p = pair(|u| u.jit = true, standard).await;
    p.up.user("ada").await;
    let mut b = p.down.browser();
    // No state / unknown state.
    let res = b.get(&p.down.url("/federation/up/callback?code=x")).await;
    assert_eq!(res.status, 400);
    assert!(
        res.body
            .contains("does not belong to a sign-in started in this browser")
    );
    let res = b
        .get(&p.down.url("/federation/up/callback?code=x&state=forged"))
        .await;
    assert_eq!(res.status, 400);
    // A real round trip, then the same callback replayed.
    let start = b.get(&p.down.url("/federation/up/start")).await;
    let up_url = start.location().unwrap();
    let (up_login, up_url) = go(&mut b, &up_url).await;
    let csrf = up_login.input("csrf_token").unwrap();
    let flow = up_login.input("flow").unwrap_or_default();
    let res = b
        .post(
            url::Url::parse(&up_url)
                .unwrap()
                .join("/login")
                .unwrap()
                .as_str(),
            &[
                ("username", "ada"),
                ("password", PASSWORD),
                ("flow", &flow),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    let to_callback = res.location().unwrap();
    assert!(
        to_callback.starts_with(&p.down.url("/federation/up/callback")),
        "{to_callback}"
    );
    let first = b.get(&to_callback).await;
    assert_eq!(
        first.location().as_deref(),
        Some("/account"),
        "{}",
        first.body
    );
    let replay = b.get(&to_callback).await;
    assert_eq!(replay.status, 400, "a state is single use");

    // An upstream error (access_denied) on a fresh login: a clear page, no session change.
    let mut c = p.down.browser();
    let start = c.get(&p.down.url("/federation/up/start")).await;
    let q = query_of(&start.location().unwrap());
    let state = q.get("state").unwrap();
    let res = c
        .get(&p.down.url(&format!(
            "/federation/up/callback?error=access_denied&state={state}"
        )))
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("did not sign you in (access denied)"));
    assert!(kinds(&p.down).await.iter().any(|(k, d)| k == "federation_failed" && d["reason"] == "upstream_error:access_denied"));

    // An expired login flow.
    let start = c.get(&p.down.url("/federation/up/start")).await;
    let state = query_of(&start.location().unwrap())
        .get("state")
        .unwrap()
        .clone();
    p.down.clock.advance(Duration::minutes(11));
    let res = c
        .get(&p.down.url(&format!(
            "/federation/up/callback?code=whatever&state={state}"
        )))
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body.contains("took too long"));
}

// ---- a scripted upstream that misbehaves -------------------------------------------------

use crate::fake_upstream::{CLIENT_ID, CLIENT_SECRET, FakeUpstream, Fault};

async fn with_fake(edit: impl FnOnce(&mut Upstream)) -> (TestApp, FakeUpstream) {
    let fake = FakeUpstream::start(reserve_port().await).await;
    let issuer = fake.issuer.clone();
    let app = TestApp::spawn_with(move |s| {
        let mut up = upstream("fake", "Fake IdP", &issuer, CLIENT_ID);
        up.client_secret = Secret::new(CLIENT_SECRET.into());
        edit(&mut up);
        s.upstreams.push(up);
    })
    .await;
    (app, fake)
}

/// Start a login at the fake upstream and follow it to the callback's answer.
async fn attempt(app: &TestApp) -> (Browser, Page) {
    let mut b = app.browser();
    let start = b.get("/federation/fake/start").await;
    let at_upstream = start.location().expect("redirect to the upstream");
    let back = b.get(&at_upstream).await.location().expect("redirect back");
    assert!(
        back.starts_with(&app.url("/federation/fake/callback")),
        "{back}"
    );
    let page = b.get(&back).await;
    (b, page)
}

#[tokio::test]
async fn every_bad_upstream_answer_gets_a_clear_page_and_nothing_else() {
    let (app, fake) = with_fake(|u| u.jit = true).await;
    let cases = [
        (
            Fault::Denied,
            400,
            "did not sign you in (access denied)",
            "upstream_error:access_denied",
        ),
        (
            Fault::WrongIssuer,
            502,
            "could not be verified",
            "invalid_response",
        ),
        (
            Fault::BadSignature,
            502,
            "could not be verified",
            "invalid_response",
        ),
        (
            Fault::UnknownKid,
            502,
            "could not be verified",
            "invalid_response",
        ),
        (
            Fault::WrongNonce,
            502,
            "could not be verified",
            "invalid_response",
        ),
        (
            Fault::WrongAudience,
            502,
            "could not be verified",
            "invalid_response",
        ),
        (
            Fault::Expired,
            502,
            "could not be verified",
            "invalid_response",
        ),
        (
            Fault::Garbage,
            502,
            "could not be verified",
            "invalid_response",
        ),
        // HS256 keyed with our client secret: refused although discovery lists it.
        (
            Fault::Hs256,
            502,
            "could not be verified",
            "invalid_response",
        ),
        (
            Fault::WrongAzp,
            502,
            "could not be verified",
            "invalid_response",
        ),
    ];
    for (fault, status, words, reason) in cases {
        fake.set(fault);
        let before = kinds(&app).await.len();
        let (mut b, page) = attempt(&app).await;
        assert_eq!(page.status, status, "{fault:?}: {}", page.body);
        assert!(page.body.contains(words), "{fault:?}: {}", page.body);
        assert!(
            !page.body.contains("fake-access-token"),
            "no token in the page"
        );
        let new: Vec<_> = kinds(&app)
            .await
            .into_iter()
            .take(kinds(&app).await.len() - before)
            .collect();
        assert!(
            new.iter()
                .any(|(k, d)| k == "federation_failed" && d["reason"] == reason),
            "{fault:?}: audited as {reason}: {new:?}"
        );
        assert_eq!(
            b.get("/account").await.location().as_deref(),
            Some("/login"),
            "{fault:?}: no session"
        );
        assert!(
            app.store.list_users().await.unwrap().is_empty(),
            "{fault:?}: no account"
        );
    }
    // Control: the same upstream behaving well signs the user in (JIT).
    fake.set(Fault::None);
    let (mut b, page) = attempt(&app).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/account"),
        "{}",
        page.body
    );
    assert_eq!(b.get("/account").await.status, 200);
    assert_eq!(app.store.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn missing_or_unverified_email_creates_and_links_nothing() {
    let (app, fake) = with_fake(|u| u.jit = true).await;
    fake.set(Fault::NoEmail);
    let (_, page) = attempt(&app).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(
        page.body.contains("did not share the email address"),
        "{}",
        page.body
    );
    assert!(app.store.list_users().await.unwrap().is_empty());

    let (app, fake) = with_fake(|u| u.link_by = LinkBy::VerifiedEmail).await;
    let mut local = lanyard_core::model::User::new("someone", chrono::Utc::now());
    local.email = Some("fake@example.com".into());
    local.email_verified = true;
    app.store.create_user(&local).await.unwrap();
    fake.set(Fault::EmailUnverified);
    let (_, page) = attempt(&app).await;
    assert_eq!(page.status, 403);
    assert!(
        app.store
            .list_identities(local.id)
            .await
            .unwrap()
            .is_empty()
    );
    // The same address, verified upstream: the account has no password to confirm the link
    // with, so nothing is linked and the page says how to link it.
    fake.set(Fault::None);
    let (_, page) = attempt(&app).await;
    assert_eq!(page.status, 403);
    assert!(
        page.body.contains("the way you usually do"),
        "{}",
        page.body
    );
    assert!(
        app.store
            .list_identities(local.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Issue "Hardening" 10: an upstream `auth_time` from long ago does not end the new local
/// session at once: its lifetime counts from the local login.
#[tokio::test]
async fn an_old_upstream_auth_time_does_not_expire_the_new_session() {
    let (app, fake) = with_fake(|u| u.jit = true).await;
    fake.set(Fault::OldAuthTime);
    let (mut b, page) = attempt(&app).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/account"),
        "{}",
        page.body
    );
    let account = b.get("/account").await;
    assert_eq!(
        account.status, 200,
        "signed in, although auth_time is two days old"
    );
}

#[tokio::test]
async fn an_upstream_that_times_out_is_a_clear_page() {
    let (app, fake) = with_fake(|u| u.jit = true).await;
    fake.set(Fault::Slow);
    let (mut b, page) = attempt(&app).await;
    assert_eq!(page.status, 502);
    assert!(page.body.contains("could not be verified"));
    assert_eq!(
        b.get("/account").await.location().as_deref(),
        Some("/login")
    );
}

#[test]
fn presets_derive_issuers_from_the_config() {
    let base = "issuer = \"https://id.example.com\"\n[encryption]\nkey = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";
    let toml = format!(
        "{base}
[[upstreams]]
name = \"auth0\"
kind = \"auth0\"
domain = \"example.eu.auth0.com\"
client_id = \"a\"
client_secret = \"b\"

[[upstreams]]
name = \"okta\"
kind = \"okta\"
org_url = \"https://dev-123.okta.com/\"
authorization_server_id = \"default\"
client_id = \"a\"
client_secret = \"b\"

[[upstreams]]
name = \"okta-org\"
kind = \"okta\"
org_url = \"https://dev-123.okta.com\"
client_id = \"a\"
client_secret = \"b\"
"
    );
    let s = lanyard_config::load_from_str(&toml, &[], std::path::Path::new(".")).unwrap();
    let issuers: Vec<&str> = s.upstreams.iter().map(|u| u.issuer.as_str()).collect();
    assert_eq!(
        issuers,
        vec![
            "https://example.eu.auth0.com/",
            "https://dev-123.okta.com/oauth2/default",
            "https://dev-123.okta.com"
        ]
    );
    // The endpoints come from each issuer's discovery document.
    assert_eq!(
        format!(
            "{}/.well-known/openid-configuration",
            s.upstreams[1].issuer.trim_end_matches('/')
        ),
        "https://dev-123.okta.com/oauth2/default/.well-known/openid-configuration"
    );
    assert_eq!(
        format!(
            "{}/.well-known/openid-configuration",
            s.upstreams[0].issuer.trim_end_matches('/')
        ),
        "https://example.eu.auth0.com/.well-known/openid-configuration"
    );
}

#[tokio::test]
async fn jit_does_not_create_a_second_account_for_an_email_in_use() {
    let (app, fake) = with_fake(|u| u.jit = true).await;
    let mut local = lanyard_core::model::User::new("someone", chrono::Utc::now());
    local.email = Some("fake@example.com".into());
    app.store.create_user(&local).await.unwrap();
    fake.set(Fault::None);
    let (_, page) = attempt(&app).await;
    assert_eq!(page.status, 403);
    assert!(
        page.body.contains("already uses this email address"),
        "{}",
        page.body
    );
    assert_eq!(app.store.list_users().await.unwrap().len(), 1);
    assert!(
        app.store
            .list_identities(local.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_key_rotation_at_the_upstream_is_picked_up() {
    let (app, fake) = with_fake(|u| u.jit = true).await;
    let (_, page) = attempt(&app).await;
    assert_eq!(page.location().as_deref(), Some("/account"));
    // The upstream now signs with a key our cached JWKS does not have.
    fake.rotate();
    let (_, page) = attempt(&app).await;
    assert_eq!(
        page.location().as_deref(),
        Some("/account"),
        "{}",
        page.body
    );
}
