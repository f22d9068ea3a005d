//! Passkey ceremonies against the provider, with a software authenticator written here from the
//! WebAuthn L3 formats (ES256 key, `none` attestation, hand-encoded CBOR), so the whole
//! verification path of webauthn-rs and the store's counter check run for real.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use lanyard_core::authn::LoginFailure;
use lanyard_core::authn::passkeys::PasskeyFailure;
use lanyard_core::model::User;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;

const RP_ID: &str = "localhost";

/// A security key holding one ES256 credential.
struct SoftKey {
    jwk: josekit::jwk::Jwk,
    cred_id: Vec<u8>,
    counter: u32,
    origin: String,
    /// The relying party id it signs for (its hash opens the authenticator data).
    rp_id: &'static str,
    /// The authenticator model it reports (zeroes: none).
    aaguid: [u8; 16],
}

fn cbor_bytes(b: &[u8]) -> Vec<u8> {
    let mut out = match b.len() {
        n if n < 24 => vec![0x40 + n as u8],
        n if n < 256 => vec![0x58, n as u8],
        n => vec![0x59, (n >> 8) as u8, n as u8],
    };
    out.extend_from_slice(b);
    out
}

fn cbor_text(s: &str) -> Vec<u8> {
    let mut out = vec![0x60 + s.len() as u8];
    out.extend_from_slice(s.as_bytes());
    out
}

/// ECDSA r||s (JWS form) to the DER form WebAuthn uses.
fn der(sig: &[u8]) -> Vec<u8> {
    let int = |x: &[u8]| {
        let mut x: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        if x.first().is_none_or(|b| b & 0x80 != 0) {
            x.insert(0, 0);
        }
        let mut out = vec![0x02, x.len() as u8];
        out.extend(x);
        out
    };
    let body = [int(&sig[..32]), int(&sig[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

impl SoftKey {
    fn new(origin: &str) -> Self {
        let pair = josekit::jws::ES256.generate_key_pair().unwrap();
        Self {
            jwk: pair.to_jwk_key_pair(),
            cred_id: uuid::Uuid::new_v4().as_bytes().to_vec(),
            counter: 0,
            origin: origin.into(),
            rp_id: RP_ID,
            aaguid: [0; 16],
        }
    }

    fn coord(&self, name: &str) -> Vec<u8> {
        B64.decode(self.jwk.parameter(name).unwrap().as_str().unwrap())
            .unwrap()
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"].as_str().unwrap();
        serde_json::to_vec(&json!({
            "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false
        }))
        .unwrap()
    }

    /// Flags UP | UV (| AT), plus the counter.
    fn auth_data(&self, flags: u8) -> Vec<u8> {
        let mut d = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        d.push(flags);
        d.extend_from_slice(&self.counter.to_be_bytes());
        d
    }

    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let signer = josekit::jws::ES256.signer_from_jwk(&self.jwk).unwrap();
        der(&signer.sign(data).unwrap())
    }

    /// The answer to `navigator.credentials.create()`.
    fn register(&self, options: &Value) -> String {
        let client_data = self.client_data("webauthn.create", options);
        let mut auth = self.auth_data(0x01 | 0x04 | 0x40);
        auth.extend_from_slice(&self.aaguid);
        auth.extend_from_slice(&(self.cred_id.len() as u16).to_be_bytes());
        auth.extend_from_slice(&self.cred_id);
        // COSE_Key: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
        auth.extend([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21]);
        auth.extend(cbor_bytes(&self.coord("x")));
        auth.push(0x22);
        auth.extend(cbor_bytes(&self.coord("y")));
        let mut att = vec![0xa3];
        att.extend(cbor_text("fmt"));
        att.extend(cbor_text("none"));
        att.extend(cbor_text("attStmt"));
        att.push(0xa0);
        att.extend(cbor_text("authData"));
        att.extend(cbor_bytes(&auth));
        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(att),
                "clientDataJSON": B64.encode(client_data),
            },
            "extensions": {}
        })
        .to_string()
    }

    /// The answer to `navigator.credentials.get()`, with `flags` (UP 0x01, UV 0x04).
    fn assert(&self, options: &Value, flags: u8, user_handle: Option<&[u8]>) -> String {
        let client_data = self.client_data("webauthn.get", options);
        let auth = self.auth_data(flags);
        let signed = [auth.clone(), Sha256::digest(&client_data).to_vec()].concat();
        json!({
            "id": B64.encode(&self.cred_id),
            "rawId": B64.encode(&self.cred_id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(&auth),
                "clientDataJSON": B64.encode(&client_data),
                "signature": B64.encode(self.sign(&signed)),
                "userHandle": user_handle.map(|h| B64.encode(h)),
            },
            "extensions": {}
        })
        .to_string()
    }
}

fn passkeys_on(s: &mut lanyard_config::Settings) {
    s.webauthn = lanyard_config::WebauthnSettings::On {
        rp_id: RP_ID.into(),
        rp_name: "Lanyard tests".into(),
        origins: vec![url::Url::parse("http://localhost:8080").unwrap()],
    };
}

async fn app_with_passkeys() -> (TestApp, String) {
    let app = TestApp::spawn_with(passkeys_on).await;
    (app, "http://localhost:8080".into())
}

async fn registered(
    app: &TestApp,
    user: &User,
    key: &SoftKey,
) -> lanyard_core::model::PasskeyCredential {
    let p = &app.app.state.provider;
    let (options, pending) = p.start_passkey_registration(user).await.unwrap().unwrap();
    let answer = key.register(&options);
    p.finish_passkey_registration(user, pending, &answer, Some("  Blue key  "), None)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_registered_passkey_signs_in_as_a_second_factor_and_without_a_password() {
    let (app, origin) = app_with_passkeys().await;
    let p = &app.app.state.provider;
    let alice = app.user("alice").await;
    let mut key = SoftKey::new(&origin);

    let (options, pending) = p.start_passkey_registration(&alice).await.unwrap().unwrap();
    // A discoverable credential is preferred, with a random user handle (not the user id).
    assert_eq!(
        options["publicKey"]["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    assert_eq!(options["publicKey"]["attestation"], "none");
    let handle = options["publicKey"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(B64.decode(&handle).unwrap(), alice.id.as_bytes().to_vec());
    assert_ne!(B64.decode(&handle).unwrap(), b"alice".to_vec());
    let stored = p
        .finish_passkey_registration(
            &alice,
            pending,
            &key.register(&options),
            Some("  Blue key  "),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Blue key");
    assert_eq!(
        p.list_passkeys(alice.id).await.unwrap(),
        vec![stored.clone()]
    );

    // Second factor: the options name alice's credential; a verified assertion is hers.
    let (options, pending) = p
        .start_passkey_second_factor(alice.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        options["publicKey"]["allowCredentials"][0]["id"],
        B64.encode(&key.cred_id)
    );
    key.counter = 1;
    let answer = key.assert(&options, 0x05, None);
    let ok = p
        .finish_passkey_assertion(pending, &answer, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ok.user_id, alice.id);
    assert_eq!(ok.method, "hwk", "not backup eligible: bound to one device");

    // Passwordless: the user handle leads to alice.
    let (options, pending) = p.start_passwordless().unwrap().unwrap();
    assert_eq!(options["mediation"], "conditional");
    key.counter = 2;
    let answer = key.assert(&options, 0x05, Some(&B64.decode(&handle).unwrap()));
    let ok = p
        .finish_passkey_assertion(pending, &answer, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ok.user_id, alice.id);
    let now = p.list_passkeys(alice.id).await.unwrap();
    assert_eq!(now[0].counter, 2);
    assert!(now[0].last_used_at.is_some());

    let kinds: Vec<String> = app
        .store
        .list_audit(&lanyard_core::model::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "passkey_used").count(), 2);
    assert_eq!(kinds.iter().filter(|k| *k == "passkey_added").count(), 1);
}

#[tokio::test]
async fn an_unnamed_passkey_is_named_after_its_authenticator() {
    let (app, origin) = app_with_passkeys().await;
    let p = &app.app.state.provider;
    let alice = app.user("alice").await;
    let mut hello = SoftKey::new(&origin);
    hello.aaguid = *uuid::Uuid::from_u128(0x08987058_cadc_4b81_b6e1_30de50dcbe96).as_bytes();
    let unknown = SoftKey::new(&origin);
    for key in [&hello, &unknown] {
        let (options, pending) = p.start_passkey_registration(&alice).await.unwrap().unwrap();
        p.finish_passkey_registration(&alice, pending, &key.register(&options), Some(" "), None)
            .await
            .unwrap()
            .unwrap();
    }
    let names: Vec<String> = p
        .list_passkeys(alice.id)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, vec!["Windows Hello", "Passkey"]);
}

#[tokio::test]
async fn a_counter_that_goes_back_is_refused_and_audited() {
    let (app, origin) = app_with_passkeys().await;
    let p = &app.app.state.provider;
    let alice = app.user("alice").await;
    let mut key = SoftKey::new(&origin);
    key.counter = 10;
    registered(&app, &alice, &key).await;

    let (options, pending) = p
        .start_passkey_second_factor(alice.id)
        .await
        .unwrap()
        .unwrap();
    key.counter = 3; // a clone that fell behind
    let answer = key.assert(&options, 0x05, None);
    assert_eq!(
        p.finish_passkey_assertion(pending, &answer, None)
            .await
            .unwrap(),
        Err(PasskeyFailure::CounterRegression)
    );
    let refused = app
        .store
        .list_audit(&lanyard_core::model::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "passkey_refused")
        .expect("audited");
    assert_eq!(refused.detail["reason"], "counter_regression");
    assert_eq!(p.list_passkeys(alice.id).await.unwrap()[0].counter, 10);
}

#[tokio::test]
async fn wrong_user_no_verification_other_origin_and_a_duplicate_are_refused() {
    let (app, origin) = app_with_passkeys().await;
    let p = &app.app.state.provider;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut key = SoftKey::new(&origin);
    registered(&app, &alice, &key).await;
    let mut bobs = SoftKey::new(&origin);
    registered(&app, &bob, &bobs).await;

    // Bob's key cannot stand in as alice's second factor.
    let (options, pending) = p
        .start_passkey_second_factor(alice.id)
        .await
        .unwrap()
        .unwrap();
    bobs.counter = 1;
    let answer = bobs.assert(&options, 0x05, None);
    assert_eq!(
        p.finish_passkey_assertion(pending, &answer, None)
            .await
            .unwrap(),
        Err(PasskeyFailure::Unknown)
    );

    // Without user verification (UP only) a passkey does not count.
    let (options, pending) = p
        .start_passkey_second_factor(alice.id)
        .await
        .unwrap()
        .unwrap();
    key.counter = 1;
    let answer = key.assert(&options, 0x01, None);
    assert_eq!(
        p.finish_passkey_assertion(pending, &answer, None)
            .await
            .unwrap(),
        Err(PasskeyFailure::NotVerified)
    );

    // An answer signed for another origin does not verify.
    let (options, pending) = p
        .start_passkey_second_factor(alice.id)
        .await
        .unwrap()
        .unwrap();
    let phished = SoftKey {
        origin: "http://localhost:9999".into(),
        jwk: key.jwk.clone(),
        cred_id: key.cred_id.clone(),
        counter: 2,
        rp_id: RP_ID,
        aaguid: [0; 16],
    };
    let answer = phished.assert(&options, 0x05, None);
    assert_eq!(
        p.finish_passkey_assertion(pending, &answer, None)
            .await
            .unwrap(),
        Err(PasskeyFailure::Rejected)
    );

    // Nor does one signed for another relying party id, even from the right origin.
    let (options, pending) = p
        .start_passkey_second_factor(alice.id)
        .await
        .unwrap()
        .unwrap();
    let elsewhere = SoftKey {
        rp_id: "evil.example",
        ..phished
    };
    let answer = elsewhere.assert(&options, 0x05, None);
    assert_eq!(
        p.finish_passkey_assertion(pending, &answer, None)
            .await
            .unwrap(),
        Err(PasskeyFailure::Rejected)
    );
    let elsewhere = SoftKey {
        origin: origin.clone(),
        ..elsewhere
    };
    let (options, pending) = p
        .start_passkey_second_factor(alice.id)
        .await
        .unwrap()
        .unwrap();
    let answer = elsewhere.assert(&options, 0x05, None);
    assert_eq!(
        p.finish_passkey_assertion(pending, &answer, None)
            .await
            .unwrap(),
        Err(PasskeyFailure::Rejected)
    );

    // A passkey removed while a ceremony was open no longer signs in.
    let (options, pending) = p
        .start_passkey_second_factor(bob.id)
        .await
        .unwrap()
        .unwrap();
    let bobs_id = p.list_passkeys(bob.id).await.unwrap()[0].id;
    assert_eq!(
        p.remove_passkey(&bob, bobs_id, None).await.unwrap(),
        Ok(true)
    );
    bobs.counter = 2;
    let answer = bobs.assert(&options, 0x05, None);
    assert_eq!(
        p.finish_passkey_assertion(pending, &answer, None)
            .await
            .unwrap(),
        Err(PasskeyFailure::Unknown)
    );

    // Registering the same authenticator twice is refused.
    let again = p.start_passkey_registration(&alice).await.unwrap().unwrap();
    let answer = key.register(&again.0);
    assert_eq!(
        p.finish_passkey_registration(&alice, again.1, &answer, None, None)
            .await
            .unwrap(),
        Err(PasskeyFailure::AlreadyRegistered)
    );
    assert_eq!(p.list_passkeys(alice.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn passkeys_are_off_on_an_ip_issuer() {
    let app = TestApp::spawn().await;
    let p = &app.app.state.provider;
    let alice = app.user("alice").await;
    assert!(!p.passkeys_available());
    assert!(matches!(
        p.start_passkey_registration(&alice).await.unwrap(),
        Err(PasskeyFailure::Unavailable)
    ));
    assert!(
        p.start_passkey_second_factor(alice.id)
            .await
            .unwrap()
            .is_none()
    );
}

/// The `navigator.credentials` options a page carries for `static/passkeys.js`.
fn page_options(page: &Page) -> Value {
    let start = page.body.find("id=\"passkey-options\">").expect("options") + 21;
    let end = start + page.body[start..].find("</script>").unwrap();
    serde_json::from_str(&page.body[start..end]).unwrap()
}

#[tokio::test]
async fn the_account_page_adds_renames_and_removes_passkeys() {
    let (app, origin) = app_with_passkeys().await;
    let alice = app.user("alice").await;
    let key = SoftKey::new(&origin);
    let mut b = app.browser();
    b.login("alice").await;
    let mut other = app.browser();
    other.login("alice").await;

    let account = b.get("/account").await;
    assert!(account.body.contains("href=\"/account/passkeys/new\""));

    // A wrong password adds nothing and starts a fresh ceremony.
    let page = b.get("/account/passkeys/new").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/static/passkeys.js"));
    let csrf = page.input("csrf_token").unwrap();
    let answer = key.register(&page_options(&page));
    let wrong = b
        .post(
            "/account/passkeys",
            &[
                ("csrf_token", &csrf),
                ("credential", &answer),
                ("name", "Laptop"),
                ("password", "not it"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(app.store.list_passkeys(alice.id).await.unwrap().is_empty());

    // The old challenge is gone: only the new page's ceremony verifies.
    let replay = b
        .post(
            "/account/passkeys",
            &[
                ("csrf_token", &csrf),
                ("credential", &answer),
                ("name", "Laptop"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        replay.status, 400,
        "an answer to an old challenge is refused"
    );
    assert!(app.store.list_passkeys(alice.id).await.unwrap().is_empty());

    let answer = key.register(&page_options(&replay));
    let added = b
        .post(
            "/account/passkeys",
            &[
                ("csrf_token", &csrf),
                ("credential", &answer),
                ("name", "Laptop"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        added.location().as_deref(),
        Some("/account?notice=passkey_added#passkeys")
    );
    let stored = app.store.list_passkeys(alice.id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name, "Laptop");
    let account = b.get("/account?notice=passkey_added").await;
    assert!(
        account.body.contains("Laptop"),
        "listed on the account page"
    );
    assert!(account.body.contains("This device only"));
    assert!(account.body.contains("Not used yet"));
    assert_eq!(
        other.get("/account").await.location().as_deref(),
        Some("/login"),
        "adding a passkey signs out the other sessions"
    );

    let id = stored[0].id.to_string();
    let mut other = app.browser();
    other.login("alice").await;
    let renamed = b
        .post(
            "/account/passkeys/rename",
            &[
                ("csrf_token", &csrf),
                ("passkey", &id),
                ("name", "Work laptop"),
            ],
        )
        .await;
    assert_eq!(
        renamed.location().as_deref(),
        Some("/account?notice=passkey_renamed#passkeys")
    );
    assert_eq!(
        app.store.list_passkeys(alice.id).await.unwrap()[0].name,
        "Work laptop"
    );
    assert_eq!(
        other.get("/account").await.location().as_deref(),
        Some("/login"),
        "renaming a passkey signs out the other sessions"
    );
    assert_eq!(b.get("/account").await.status, 200, "but not this one");
    let mut other = app.browser();
    other.login("alice").await;

    let refused = b
        .post(
            "/account/passkeys/remove",
            &[
                ("csrf_token", &csrf),
                ("passkey", &id),
                ("password", "nope"),
            ],
        )
        .await;
    assert!(refused.location().unwrap().contains("error=reauth"));
    assert_eq!(app.store.list_passkeys(alice.id).await.unwrap().len(), 1);
    let removed = b
        .post(
            "/account/passkeys/remove",
            &[
                ("csrf_token", &csrf),
                ("passkey", &id),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        removed.location().as_deref(),
        Some("/account?notice=passkey_removed#passkeys")
    );
    assert!(app.store.list_passkeys(alice.id).await.unwrap().is_empty());
    assert_eq!(
        other.get("/account").await.location().as_deref(),
        Some("/login"),
        "removing a passkey signs out the other sessions"
    );
}

#[tokio::test]
async fn the_last_second_factor_stays_under_an_mfa_policy() {
    let app = TestApp::spawn_with(|s| {
        s.webauthn = lanyard_config::WebauthnSettings::On {
            rp_id: RP_ID.into(),
            rp_name: "Lanyard tests".into(),
            origins: vec![url::Url::parse("http://localhost:8080").unwrap()],
        };
        s.mfa.require_for_all = true;
    })
    .await;
    let p = &app.app.state.provider;
    let alice = app.user("alice").await;
    let first = registered(&app, &alice, &SoftKey::new("http://localhost:8080")).await;
    assert_eq!(
        p.remove_passkey(&alice, first.id, None).await.unwrap(),
        Err(lanyard_core::authn::passkeys::LastFactor)
    );
    let second = registered(&app, &alice, &SoftKey::new("http://localhost:8080")).await;
    assert_eq!(
        p.remove_passkey(&alice, first.id, None).await.unwrap(),
        Ok(true)
    );
    assert_eq!(
        p.remove_passkey(&alice, second.id, None).await.unwrap(),
        Err(lanyard_core::authn::passkeys::LastFactor)
    );
    assert_eq!(p.list_passkeys(alice.id).await.unwrap(), vec![second]);
}

#[tokio::test]
async fn a_passkey_is_offered_after_the_password_and_counts_as_mfa() {
    use openidconnect::OAuth2TokenResponse;

    use crate::mfa::{amr_of, code_from_redirect, password_step, web_rp};

    let (app, origin) = app_with_passkeys().await;
    let ada = app.user("ada").await;
    let mut key = SoftKey::new(&origin);
    registered(&app, &ada, &key).await;
    let rp = web_rp(&app).await;

    // A wrong answer (another key) is refused, counted, and a fresh challenge is offered.
    let mut b = app.browser();
    let s = rp.start(&["profile"], &[]);
    let page = password_step(&mut b, &s, "ada").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Use a passkey"), "{}", page.body);
    assert!(page.body.contains("/static/passkeys.js"));
    assert!(
        !page.body.contains("Authentication code"),
        "no authenticator app, so no code form"
    );
    let options = page_options(&page);
    let stranger = SoftKey::new(&origin);
    let csrf = page.input("csrf_token").unwrap();
    let flow = page.input("flow").unwrap_or_default();
    let refused = b
        .post(
            "/login/mfa/passkey",
            &[
                ("csrf_token", csrf.as_str()),
                ("flow", flow.as_str()),
                ("credential", &stranger.assert(&options, 0x05, None)),
            ],
        )
        .await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("That passkey could not be verified"));

    // The answer to the old challenge no longer works; the new one does.
    key.counter = 1;
    let stale = key.assert(&options, 0x05, None);
    let again = b
        .post(
            "/login/mfa/passkey",
            &[
                ("csrf_token", csrf.as_str()),
                ("flow", flow.as_str()),
                ("credential", &stale),
            ],
        )
        .await;
    assert_eq!(again.status, 401, "a challenge answers once");
    key.counter = 2;
    let fresh = key.assert(&page_options(&again), 0x05, None);
    let res = b
        .post(
            "/login/mfa/passkey",
            &[
                ("csrf_token", csrf.as_str()),
                ("flow", flow.as_str()),
                ("credential", &fresh),
            ],
        )
        .await;
    let done = b.follow(res).await;
    let code = code_from_redirect(&done, &s);
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let id_token = tokens.extra_fields().id_token().unwrap().to_string();
    assert_eq!(amr_of(&id_token), vec!["pwd", "hwk", "mfa"]);
    assert_eq!(
        jwt_claims(&id_token)["acr"],
        lanyard_core::authn::ACR_MFA,
        "a passkey is the MFA level"
    );
    assert!(!tokens.access_token().secret().is_empty());
}

#[tokio::test]
async fn a_passkey_alone_signs_in_through_a_relying_party() {
    use crate::mfa::{amr_of, code_from_redirect, web_rp};

    let (app, origin) = app_with_passkeys().await;
    let ada = app.user("ada").await;
    let mut key = SoftKey::new(&origin);
    registered(&app, &ada, &key).await;
    let handle = app
        .store
        .webauthn_handle(ada.id, uuid::Uuid::new_v4())
        .await
        .unwrap();
    let rp = web_rp(&app).await;

    let mut b = app.browser();
    let s = rp.start(&["profile"], &[]);
    let first = b.get(&s.url).await;
    let login = b.follow(first).await;
    assert!(
        login.body.contains("Sign in with a passkey"),
        "{}",
        login.body
    );
    assert!(login.body.contains("autocomplete=\"username webauthn\""));
    let options = page_options(&login);
    assert_eq!(options["mediation"], "conditional");
    let csrf = login.input("csrf_token").unwrap();
    let flow = login.input("flow").unwrap_or_default();

    // Without user verification it is no sign-in; the page offers a new challenge.
    key.counter = 1;
    let res = b
        .post(
            "/login/passkey",
            &[
                ("csrf_token", csrf.as_str()),
                ("flow", flow.as_str()),
                (
                    "credential",
                    &key.assert(&options, 0x01, Some(handle.as_bytes())),
                ),
            ],
        )
        .await;
    assert_eq!(res.status, 401);
    assert!(res.body.contains("That passkey could not be verified"));

    // The challenge that answer used is spent: a verified answer to it is refused too.
    key.counter = 2;
    let replayed = b
        .post(
            "/login/passkey",
            &[
                ("csrf_token", csrf.as_str()),
                ("flow", flow.as_str()),
                (
                    "credential",
                    &key.assert(&options, 0x05, Some(handle.as_bytes())),
                ),
            ],
        )
        .await;
    assert_eq!(replayed.status, 401, "a spent challenge is refused");

    key.counter = 3;
    let answer = key.assert(&page_options(&replayed), 0x05, Some(handle.as_bytes()));
    let res = b
        .post(
            "/login/passkey",
            &[
                ("csrf_token", csrf.as_str()),
                ("flow", flow.as_str()),
                ("credential", &answer),
            ],
        )
        .await;
    let done = b.follow(res).await;
    let code = code_from_redirect(&done, &s);
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let id_token = tokens.extra_fields().id_token().unwrap().to_string();
    assert_eq!(amr_of(&id_token), vec!["hwk", "user", "mfa"]);
    assert_eq!(jwt_claims(&id_token)["acr"], lanyard_core::authn::ACR_MFA);
    assert_eq!(jwt_claims(&id_token)["sub"], ada.id.to_string());

    // A disabled account cannot sign in with its passkey.
    app.store
        .set_disabled(ada.id, true, chrono::Utc::now())
        .await
        .unwrap();
    let mut b = app.browser();
    let login = b.get("/login").await;
    key.counter = 4;
    let answer = key.assert(&page_options(&login), 0x05, Some(handle.as_bytes()));
    let csrf = login.input("csrf_token").unwrap();
    let res = b
        .post(
            "/login/passkey",
            &[("csrf_token", csrf.as_str()), ("credential", &answer)],
        )
        .await;
    assert_eq!(res.status, 403);
}

#[tokio::test]
async fn forced_enrollment_may_add_a_passkey_instead_of_an_app() {
    use crate::mfa::{amr_of, code_from_redirect, password_step, web_rp};

    let app = TestApp::spawn_with(|s| {
        s.webauthn = lanyard_config::WebauthnSettings::On {
            rp_id: RP_ID.into(),
            rp_name: "Lanyard tests".into(),
            origins: vec![url::Url::parse("http://localhost:8080").unwrap()],
        };
        s.mfa.require_for_all = true;
    })
    .await;
    let ada = app.user("ada").await;
    let key = SoftKey::new("http://localhost:8080");
    let rp = web_rp(&app).await;
    let mut b = app.browser();
    let s = rp.start(&["profile"], &[]);
    let page = password_step(&mut b, &s, "ada").await;
    assert!(
        page.body.contains("Set up an authenticator app"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Create a passkey"));
    let csrf = page.input("csrf_token").unwrap();
    let flow = page.input("flow").unwrap_or_default();

    // A bad answer leaves the user at the enrollment step, with a new ceremony.
    let bad = b
        .post(
            "/login/enroll/passkey",
            &[
                ("csrf_token", csrf.as_str()),
                ("flow", flow.as_str()),
                ("credential", "{}"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(app.store.list_passkeys(ada.id).await.unwrap().is_empty());

    let answer = key.register(&page_options(&bad));
    let res = b
        .post(
            "/login/enroll/passkey",
            &[
                ("csrf_token", csrf.as_str()),
                ("flow", flow.as_str()),
                ("credential", &answer),
            ],
        )
        .await;
    let done = b.follow(res).await;
    let code = code_from_redirect(&done, &s);
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    let id_token = tokens.extra_fields().id_token().unwrap().to_string();
    assert_eq!(amr_of(&id_token), vec!["pwd", "hwk", "mfa"]);
    assert_eq!(app.store.list_passkeys(ada.id).await.unwrap().len(), 1);

    // From now on the passkey is her second factor.
    let mut b = app.browser();
    let s = rp.start(&["profile"], &[]);
    let page = password_step(&mut b, &s, "ada").await;
    assert!(page.body.contains("Use a passkey"), "{}", page.body);
}

#[tokio::test]
async fn a_current_code_confirms_adding_a_passkey_too() {
    let (app, origin) = app_with_passkeys().await;
    let alice = app.user("alice").await;
    let mut b = app.browser();
    b.login("alice").await;
    let (totp_key, _) = crate::mfa::enroll(&app, &mut b).await;
    app.clock.advance(chrono::Duration::seconds(30));

    let page = b.get("/account/passkeys/new").await;
    assert!(
        page.body.contains("name=\"code\""),
        "the code field is offered"
    );
    let csrf = page.input("csrf_token").unwrap();
    let key = SoftKey::new(&origin);
    let wrong = b
        .post(
            "/account/passkeys",
            &[
                ("csrf_token", csrf.as_str()),
                ("credential", &key.register(&page_options(&page))),
                ("code", "000000"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("That password or code is not correct"));
    let code = totp_code(&totp_key, lanyard_core::clock::Clock::now(&app.clock));
    let added = b
        .post(
            "/account/passkeys",
            &[
                ("csrf_token", csrf.as_str()),
                ("credential", &key.register(&page_options(&wrong))),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(
        added.location().as_deref(),
        Some("/account?notice=passkey_added#passkeys")
    );
    assert_eq!(app.store.list_passkeys(alice.id).await.unwrap().len(), 1);
}

/// A passwordless sign-in names no account until it is verified, so failures count against the
/// client address: once it has spent its budget, even a good passkey from there waits, while
/// another address is not affected.
#[tokio::test]
async fn failed_passwordless_sign_ins_are_throttled_per_address() {
    let app = TestApp::spawn_with(|s| {
        passkeys_on(s);
        s.lockout.ip_max_failures = 3;
    })
    .await;
    let p = &app.app.state.provider;
    let ada = app.user("ada").await;
    let mut key = SoftKey::new("http://localhost:8080");
    registered(&app, &ada, &key).await;
    let handle = app
        .store
        .webauthn_handle(ada.id, uuid::Uuid::new_v4())
        .await
        .unwrap();
    let stranger = SoftKey::new("http://localhost:8080");
    let (attacker, neighbour) = (Some("203.0.113.7"), Some("198.51.100.2"));

    for _ in 0..3 {
        let (options, pending) = p.start_passwordless().unwrap().unwrap();
        let answer = stranger.assert(&options, 0x05, Some(handle.as_bytes()));
        let failed = p
            .passwordless_login(pending, &answer, attacker)
            .await
            .unwrap();
        assert_eq!(failed.unwrap_err(), LoginFailure::BadPasskey);
    }
    key.counter = 1;
    let (options, pending) = p.start_passwordless().unwrap().unwrap();
    let answer = key.assert(&options, 0x05, Some(handle.as_bytes()));
    let waits = p
        .passwordless_login(pending, &answer, attacker)
        .await
        .unwrap();
    assert!(
        matches!(waits, Err(LoginFailure::Throttled(_))),
        "{waits:?}"
    );
    assert_eq!(
        p.list_passkeys(ada.id).await.unwrap()[0].counter,
        0,
        "a throttled attempt is not even checked"
    );

    let (options, pending) = p.start_passwordless().unwrap().unwrap();
    let answer = key.assert(&options, 0x05, Some(handle.as_bytes()));
    let signed_in = p
        .passwordless_login(pending, &answer, neighbour)
        .await
        .unwrap();
    assert_eq!(signed_in.unwrap().user_id, ada.id);
    let failed = app
        .store
        .list_audit(&lanyard_core::model::AuditFilter {
            kind: Some("login_failed".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|e| e.detail["method"] == "passkey"));
}

/// The database keeps a passkey's public key and counter, never anything private: the
/// authenticator's private key cannot be in it, and neither can the user id or username in
/// place of the random WebAuthn user handle.
#[tokio::test]
async fn a_database_dump_holds_no_private_passkey_material() {
    let (app, origin) = app_with_passkeys().await;
    let ada = app.user("ada").await;
    let key = SoftKey::new(&origin);
    registered(&app, &ada, &key).await;
    let handle = app
        .store
        .webauthn_handle(ada.id, uuid::Uuid::new_v4())
        .await
        .unwrap();
    assert_ne!(handle, ada.id, "the handle is random, not the user id");

    let dump = crate::mfa::dump_database(&app).await;
    let found = |needle: &[u8]| dump.windows(needle.len()).any(|w| w == needle);
    // Control: the passkey's row is in the dump (a search that finds nothing proves nothing).
    assert!(found(b"Blue key"), "the dump has the passkey rows");
    let d = key.coord("d");
    assert!(!found(&d), "the private key found in the database dump");
    assert!(
        !found(B64.encode(&d).as_bytes()),
        "the private key (base64url) found in the database dump"
    );
}

/// `acr_values=urn:lanyard:acr:mfa` on a password-only session asks for a second factor: a
/// passkey added since satisfies it, and the answer carries the MFA level.
#[tokio::test]
async fn a_passkey_satisfies_the_mfa_step_up() {
    use crate::mfa::{amr_of, code_from_redirect, password_step, web_rp};

    let (app, origin) = app_with_passkeys().await;
    let ada = app.user("ada").await;
    let rp = web_rp(&app).await;
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let page = password_step(&mut b, &s, "ada").await;
    let tokens = rp
        .exchange(&code_from_redirect(&page, &s), s.verifier)
        .await
        .unwrap();
    let id_token = tokens.extra_fields().id_token().unwrap().to_string();
    assert_eq!(amr_of(&id_token), vec!["pwd"], "no second factor yet");

    let mut key = SoftKey::new(&origin);
    registered(&app, &ada, &key).await;
    let s = rp.start(&[], &[("acr_values", lanyard_core::authn::ACR_MFA)]);
    let res = b.get(&s.url).await;
    let page = b.follow(res).await;
    assert!(page.body.contains("Use a passkey"), "{}", page.body);
    key.counter = 1;
    let answer = key.assert(&page_options(&page), 0x05, None);
    let csrf = page.input("csrf_token").unwrap();
    let flow = page.input("flow").unwrap_or_default();
    let res = b
        .post(
            "/login/mfa/passkey",
            &[
                ("csrf_token", csrf.as_str()),
                ("flow", flow.as_str()),
                ("credential", &answer),
            ],
        )
        .await;
    let done = b.follow(res).await;
    let tokens = rp
        .exchange(&code_from_redirect(&done, &s), s.verifier)
        .await
        .unwrap();
    let id_token = tokens.extra_fields().id_token().unwrap().to_string();
    assert_eq!(jwt_claims(&id_token)["acr"], lanyard_core::authn::ACR_MFA);
    assert!(amr_of(&id_token).contains(&"hwk".to_string()));
    assert!(amr_of(&id_token).contains(&"mfa".to_string()));
}
