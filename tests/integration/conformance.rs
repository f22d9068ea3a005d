//! Lanyard's own runner for the OpenID Foundation's OP conformance test plans. The official suite
//! needs Docker and Maven Central, which CI cannot reach, so each module of the plans is mirrored
//! here as a test named after it (`oidcc-server` → `oidcc_server`), asserting what the module
//! asserts (docs/conformance.md lists them all, with the modules that do not apply and why).
//!
//! Everything goes over HTTP like an outside client: the browser drives the real pages, ID tokens
//! are verified by `openidconnect` against the published JWKS, and logout tokens by
//! `openidconnect`'s JWK implementation, independent of the josekit code that signs them.
//!
//! The Basic plan runs twice: with the default response mode (`basic::`) and with
//! `response_mode=form_post` (`formpost::`), as the Form Post plan does.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use lanyard_core::clock::Clock;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm as Alg};
use openidconnect::{AuthType, JsonWebKey, OAuth2TokenResponse};
use serde_json::Value;

use crate::harness::{
    Browser, JsonBody, PASSWORD, Page, SECRET, TestApp, html_unescape, jwt_claims, jwt_header,
    reserve_port,
};
use crate::rp::{REDIRECT, Started, TestRp};

const POST_LOGOUT: &str = "http://127.0.0.1:9/post_logout_redirect";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Query,
    FormPost,
}

/// The OP under test, configured like the suite's static clients: `web` (client_secret_basic),
/// `web2` (the second client of oidcc-refresh-token), `post` (client_secret_post), and a user
/// with every standard claim.
struct Op {
    app: TestApp,
    rp: TestRp,
    mode: Mode,
}

async fn op(mode: Mode, extra_clients: &str) -> Op {
    let extra = extra_clients.to_string();
    let app = TestApp::spawn_with(move |c| {
        c.replace(
            "post_logout_redirect_uris = [\"http://127.0.0.1:9/bye\"]\ngrant_types = [\"authorization_code\", \"refresh_token\", \"client_credentials\"]",
            &format!("post_logout_redirect_uris = [\"{POST_LOGOUT}\"]\ngrant_types = [\"authorization_code\", \"refresh_token\", \"client_credentials\"]"),
        ) + &format!(
            r#"
[[clients]]
client_id = "web2"
name = "Second client"
secret = "{SECRET}"
redirect_uris = ["{REDIRECT}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email", "offline_access"]
trusted = true
{extra}
"#
        )
    })
    .await;
    let user = app.user("buffy").await;
    app.store
        .update_profile(
            user.id,
            &lanyard_core::model::ProfileUpdate {
                name: Some("Buffy Summers".into()),
                given_name: Some("Buffy".into()),
                family_name: Some("Summers".into()),
                email: Some("buffy@example.com".into()),
                phone_number: Some("+1 555 0100".into()),
                address: Some("1630 Revello Drive, Sunnydale".into()),
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let rp = TestRp::new(
        &app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    Op { app, rp, mode }
}

impl Op {
    fn start(&self, scopes: &[&str], extra: &[(&str, &str)]) -> Started {
        let mut extra = extra.to_vec();
        if self.mode == Mode::FormPost {
            extra.push(("response_mode", "form_post"));
        }
        self.rp.start(scopes, &extra)
    }

    /// Browser → authorize → (login) → the response at the client, as parameters. In form_post
    /// mode the response must be an auto-submitting POST form, never a redirect with a query.
    async fn authorize(&self, b: &mut Browser, url: &str) -> Response {
        let mut page = b.get(url).await;
        page = b.follow(page).await;
        let mut logged_in = false;
        if page.body.contains("name=\"password\"") {
            let res = b.submit_login(&page, "buffy", PASSWORD).await;
            page = b.follow(res).await;
            logged_in = true;
        }
        Response {
            params: client_response(&page, self.mode),
            page,
            logged_in,
        }
    }

    async fn code_flow(
        &self,
        b: &mut Browser,
        s: &Started,
    ) -> (Response, openidconnect::core::CoreTokenResponse) {
        let r = self.authorize(b, &s.url).await;
        assert_eq!(
            r.param("state"),
            Some(s.state.secret().as_str()),
            "state echoed"
        );
        assert_eq!(
            r.param("iss"),
            Some(self.app.issuer.as_str()),
            "RFC 9207 iss"
        );
        let code = r
            .param("code")
            .unwrap_or_else(|| panic!("no code: {:?}", r.params))
            .to_string();
        let tokens = self
            .rp
            .exchange(
                &code,
                openidconnect::PkceCodeVerifier::new(s.verifier.secret().clone()),
            )
            .await
            .expect("token exchange");
        (r, tokens)
    }

    async fn userinfo(&self, method: &str, token: &str) -> reqwest::Response {
        let http = self.app.http();
        let url = self.app.url("/userinfo");
        match method {
            "GET" => http.get(url).bearer_auth(token),
            "POST-header" => http.post(url).bearer_auth(token),
            _ => http.post(url).form(&[("access_token", token)]),
        }
        .send()
        .await
        .unwrap()
    }
}

use openidconnect::reqwest;

struct Response {
    page: Page,
    params: Option<BTreeMap<String, String>>,
    logged_in: bool,
}

impl Response {
    fn param(&self, k: &str) -> Option<&str> {
        self.params.as_ref()?.get(k).map(String::as_str)
    }
}

/// The authorization response delivered to the client: a 303 to the redirect URI (query) or a
/// form POSTing to it (form_post). `None` when Lanyard showed a page of its own instead.
fn client_response(page: &Page, mode: Mode) -> Option<BTreeMap<String, String>> {
    if let Some(loc) = page.location().filter(|l| l.starts_with(REDIRECT)) {
        assert_eq!(
            mode,
            Mode::Query,
            "form_post responses are never redirects: {loc}"
        );
        return Some(
            url::Url::parse(&loc)
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect(),
        );
    }
    let body = html_unescape(&page.body);
    let form = body.split("<form method=\"post\" action=\"").nth(1)?;
    let action = form.split('"').next()?;
    if action != REDIRECT {
        return None;
    }
    assert_eq!(mode, Mode::FormPost, "query mode responses are redirects");
    let form = form.split("</form>").next()?;
    let mut params = BTreeMap::new();
    for input in form.split("<input type=\"hidden\" ").skip(1) {
        let name = input.split("name=\"").nth(1)?.split('"').next()?;
        let value = input.split("value=\"").nth(1)?.split('"').next()?;
        params.insert(name.to_string(), value.to_string());
    }
    Some(params)
}

/// An authorization URL with parameters replaced (`Some`) or removed (`None`).
fn rewrite(url: &str, changes: &[(&str, Option<&str>)]) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        for (k, v) in changes {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    u.to_string()
}

fn id_token(t: &openidconnect::core::CoreTokenResponse) -> String {
    t.extra_fields().id_token().expect("id_token").to_string()
}

// ---- the Basic plan's modules (run in both response modes) -------------------------------

pub(crate) async fn oidcc_server(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let (r, tokens) = o.code_flow(&mut b, &s).await;
    // The code is unguessable: at least 128 bits, base64url.
    assert!(r.param("code").unwrap().len() >= 22);
    assert!(tokens.expires_in().is_some(), "expires_in");
    let claims = o.rp.verify(&tokens, Some(&s.nonce));
    assert!(
        claims.name().is_none(),
        "no unrequested claims in the ID token"
    );
    assert_eq!(jwt_header(&id_token(&tokens))["alg"], "RS256");
    assert!(
        jwt_header(&id_token(&tokens))["kid"].is_string(),
        "kid present"
    );
    assert_eq!(
        o.userinfo("GET", tokens.access_token().secret())
            .await
            .status(),
        200
    );
}

pub(crate) async fn oidcc_response_type_missing(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let r = o
        .authorize(&mut b, &rewrite(&s.url, &[("response_type", None)]))
        .await;
    match r.params {
        Some(p) => {
            assert!(
                matches!(
                    p.get("error").map(String::as_str),
                    Some("invalid_request" | "unsupported_response_type")
                ),
                "{p:?}"
            );
            assert_eq!(
                p.get("state").map(String::as_str),
                Some(s.state.secret().as_str())
            );
            assert!(!p.contains_key("code"));
        }
        None => assert_eq!(r.page.status, 400, "an error page"),
    }
}

async fn userinfo_module(mode: Mode, method: &str) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&["profile"], &[]);
    let (_, tokens) = o.code_flow(&mut b, &s).await;
    let claims = o.rp.verify(&tokens, Some(&s.nonce));
    let res = o.userinfo(method, tokens.access_token().secret()).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let info = res.json_value().await;
    assert_eq!(info["sub"], claims.subject().as_str());
    assert_eq!(info["name"], "Buffy Summers");
}

pub(crate) async fn oidcc_userinfo_get(mode: Mode) {
    userinfo_module(mode, "GET").await
}

pub(crate) async fn oidcc_userinfo_post_header(mode: Mode) {
    userinfo_module(mode, "POST-header").await
}

pub(crate) async fn oidcc_userinfo_post_body(mode: Mode) {
    userinfo_module(mode, "POST-body").await
}

pub(crate) async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let url = rewrite(&s.url, &[("nonce", None)]);
    let r = o.authorize(&mut b, &url).await;
    let code = r.param("code").expect("a code without nonce").to_string();
    let tokens =
        o.rp.exchange(
            &code,
            openidconnect::PkceCodeVerifier::new(s.verifier.secret().clone()),
        )
        .await
        .unwrap();
    assert!(jwt_claims(&id_token(&tokens)).get("nonce").is_none());
}

async fn scope_module(mode: Mode, scope: &str, expect: &[&str]) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let url = rewrite(&s.url, &[("scope", Some(scope))]);
    let r = o.authorize(&mut b, &url).await;
    let code = r.param("code").expect("code").to_string();
    let tokens =
        o.rp.exchange(
            &code,
            openidconnect::PkceCodeVerifier::new(s.verifier.secret().clone()),
        )
        .await
        .unwrap();
    let info = o
        .userinfo("GET", tokens.access_token().secret())
        .await
        .json_value()
        .await;
    for claim in expect {
        assert!(
            info.get(*claim).is_some(),
            "{scope}: {claim} in userinfo {info}"
        );
    }
    // The suite only warns if scope claims are also in the ID token (OIDC Core 5.4 returns them
    // from userinfo for code flows). Lanyard puts them in both, deliberately: see
    // docs/conformance.md. What must hold: the ID token's sub is userinfo's.
    assert_eq!(jwt_claims(&id_token(&tokens))["sub"], info["sub"]);
}

pub(crate) async fn oidcc_scope_profile(mode: Mode) {
    scope_module(
        mode,
        "openid profile",
        &["name", "given_name", "family_name", "preferred_username"],
    )
    .await
}
pub(crate) async fn oidcc_scope_email(mode: Mode) {
    scope_module(mode, "openid email", &["email", "email_verified"]).await
}
pub(crate) async fn oidcc_scope_address(mode: Mode) {
    scope_module(mode, "openid address", &["address"]).await
}
pub(crate) async fn oidcc_scope_phone(mode: Mode) {
    scope_module(mode, "openid phone", &["phone_number"]).await
}
pub(crate) async fn oidcc_scope_all(mode: Mode) {
    scope_module(
        mode,
        "openid address email phone profile",
        &["address", "email", "phone_number", "name"],
    )
    .await
}
pub(crate) async fn oidcc_ensure_other_scope_order_succeeds(mode: Mode) {
    scope_module(mode, "email openid", &["email"]).await
}

async fn extra_param_module(mode: Mode, extra: &[(&str, &str)]) -> Response {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], extra);
    let (r, tokens) = o.code_flow(&mut b, &s).await;
    o.rp.verify(&tokens, Some(&s.nonce));
    r
}

pub(crate) async fn oidcc_display_page(mode: Mode) {
    assert!(
        extra_param_module(mode, &[("display", "page")])
            .await
            .logged_in
    );
}
pub(crate) async fn oidcc_display_popup(mode: Mode) {
    assert!(
        extra_param_module(mode, &[("display", "popup")])
            .await
            .logged_in
    );
}
pub(crate) async fn oidcc_ensure_request_with_unknown_parameter_succeeds(mode: Mode) {
    extra_param_module(mode, &[("extra", "foobar")]).await;
}
pub(crate) async fn oidcc_ui_locales(mode: Mode) {
    extra_param_module(mode, &[("ui_locales", "se")]).await;
}
pub(crate) async fn oidcc_claims_locales(mode: Mode) {
    extra_param_module(mode, &[("claims_locales", "se")]).await;
}
pub(crate) async fn oidcc_ensure_request_with_valid_pkce_succeeds(mode: Mode) {
    // TestRp always sends an S256 challenge and the verifier.
    extra_param_module(mode, &[]).await;
}

pub(crate) async fn oidcc_login_hint(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[("login_hint", "buffy")]);
    let page = b.get(&s.url).await;
    let login = b.follow(page).await;
    assert_eq!(
        login.input("username").as_deref(),
        Some("buffy"),
        "the hint fills the username"
    );
    let (_, tokens) = o.code_flow(&mut b, &s).await;
    o.rp.verify(&tokens, Some(&s.nonce));
}

pub(crate) async fn oidcc_ensure_request_with_acr_values_succeeds(mode: Mode) {
    let o = op(mode, "").await;
    let disco = o
        .app
        .http()
        .get(o.app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let acrs: Vec<String> = disco["acr_values_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut b = o.app.browser();
    let joined = acrs.join(" ");
    let s = o.start(&[], &[("acr_values", &joined)]);
    let (_, tokens) = o.code_flow(&mut b, &s).await;
    let acr = jwt_claims(&id_token(&tokens))["acr"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(acrs.contains(&acr), "{acr} is one of {acrs:?}");
}

pub(crate) async fn oidcc_prompt_login(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let (_, first) = o.code_flow(&mut b, &s).await;
    o.app.clock.advance(Duration::seconds(2));
    let s = o.start(&[], &[("prompt", "login")]);
    let (r, second) = o.code_flow(&mut b, &s).await;
    assert!(r.logged_in, "prompt=login shows the login page again");
    let t1 = jwt_claims(&id_token(&first))["auth_time"].as_i64().unwrap();
    let t2 = jwt_claims(&id_token(&second))["auth_time"]
        .as_i64()
        .unwrap();
    assert!(t2 > t1);
}

pub(crate) async fn oidcc_prompt_none_not_logged_in(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[("prompt", "none")]);
    let long_state = "s".repeat(128);
    let r = o
        .authorize(&mut b, &rewrite(&s.url, &[("state", Some(&long_state))]))
        .await;
    let p = r.params.expect("an error response to the client");
    assert!(
        matches!(
            p.get("error").map(String::as_str),
            Some("login_required" | "interaction_required")
        ),
        "{p:?}"
    );
    assert_eq!(p.get("state"), Some(&long_state), "state echoed unchanged");
    assert!(!p.contains_key("code"));
}

pub(crate) async fn oidcc_prompt_none_logged_in(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let (_, first) = o.code_flow(&mut b, &s).await;
    let s = o.start(&[], &[("prompt", "none")]);
    let (r, second) = o.code_flow(&mut b, &s).await;
    assert!(!r.logged_in);
    assert_eq!(
        jwt_claims(&id_token(&first))["sub"],
        jwt_claims(&id_token(&second))["sub"]
    );
}

pub(crate) async fn oidcc_max_age_1(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let (_, first) = o.code_flow(&mut b, &s).await;
    o.app.clock.advance(Duration::seconds(2));
    let s = o.start(&[], &[("max_age", "1")]);
    let (r, second) = o.code_flow(&mut b, &s).await;
    assert!(r.logged_in, "max_age=1 forces a new login");
    let t1 = jwt_claims(&id_token(&first))["auth_time"].as_i64().unwrap();
    let t2 = jwt_claims(&id_token(&second))["auth_time"]
        .as_i64()
        .expect("auth_time with max_age");
    assert!(t2 > t1);
}

pub(crate) async fn oidcc_max_age_10000(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[("max_age", "15000")]);
    let (_, first) = o.code_flow(&mut b, &s).await;
    let s = o.start(&[], &[("max_age", "10000")]);
    let (r, second) = o.code_flow(&mut b, &s).await;
    assert!(!r.logged_in);
    let (a, c) = (
        jwt_claims(&id_token(&first)),
        jwt_claims(&id_token(&second)),
    );
    assert!(a["auth_time"].is_i64());
    assert_eq!(a["auth_time"], c["auth_time"]);
    assert_eq!(a["sub"], c["sub"]);
}

pub(crate) async fn oidcc_id_token_hint(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let (_, first) = o.code_flow(&mut b, &s).await;
    let hint = id_token(&first);
    let s = o.start(&[], &[("prompt", "none"), ("id_token_hint", &hint)]);
    let (r, second) = o.code_flow(&mut b, &s).await;
    assert!(!r.logged_in);
    assert_eq!(
        jwt_claims(&hint)["sub"],
        jwt_claims(&id_token(&second))["sub"]
    );
}

async fn code_reuse(mode: Mode, wait: i64) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let r = o.authorize(&mut b, &s.url).await;
    let code = r.param("code").unwrap().to_string();
    let verifier = s.verifier.secret().clone();
    let tokens =
        o.rp.exchange(
            &code,
            openidconnect::PkceCodeVerifier::new(verifier.clone()),
        )
        .await
        .unwrap();
    o.app.clock.advance(Duration::seconds(wait));
    let res = o
        .app
        .http()
        .post(o.app.url("/token"))
        .basic_auth("web", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json_value().await["error"], "invalid_grant");
    // The reuse revoked what the code had produced.
    assert_eq!(
        o.userinfo("GET", tokens.access_token().secret())
            .await
            .status(),
        401
    );
}

pub(crate) async fn oidcc_codereuse(mode: Mode) {
    code_reuse(mode, 0).await
}
pub(crate) async fn oidcc_codereuse_30seconds(mode: Mode) {
    code_reuse(mode, 30).await
}

pub(crate) async fn oidcc_ensure_registered_redirect_uri(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let bad = format!("{REDIRECT}/{}", "x7");
    let page = b
        .get(&rewrite(&s.url, &[("redirect_uri", Some(&bad))]))
        .await;
    assert_eq!(page.status, 400, "an error page");
    assert!(page.location().is_none(), "no redirect anywhere");
    assert!(
        !page.body.contains(REDIRECT),
        "no form to the client either"
    );
}

pub(crate) async fn oidcc_ensure_post_request_succeeds(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let u = url::Url::parse(&s.url).unwrap();
    let form: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let page = b.post("/authorize", &refs).await;
    let login = b.follow(page).await;
    let res = b.submit_login(&login, "buffy", PASSWORD).await;
    let done = b.follow(res).await;
    let p = client_response(&done, mode).expect("a response to the client");
    assert!(p.contains_key("code"));
    assert_eq!(
        p.get("state").map(String::as_str),
        Some(s.state.secret().as_str())
    );
}

pub(crate) async fn oidcc_server_client_secret_post(mode: Mode) {
    let o = op(mode, "").await;
    let rp = TestRp::new(
        &o.app,
        "post",
        Some(SECRET),
        AuthType::RequestBody,
        Alg::EcdsaP256Sha256,
    )
    .await;
    let mut b = o.app.browser();
    let mut extra = vec![];
    if mode == Mode::FormPost {
        extra.push(("response_mode", "form_post"));
    }
    let s = rp.start(&[], &extra);
    let r = o.authorize(&mut b, &s.url).await;
    let code = r.param("code").unwrap().to_string();
    let tokens = rp
        .exchange(
            &code,
            openidconnect::PkceCodeVerifier::new(s.verifier.secret().clone()),
        )
        .await
        .unwrap();
    rp.verify(&tokens, Some(&s.nonce));
}

pub(crate) async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
    mode: Mode,
) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let object = format!(
        "{}.{}.",
        b64(&serde_json::json!({ "alg": "none" })),
        b64(&serde_json::json!({ "state": "in-object", "nonce": "in-object" }))
    );
    let url = rewrite(
        &s.url,
        &[("state", None), ("nonce", None), ("request", Some(&object))],
    );
    let r = o.authorize(&mut b, &url).await;
    // Unsigned objects are refused by default and discovery does not list `none`, so the suite
    // skips this module; the refusal must still be explicit, never a silent ignore.
    assert_eq!(
        r.param("error"),
        Some("invalid_request_object"),
        "{:?}",
        r.params
    );
    let disco = o
        .app
        .http()
        .get(o.app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(disco["request_parameter_supported"], true);
    assert!(
        !disco["request_object_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"none".into())
    );
}

pub(crate) async fn oidcc_claims_essential(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let claims = r#"{"userinfo":{"name":{"essential":true}}}"#;
    let s = o.start(&[], &[("claims", claims)]);
    let (_, tokens) = o.code_flow(&mut b, &s).await;
    let info = o
        .userinfo("GET", tokens.access_token().secret())
        .await
        .json_value()
        .await;
    assert_eq!(info["name"], "Buffy Summers");
    assert!(jwt_claims(&id_token(&tokens)).get("name").is_none());
}

pub(crate) async fn oidcc_ensure_request_object_with_redirect_uri(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let object = format!(
        "{}.{}.",
        b64(&serde_json::json!({ "alg": "none" })),
        b64(&serde_json::json!({ "redirect_uri": REDIRECT }))
    );
    let bad = format!("{REDIRECT}_invalid");
    let page = b
        .get(&rewrite(
            &s.url,
            &[("redirect_uri", Some(&bad)), ("request", Some(&object))],
        ))
        .await;
    // Without request-object support the query's redirect_uri is checked first: an error page,
    // never request_not_supported sent to the registered URI.
    assert_eq!(page.status, 400);
    assert!(page.location().is_none());
}

pub(crate) async fn oidcc_refresh_token(mode: Mode) {
    let o = op(mode, "").await;
    let mut b = o.app.browser();
    let s = o.start(&["offline_access"], &[("prompt", "consent")]);
    let (_, tokens) = o.code_flow(&mut b, &s).await;
    let rt1 = tokens
        .refresh_token()
        .expect("refresh token")
        .secret()
        .clone();
    o.app.clock.advance(Duration::seconds(1));
    let http = o.app.http();
    let refresh = |client: &'static str, rt: String| {
        http.post(o.app.url("/token"))
            .basic_auth(client, Some(SECRET))
            .form(&[
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", rt),
                ("scope", "openid offline_access".to_string()),
            ])
            .send()
    };
    let res = refresh("web", rt1).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = res.json_value().await;
    assert_eq!(body["token_type"], "Bearer");
    assert_ne!(
        body["access_token"],
        tokens.access_token().secret().as_str()
    );
    let idt = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(idt["sub"], jwt_claims(&id_token(&tokens))["sub"]);
    // A second client gets its own refresh token; the first client cannot use it.
    let rp2 = TestRp::new(
        &o.app,
        "web2",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let mut extra = vec![("prompt", "consent")];
    if mode == Mode::FormPost {
        extra.push(("response_mode", "form_post"));
    }
    let s2 = rp2.start(&["offline_access"], &extra);
    let r2 = o.authorize(&mut b, &s2.url).await;
    let code2 = r2.param("code").unwrap().to_string();
    let t2 = rp2
        .exchange(
            &code2,
            openidconnect::PkceCodeVerifier::new(s2.verifier.secret().clone()),
        )
        .await
        .unwrap();
    let rt2 = t2.refresh_token().unwrap().secret().clone();
    let res = refresh("web", rt2.clone()).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json_value().await["error"], "invalid_grant");
    assert_eq!(
        refresh("web2", rt2).await.unwrap().status(),
        200,
        "the stolen attempt did not burn it"
    );
}

// ---- Config plan -------------------------------------------------------------------------

async fn discovery(app: &TestApp) -> Value {
    let res = app
        .http()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    res.json_value().await
}

#[tokio::test]
async fn oidcc_discovery_endpoint_verification() {
    let app = TestApp::spawn().await;
    let d = discovery(&app).await;
    assert_eq!(d["issuer"], app.issuer.as_str());
    assert!(
        d["response_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"code".into())
    );
    assert!(
        d["subject_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v == "public" || v == "pairwise")
    );
    assert!(
        d["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"RS256".into())
    );
    assert!(
        d["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&"openid".into())
    );
    assert!(d["claims_supported"].is_array());
    assert!(!d["grant_types_supported"].as_array().unwrap().is_empty());
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        // https in production; the test issuer is loopback http, which the config allows only there.
        assert!(d[key].as_str().unwrap().starts_with(&app.issuer), "{key}");
    }
    let jwks = app
        .http()
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    let mut kids = std::collections::HashSet::new();
    for k in keys {
        assert!(
            kids.insert(k["kid"].as_str().unwrap().to_string()),
            "distinct kids"
        );
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(
                k.get(private).is_none(),
                "no private or symmetric key material"
            );
        }
    }
    // The independent parser accepts it as a JWK set.
    let _: CoreJsonWebKeySet = serde_json::from_value(jwks).unwrap();
}

// ---- RP-Initiated Logout plan --------------------------------------------------------------

/// A signed-in browser and its ID token, as the logout modules start.
async fn logged_in(o: &Op) -> (Browser, String) {
    let mut b = o.app.browser();
    let s = o.start(&[], &[("state", &"s".repeat(128))]);
    let s = Started {
        url: rewrite(&s.url, &[("state", Some(&"s".repeat(128)))]),
        ..s
    };
    let r = o.authorize(&mut b, &s.url).await;
    let code = r.param("code").unwrap().to_string();
    let tokens =
        o.rp.exchange(
            &code,
            openidconnect::PkceCodeVerifier::new(s.verifier.secret().clone()),
        )
        .await
        .unwrap();
    (b, id_token(&tokens))
}

fn logout_url(params: &[(&str, &str)]) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("/logout?{q}")
}

/// After a completed logout, a prompt=none request must fail with login_required.
async fn assert_logged_out(o: &Op, b: &mut Browser) {
    let s = o.start(&[], &[("prompt", "none")]);
    let r = o.authorize(b, &s.url).await;
    assert_eq!(r.param("error"), Some("login_required"), "{:?}", r.params);
}

/// The OP must not redirect: an error page, or a confirmation page (which we decline to
/// submit), and the user stays signed in.
async fn assert_no_redirect(o: &Op, b: &mut Browser, url: &str) {
    let page = b.get(url).await;
    assert!(
        page.location().is_none(),
        "no redirect: {:?}",
        page.location()
    );
    assert!(matches!(page.status, 200 | 400), "{}", page.status);
    let s = o.start(&[], &[("prompt", "none")]);
    let r = o.authorize(b, &s.url).await;
    assert!(
        r.param("code").is_some(),
        "not logged out without confirmation"
    );
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_discovery_endpoint_verification() {
    let app = TestApp::spawn().await;
    let d = discovery(&app).await;
    assert_eq!(d["end_session_endpoint"], format!("{}/logout", app.issuer));
}

#[tokio::test]
async fn oidcc_rp_initiated_logout() {
    let o = op(Mode::Query, "").await;
    let (mut b, idt) = logged_in(&o).await;
    let page = b
        .get(&logout_url(&[
            ("id_token_hint", &idt),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "xyz"),
        ]))
        .await;
    assert_eq!(
        page.location().as_deref(),
        Some(format!("{POST_LOGOUT}?state=xyz").as_str())
    );
    assert_logged_out(&o, &mut b).await;
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_bad_post_logout_redirect_uri() {
    let o = op(Mode::Query, "").await;
    let (mut b, idt) = logged_in(&o).await;
    let url = logout_url(&[
        ("id_token_hint", &idt),
        ("post_logout_redirect_uri", "http://127.0.0.1:9/elsewhere"),
        ("state", "xyz"),
    ]);
    assert_no_redirect(&o, &mut b, &url).await;
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_modified_id_token_hint() {
    let o = op(Mode::Query, "").await;
    let (mut b, idt) = logged_in(&o).await;
    use base64::Engine;
    let parts: Vec<&str> = idt.split('.').collect();
    let none = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
    let forged = format!("{none}.{}.", parts[1]);
    let url = logout_url(&[
        ("id_token_hint", &forged),
        ("post_logout_redirect_uri", POST_LOGOUT),
        ("state", "xyz"),
    ]);
    assert_no_redirect(&o, &mut b, &url).await;
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_no_id_token_hint() {
    let o = op(Mode::Query, "").await;
    let (mut b, _) = logged_in(&o).await;
    let url = logout_url(&[("post_logout_redirect_uri", POST_LOGOUT), ("state", "xyz")]);
    assert_no_redirect(&o, &mut b, &url).await;
}

/// Logout without enough to redirect: the user confirms and sees a "signed out" page.
async fn logout_to_page(o: &Op, b: &mut Browser, url: &str) {
    let page = b.get(url).await;
    assert!(page.location().is_none());
    let page = if page.body.contains("name=\"confirm\"") {
        let csrf = page.input("csrf_token").unwrap();
        let mut form = vec![
            ("confirm".to_string(), "yes".to_string()),
            ("csrf_token".to_string(), csrf),
        ];
        for k in ["id_token_hint", "state"] {
            if let Some(v) = page.input(k) {
                form.push((k.to_string(), v));
            }
        }
        let refs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.post("/logout", &refs).await
    } else {
        page
    };
    assert_eq!(page.status, 200);
    assert!(page.location().is_none(), "no redirect");
    assert!(
        page.body.contains("You have been signed out"),
        "{}",
        page.body
    );
    assert_logged_out(o, b).await;
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_no_params() {
    let o = op(Mode::Query, "").await;
    let (mut b, _) = logged_in(&o).await;
    logout_to_page(&o, &mut b, "/logout").await;
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_no_post_logout_redirect_uri() {
    let o = op(Mode::Query, "").await;
    let (mut b, idt) = logged_in(&o).await;
    logout_to_page(
        &o,
        &mut b,
        &logout_url(&[("id_token_hint", &idt), ("state", "xyz")]),
    )
    .await;
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_no_state() {
    let o = op(Mode::Query, "").await;
    let (mut b, idt) = logged_in(&o).await;
    let page = b
        .get(&logout_url(&[
            ("id_token_hint", &idt),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ]))
        .await;
    assert_eq!(
        page.location().as_deref(),
        Some(POST_LOGOUT),
        "no state added"
    );
    assert_logged_out(&o, &mut b).await;
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_only_state() {
    let o = op(Mode::Query, "").await;
    let (mut b, _) = logged_in(&o).await;
    logout_to_page(&o, &mut b, &logout_url(&[("state", "xyz")])).await;
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_query_added_to_post_logout_redirect_uri() {
    let o = op(Mode::Query, "").await;
    let (mut b, idt) = logged_in(&o).await;
    let uri = format!("{POST_LOGOUT}?foo=bar");
    let url = logout_url(&[
        ("id_token_hint", &idt),
        ("post_logout_redirect_uri", &uri),
        ("state", "xyz"),
    ]);
    assert_no_redirect(&o, &mut b, &url).await;
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_bad_id_token_hint() {
    let o = op(Mode::Query, "").await;
    let (mut b, idt) = logged_in(&o).await;
    // The suite forges a hint signed with an HMAC of the client secret: iss=client, aud=issuer.
    let claims = jwt_claims(&idt);
    let mut payload = josekit::jwt::JwtPayload::new();
    payload.set_issuer("web");
    payload.set_audience(vec![o.app.issuer.clone()]);
    payload.set_subject(claims["sub"].as_str().unwrap());
    let mut key = SECRET.as_bytes().to_vec();
    key.resize(32, b'0');
    let signer = josekit::jws::HS256.signer_from_bytes(&key).unwrap();
    let forged =
        josekit::jwt::encode_with_signer(&payload, &josekit::jws::JwsHeader::new(), &signer)
            .unwrap();
    let url = logout_url(&[
        ("id_token_hint", &forged),
        ("post_logout_redirect_uri", POST_LOGOUT),
        ("state", "xyz"),
    ]);
    assert_no_redirect(&o, &mut b, &url).await;
}

/// Check an RS256 JWT's signature with openidconnect's JWK code against the published JWKS
/// (independent of the josekit code that signed it).
async fn verify_rs256_with_published_jwks(app: &TestApp, jwt: &str) {
    let header = jwt_header(jwt);
    let jwks: CoreJsonWebKeySet = serde_json::from_value(
        app.http()
            .get(app.url("/jwks"))
            .send()
            .await
            .unwrap()
            .json_value()
            .await,
    )
    .unwrap();
    let key = jwks
        .keys()
        .iter()
        .find(|k| k.key_id().map(|i| i.as_str()) == header["kid"].as_str())
        .expect("signing key published");
    let (signed, sig) = jwt.rsplit_once('.').unwrap();
    use base64::Engine;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap();
    key.verify_signature(&Alg::RsaSsaPkcs1V15Sha256, signed.as_bytes(), &sig)
        .expect("signature verifies");
}

// ---- Back-Channel Logout plan ------------------------------------------------------------

#[tokio::test]
async fn oidcc_backchannel_logout_discovery_endpoint_verification() {
    let app = TestApp::spawn().await;
    let d = discovery(&app).await;
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
    assert!(d["end_session_endpoint"].is_string());
}

/// A relying party's back-channel logout endpoint: records what it receives.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let listener = reserve_port().await;
    let url = format!(
        "http://127.0.0.1:{}/backchannel_logout",
        listener.local_addr().unwrap().port()
    );
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/backchannel_logout",
        axum::routing::post(move |axum::Form(f): axum::Form<BTreeMap<String, String>>| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(f.get("logout_token").cloned().unwrap_or_default());
                axum::http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got)
}

#[tokio::test]
async fn oidcc_backchannel_rp_initiated_logout() {
    let (bcl, got) = receiver().await;
    let o = op(Mode::Query, "").await;
    // Re-declare `web` with a back-channel logout URI (the same database, a new instance).
    drop(o);
    let o = {
        let bcl = bcl.clone();
        let app = TestApp::spawn_with(move |c| {
            c.replacen(
                "id_token_signed_response_alg = \"RS256\"",
                &format!("id_token_signed_response_alg = \"RS256\"\nbackchannel_logout_uri = \"{bcl}\"\nbackchannel_logout_session_required = true"),
                1,
            )
            .replace("post_logout_redirect_uris = [\"http://127.0.0.1:9/bye\"]\ngrant_types = [\"authorization_code\", \"refresh_token\", \"client_credentials\"]",
                &format!("post_logout_redirect_uris = [\"{POST_LOGOUT}\"]\ngrant_types = [\"authorization_code\", \"refresh_token\", \"client_credentials\"]"))
        })
        .await;
        app.user("buffy").await;
        let rp = TestRp::new(
            &app,
            "web",
            Some(SECRET),
            AuthType::BasicAuth,
            Alg::RsaSsaPkcs1V15Sha256,
        )
        .await;
        Op {
            app,
            rp,
            mode: Mode::Query,
        }
    };
    let (mut b, idt) = logged_in(&o).await;
    let id_claims = jwt_claims(&idt);
    assert!(id_claims["sid"].is_string(), "sid in the ID token");
    let page = b
        .get(&logout_url(&[
            ("id_token_hint", &idt),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "xyz"),
        ]))
        .await;
    assert_eq!(
        page.location().as_deref(),
        Some(format!("{POST_LOGOUT}?state=xyz").as_str())
    );
    // The logout token arrives from a background task.
    let mut token = None;
    for _ in 0..50 {
        if let Some(t) = got.lock().unwrap().first().cloned() {
            token = Some(t);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let token = token.expect("a logout token was POSTed");
    assert_eq!(jwt_header(&token)["typ"], "logout+jwt");
    verify_rs256_with_published_jwks(&o.app, &token).await;
    let c = jwt_claims(&token);
    assert_eq!(c["iss"], o.app.issuer.as_str());
    assert_eq!(c["aud"], "web");
    assert!(c["iat"].as_i64().unwrap() <= o.app.clock.now().timestamp() + 1);
    assert!(c["jti"].is_string());
    assert_eq!(
        c["events"],
        serde_json::json!({ "http://schemas.openid.net/event/backchannel-logout": {} })
    );
    assert_eq!(c["sub"], id_claims["sub"]);
    assert_eq!(c["sid"], id_claims["sid"]);
    assert!(c.get("nonce").is_none());
    assert_logged_out(&o, &mut b).await;
}

// ---- the Basic plan, once per response mode -----------------------------------------------

macro_rules! plan {
    ($plan:ident, $mode:expr, [$($module:ident),* $(,)?]) => {
        mod $plan {
            $(
                #[tokio::test]
                async fn $module() {
                    super::$module($mode).await
                }
            )*
        }
    };
}

macro_rules! basic_plan {
    ($plan:ident, $mode:expr) => {
        plan!(
            $plan,
            $mode,
            [
                oidcc_server,
                oidcc_response_type_missing,
                oidcc_userinfo_get,
                oidcc_userinfo_post_header,
                oidcc_userinfo_post_body,
                oidcc_ensure_request_without_nonce_succeeds_for_code_flow,
                oidcc_scope_profile,
                oidcc_scope_email,
                oidcc_scope_address,
                oidcc_scope_phone,
                oidcc_scope_all,
                oidcc_ensure_other_scope_order_succeeds,
                oidcc_display_page,
                oidcc_display_popup,
                oidcc_prompt_login,
                oidcc_prompt_none_not_logged_in,
                oidcc_prompt_none_logged_in,
                oidcc_max_age_1,
                oidcc_max_age_10000,
                oidcc_ensure_request_with_unknown_parameter_succeeds,
                oidcc_id_token_hint,
                oidcc_login_hint,
                oidcc_ui_locales,
                oidcc_claims_locales,
                oidcc_ensure_request_with_acr_values_succeeds,
                oidcc_codereuse,
                oidcc_codereuse_30seconds,
                oidcc_ensure_registered_redirect_uri,
                oidcc_ensure_post_request_succeeds,
                oidcc_server_client_secret_post,
                oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
                oidcc_claims_essential,
                oidcc_ensure_request_object_with_redirect_uri,
                oidcc_refresh_token,
                oidcc_ensure_request_with_valid_pkce_succeeds,
            ]
        );
    };
}

basic_plan!(basic, super::Mode::Query);
basic_plan!(formpost, super::Mode::FormPost);

// ---- Dynamic plan: the one module a static-client OP can run -------------------------------

/// oidcc-server-rotate-keys: after the operator rotates the signing keys, the JWKS has a new key
/// and still the old one. Beyond the module: an RP that cached the JWKS (for its max-age) keeps
/// verifying through the rotation, because the new key is published before it signs.
#[tokio::test]
async fn oidcc_server_rotate_keys() {
    let o = op(Mode::Query, "").await;
    let jwks = |app: &TestApp| {
        let http = app.http();
        let url = app.url("/jwks");
        async move {
            let v = http.get(url).send().await.unwrap().json_value().await;
            v["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let before = jwks(&o.app).await;
    // `o.rp` discovered (and cached) the JWKS when it was built, before the rotation.
    let mut b = o.app.browser();
    let s = o.start(&[], &[]);
    let (_, old_tokens) = o.code_flow(&mut b, &s).await;
    o.rp.verify(&old_tokens, Some(&s.nonce));

    let cipher = lanyard::app::cipher(&o.app.app.settings).unwrap();
    let publish_ahead = Duration::minutes(10); // ≥ signing.jwks_max_age (5 minutes)
    let new = lanyard_core::oidc::keys::rotate(
        o.app.store.as_ref(),
        &cipher,
        lanyard_core::model::SigningAlg::RS256,
        o.app.clock.now(),
        publish_ahead,
    )
    .await
    .unwrap();
    o.app.app.state.provider.reload_keys().await.unwrap();
    let after = jwks(&o.app).await;
    assert!(after.contains(&new.kid), "the new key is published at once");
    for kid in &before {
        assert!(after.contains(kid), "the old key is still published");
    }
    // Until the switch, tokens are still signed by the old key: the stale cache verifies them.
    let s = o.start(&[], &[("prompt", "login")]);
    let (_, t) = o.code_flow(&mut b, &s).await;
    assert_ne!(jwt_header(&id_token(&t))["kid"], new.kid.as_str());
    o.rp.verify(&t, Some(&s.nonce));
    // An RP refreshing its cache within max-age (5 min) sees the new key before it signs.
    o.app.clock.advance(Duration::minutes(5));
    let refreshed = TestRp::new(
        &o.app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    o.app
        .clock
        .advance(Duration::minutes(5) + Duration::seconds(1));
    o.app.app.state.provider.reload_keys().await.unwrap();
    let s = refreshed.start(&[], &[("prompt", "login")]);
    let r = o.authorize(&mut b, &s.url).await;
    let code = r.param("code").unwrap().to_string();
    let t = refreshed
        .exchange(
            &code,
            openidconnect::PkceCodeVerifier::new(s.verifier.secret().clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        jwt_header(&id_token(&t))["kid"],
        new.kid.as_str(),
        "the new key signs now"
    );
    refreshed.verify(&t, Some(&s.nonce));
    // Tokens signed before the switch still verify against the current JWKS.
    refreshed.verify(&old_tokens, None);
}

// ---- Dynamic plan: registered clients, private_key_jwt, request objects --------------------

mod dynamic {
    use super::*;
    use crate::registration::{RpKeys, serve_jwks};
    use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier};
    use openidconnect::{ClientId, IssuerUrl, Nonce};
    use std::str::FromStr;

    struct Dyn {
        app: TestApp,
        keys: RpKeys,
        client_id: String,
    }

    /// `oauth`: lines for the `[oauth]` section, replacing the test default.
    async fn registered(oauth: &str, meta: Value) -> Dyn {
        let oauth = oauth.to_string();
        let app = TestApp::spawn_with(move |c| {
            let c = if oauth.is_empty() {
                c
            } else {
                c.replace("fetch_private_addresses = true", &oauth)
            };
            c.replace(
                "[passwords]",
                "[registration]\nmode = \"open\"\n\n[passwords]",
            )
        })
        .await;
        app.user("buffy").await;
        let keys = RpKeys::new("rp-1");
        let (jwks_uri, _) = serve_jwks(keys.jwks.clone()).await;
        let mut body = serde_json::json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": jwks_uri,
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid profile email offline_access",
        });
        for (k, v) in meta.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = register(&app, &body).await;
        assert_eq!(res.status(), 201);
        let client_id = res.json_value().await["client_id"]
            .as_str()
            .unwrap()
            .to_string();
        Dyn {
            app,
            keys,
            client_id,
        }
    }

    async fn register(app: &TestApp, body: &Value) -> reqwest::Response {
        app.http()
            .post(app.url("/register"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    impl Dyn {
        fn assertion(&self, aud: &str) -> String {
            let now = chrono::Utc::now().timestamp();
            let jti = crate::harness::unique();
            self.keys.sign(serde_json::json!({
                "iss": self.client_id, "sub": self.client_id, "aud": aud, "jti": jti, "exp": now + 120
            }))
        }

        fn authorize_url(&self, extra: &[(&str, &str)]) -> (String, String) {
            let nonce = format!("n-{}", crate::harness::unique());
            let mut q: Vec<(&str, String)> = vec![
                ("response_type", "code".into()),
                ("client_id", self.client_id.clone()),
                ("redirect_uri", REDIRECT.into()),
                ("scope", "openid profile".into()),
                ("state", "st".into()),
                ("nonce", nonce.clone()),
            ];
            for (k, v) in extra {
                q.retain(|(x, _)| x != k);
                q.push((k, v.to_string()));
            }
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(q.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            (self.app.url(&format!("/authorize?{query}")), nonce)
        }

        /// Browser login and consent; returns the authorization response parameters.
        async fn browse(&self, url: &str) -> BTreeMap<String, String> {
            let mut b = self.app.browser();
            let page = b.get(url).await;
            let mut page = b.follow(page).await;
            if page.body.contains("name=\"password\"") {
                let res = b.submit_login(&page, "buffy", PASSWORD).await;
                page = b.follow(res).await;
            }
            if page.body.contains("value=\"allow\"") {
                let csrf = page.input("csrf_token").unwrap();
                let flow = page.input("flow").unwrap();
                let res = b
                    .post(
                        "/consent",
                        &[
                            ("decision", "allow"),
                            ("flow", &flow),
                            ("csrf_token", &csrf),
                        ],
                    )
                    .await;
                page = b.follow(res).await;
            }
            client_response(&page, Mode::Query)
                .unwrap_or_else(|| panic!("no response: {} {}", page.status, page.body))
        }

        async fn redeem(&self, code: &str) -> Value {
            let assertion = self.assertion(&self.app.url("/token"));
            let res = self
                .app
                .http()
                .post(self.app.url("/token"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json_value().await
        }

        /// The ID token, verified by openidconnect against the published JWKS.
        async fn verify(&self, id_token: &str, nonce: &str) {
            let jwks = self
                .app
                .http()
                .get(self.app.url("/jwks"))
                .send()
                .await
                .unwrap()
                .json_value()
                .await;
            let verifier = CoreIdTokenVerifier::new_public_client(
                ClientId::new(self.client_id.clone()),
                IssuerUrl::new(self.app.issuer.clone()).unwrap(),
                serde_json::from_value(jwks).unwrap(),
            );
            CoreIdToken::from_str(id_token)
                .unwrap()
                .claims(&verifier, &Nonce::new(nonce.to_string()))
                .expect("ID token verifies");
        }
    }

    #[tokio::test]
    async fn oidcc_server() {
        let d = registered("", serde_json::json!({})).await;
        let (url, nonce) = d.authorize_url(&[]);
        let r = d.browse(&url).await;
        let tokens = d.redeem(r.get("code").unwrap()).await;
        d.verify(tokens["id_token"].as_str().unwrap(), &nonce).await;
    }

    #[tokio::test]
    async fn oidcc_idtoken_rs256() {
        let d = registered(
            "",
            serde_json::json!({ "id_token_signed_response_alg": "RS256" }),
        )
        .await;
        let (url, nonce) = d.authorize_url(&[]);
        let r = d.browse(&url).await;
        let t = d.redeem(r.get("code").unwrap()).await;
        let idt = t["id_token"].as_str().unwrap();
        assert_eq!(jwt_header(idt)["alg"], "RS256");
        assert!(jwt_header(idt)["kid"].is_string());
        d.verify(idt, &nonce).await;
    }

    #[tokio::test]
    async fn oidcc_userinfo_rs256() {
        let d = registered(
            "",
            serde_json::json!({ "userinfo_signed_response_alg": "RS256" }),
        )
        .await;
        let disco = discovery(&d.app).await;
        assert!(
            disco["userinfo_signing_alg_values_supported"]
                .as_array()
                .unwrap()
                .contains(&"RS256".into())
        );
        let (url, nonce) = d.authorize_url(&[]);
        let r = d.browse(&url).await;
        let t = d.redeem(r.get("code").unwrap()).await;
        d.verify(t["id_token"].as_str().unwrap(), &nonce).await;
        let res = d
            .app
            .http()
            .get(d.app.url("/userinfo"))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/jwt");
        let jwt = res.text().await.unwrap();
        assert_eq!(jwt_header(&jwt)["alg"], "RS256");
        verify_rs256_with_published_jwks(&d.app, &jwt).await;
        let c = jwt_claims(&jwt);
        assert_eq!(c["iss"], d.app.issuer.as_str());
        assert_eq!(c["aud"], d.client_id.as_str());
        assert_eq!(c["sub"], jwt_claims(t["id_token"].as_str().unwrap())["sub"]);
        assert!(c.get("nonce").is_none());
    }

    /// The RP swaps its key between getting a refresh token and using it: the refresh with an
    /// assertion signed by the new key succeeds because Lanyard refetches the jwks_uri.
    #[tokio::test]
    async fn oidcc_refresh_token_rp_key_rotation() {
        let app = TestApp::spawn_with(|c| {
            c.replace(
                "[passwords]",
                "[registration]\nmode = \"open\"\n\n[passwords]",
            )
        })
        .await;
        app.user("buffy").await;
        let first = RpKeys::new("rp-1");
        let (jwks_uri, published) = serve_jwks(first.jwks.clone()).await;
        let res = register(
            &app,
            &serde_json::json!({
                "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": jwks_uri, "grant_types": ["authorization_code", "refresh_token"],
                "scope": "openid offline_access",
            }),
        )
        .await;
        let client_id = res.json_value().await["client_id"]
            .as_str()
            .unwrap()
            .to_string();
        let d = Dyn {
            app,
            keys: first,
            client_id,
        };
        let (url, _) =
            d.authorize_url(&[("scope", "openid offline_access"), ("prompt", "consent")]);
        let r = d.browse(&url).await;
        let t = d.redeem(r.get("code").unwrap()).await;
        let refresh = t["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_string();
        let second = RpKeys::new("rp-2");
        *published.lock().unwrap() = second.jwks.clone();
        let now = chrono::Utc::now().timestamp();
        let assertion = second.sign(serde_json::json!({
            "iss": d.client_id, "sub": d.client_id, "aud": d.app.url("/token"),
            "jti": crate::harness::unique(), "exp": now + 60,
        }));
        let res = d
            .app
            .http()
            .post(d.app.url("/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    /// The client's keys come from its jwks_uri for the private_key_jwt exchange.
    #[tokio::test]
    async fn oidcc_registration_jwks_uri() {
        let d = registered("", serde_json::json!({})).await;
        let stored = d.app.store.get_client(&d.client_id).await.unwrap().unwrap();
        assert!(stored.jwks_uri.is_some() && stored.jwks.is_none());
        let (url, nonce) = d.authorize_url(&[]);
        let r = d.browse(&url).await;
        let t = d.redeem(r.get("code").unwrap()).await;
        d.verify(t["id_token"].as_str().unwrap(), &nonce).await;
    }

    #[tokio::test]
    async fn oidcc_ensure_client_assertion_with_iss_aud_succeeds() {
        let d = registered("", serde_json::json!({})).await;
        let (url, nonce) = d.authorize_url(&[]);
        let r = d.browse(&url).await;
        // The code exchange authenticated with an assertion whose aud is the issuer.
        let assertion = d.assertion(&d.app.issuer);
        let res = d
            .app
            .http()
            .post(d.app.url("/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", r.get("code").unwrap().as_str()),
                ("redirect_uri", REDIRECT),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let t = res.json_value().await;
        d.verify(t["id_token"].as_str().unwrap(), &nonce).await;
    }

    async fn shown_on_consent(key: &str, value: &str) {
        let d = registered("", serde_json::json!({ key: value })).await;
        let (url, _) = d.authorize_url(&[]);
        let mut b = d.app.browser();
        let page = b.get(&url).await;
        let login = b.follow(page).await;
        let res = b.submit_login(&login, "buffy", PASSWORD).await;
        let consent = b.follow(res).await;
        assert!(
            html_unescape(&consent.body).contains(value),
            "{key} shown: {}",
            consent.body
        );
    }

    #[tokio::test]
    async fn oidcc_registration_logo_uri() {
        shown_on_consent("logo_uri", "https://rp.example.com/logo.png").await
    }
    #[tokio::test]
    async fn oidcc_registration_policy_uri() {
        shown_on_consent("policy_uri", "https://rp.example.com/privacy").await
    }
    #[tokio::test]
    async fn oidcc_registration_tos_uri() {
        shown_on_consent("tos_uri", "https://rp.example.com/terms").await
    }

    #[tokio::test]
    async fn oidcc_redirect_uri_regfrag() {
        let app = TestApp::spawn_with(|c| {
            c.replace(
                "[passwords]",
                "[registration]\nmode = \"open\"\n[passwords]",
            )
        })
        .await;
        let res = register(
            &app,
            &serde_json::json!({ "redirect_uris": [format!("{REDIRECT}#frag")] }),
        )
        .await;
        assert_eq!(res.status(), 400);
        assert_eq!(res.json_value().await["error"], "invalid_redirect_uri");
    }

    #[tokio::test]
    async fn oidcc_ensure_redirect_uri_in_authorization_request() {
        let d = registered(
            "",
            serde_json::json!({ "redirect_uris": [REDIRECT, format!("{REDIRECT}2")] }),
        )
        .await;
        let (url, _) = d.authorize_url(&[]);
        let url = rewrite(&url, &[("redirect_uri", None)]);
        let page = d.app.browser().get(&url).await;
        assert_eq!(page.status, 400);
        assert!(page.location().is_none());
    }

    async fn query_variant(registered_uri: &str, sent_uri: &str, ok: bool) {
        let d = registered("", serde_json::json!({ "redirect_uris": [registered_uri] })).await;
        let (url, _) = d.authorize_url(&[("redirect_uri", sent_uri)]);
        let mut b = d.app.browser();
        let page = b.get(&url).await;
        if ok {
            let login = b.follow(page).await;
            let res = b.submit_login(&login, "buffy", PASSWORD).await;
            let consent = b.follow(res).await;
            assert!(consent.body.contains("value=\"allow\""), "{}", consent.body);
        } else {
            assert_eq!(page.status, 400);
            assert!(page.location().is_none());
        }
    }

    #[tokio::test]
    async fn oidcc_redirect_uri_query_ok() {
        let uri = format!("{REDIRECT}?foo=bar");
        query_variant(&uri, &uri, true).await
    }
    #[tokio::test]
    async fn oidcc_redirect_uri_query_mismatch() {
        query_variant(
            &format!("{REDIRECT}?foo=bar"),
            &format!("{REDIRECT}?foo=zot"),
            false,
        )
        .await
    }
    #[tokio::test]
    async fn oidcc_redirect_uri_query_added() {
        query_variant(REDIRECT, &format!("{REDIRECT}?foo=bar"), false).await
    }

    /// Serve a request object at a URL (request_uri).
    async fn serve_text(body: String) -> String {
        let listener = reserve_port().await;
        let url = format!(
            "http://127.0.0.1:{}/request.jwt",
            listener.local_addr().unwrap().port()
        );
        let app = axum::Router::new().route(
            "/request.jwt",
            axum::routing::get(move || {
                let b = body.clone();
                async move { b }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        url
    }

    #[tokio::test]
    async fn oidcc_request_uri_signed_rs256() {
        let d = registered("", serde_json::json!({})).await;
        let now = chrono::Utc::now().timestamp();
        let object = d.keys.sign(serde_json::json!({
            "iss": d.client_id, "aud": d.app.issuer, "exp": now + 300,
            "response_type": "code", "client_id": d.client_id, "redirect_uri": REDIRECT,
            "scope": "openid profile", "state": "from-object", "nonce": "n-object",
        }));
        let uri = serve_text(object).await;
        let (url, _) = d.authorize_url(&[("request_uri", &uri)]);
        let url = rewrite(&url, &[("state", None), ("nonce", None)]);
        let r = d.browse(&url).await;
        assert_eq!(r.get("state").map(String::as_str), Some("from-object"));
        let t = d.redeem(r.get("code").unwrap()).await;
        d.verify(t["id_token"].as_str().unwrap(), "n-object").await;
    }

    #[tokio::test]
    async fn oidcc_request_uri_unsigned() {
        let d = registered(
            "allow_unsigned_request_objects = true\nfetch_private_addresses = true",
            serde_json::json!({}),
        )
        .await;
        use base64::Engine;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let object = format!(
            "{}.{}.",
            b64(&serde_json::json!({ "alg": "none" })),
            b64(&serde_json::json!({ "state": "u", "nonce": "n-u" }))
        );
        let uri = serve_text(object).await;
        let (url, _) = d.authorize_url(&[("request_uri", &uri)]);
        let url = rewrite(&url, &[("state", None), ("nonce", None)]);
        let r = d.browse(&url).await;
        assert_eq!(r.get("state").map(String::as_str), Some("u"));
        let t = d.redeem(r.get("code").unwrap()).await;
        d.verify(t["id_token"].as_str().unwrap(), "n-u").await;
    }

    #[tokio::test]
    async fn bad_request_objects_get_invalid_request_object() {
        let d = registered("", serde_json::json!({})).await;
        let now = chrono::Utc::now().timestamp();
        let stranger = RpKeys::new("rp-1");
        let good = serde_json::json!({ "iss": d.client_id, "aud": d.app.issuer, "exp": now + 300, "state": "o" });
        let mut cases = vec![("bad signature", stranger.sign(good.clone()))];
        for (k, v) in [
            ("aud", serde_json::json!("https://evil.example")),
            ("iss", serde_json::json!("someone")),
            ("exp", serde_json::json!(now - 10)),
            (
                "redirect_uri",
                serde_json::json!(format!("{REDIRECT}/other")),
            ),
        ] {
            let mut c = good.clone();
            c[k] = v;
            cases.push((k, d.keys.sign(c)));
        }
        for (what, object) in cases {
            let (url, _) = d.authorize_url(&[("request", &object)]);
            let page = d.app.browser().get(&url).await;
            // A self-registered client: the error is shown first, naming where it goes.
            assert_eq!(
                page.location(),
                None,
                "{what}: not redirected straight away"
            );
            let loc = page
                .continue_link()
                .unwrap_or_else(|| panic!("{what}: {}", page.body));
            assert!(loc.starts_with(REDIRECT), "{what}: {loc}");
            assert!(
                loc.contains("error=invalid_request_object"),
                "{what}: {loc}"
            );
        }
    }

    const PAIRWISE: &str =
        "fetch_private_addresses = true\npairwise_salt = \"a-salt-for-pairwise-subjects\"";

    #[tokio::test]
    async fn oidcc_registration_sector_uri() {
        let sector = serve_text(serde_json::json!([REDIRECT]).to_string()).await;
        let d = registered(
            PAIRWISE,
            serde_json::json!({ "subject_type": "pairwise", "sector_identifier_uri": sector }),
        )
        .await;
        assert!(
            discovery(&d.app).await["subject_types_supported"]
                .as_array()
                .unwrap()
                .contains(&"pairwise".into())
        );
        let user = d
            .app
            .store
            .find_user_by_username("buffy")
            .await
            .unwrap()
            .unwrap();
        let (url, nonce) = d.authorize_url(&[]);
        let r = d.browse(&url).await;
        let t = d.redeem(r.get("code").unwrap()).await;
        let idt = t["id_token"].as_str().unwrap().to_string();
        d.verify(&idt, &nonce).await;
        let sub = jwt_claims(&idt)["sub"].as_str().unwrap().to_string();
        assert_ne!(
            sub,
            user.id.to_string(),
            "a pairwise subject, not the user id"
        );
        let info = d
            .app
            .http()
            .get(d.app.url("/userinfo"))
            .bearer_auth(t["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json_value()
            .await;
        assert_eq!(info["sub"], sub.as_str());
        // Stable: a second login gives the same subject.
        let (url, _) = d.authorize_url(&[]);
        let r = d.browse(&url).await;
        let t2 = d.redeem(r.get("code").unwrap()).await;
        assert_eq!(
            jwt_claims(t2["id_token"].as_str().unwrap())["sub"],
            sub.as_str()
        );
        // A public client (the config's `web`) sees the user id.
        let public = TestRp::new(
            &d.app,
            "web",
            Some(SECRET),
            AuthType::BasicAuth,
            Alg::RsaSsaPkcs1V15Sha256,
        )
        .await;
        let mut b = d.app.browser();
        let s = public.start(&[], &[]);
        let code = public.authorize(&d.app, &mut b, &s, "buffy").await;
        let pt = public.exchange(&code, s.verifier).await.unwrap();
        assert_eq!(jwt_claims(&id_token(&pt))["sub"], user.id.to_string());
    }

    #[tokio::test]
    async fn a_pairwise_id_token_hint_is_recognised() {
        let d = registered(PAIRWISE, serde_json::json!({ "subject_type": "pairwise" })).await;
        let mut b = d.app.browser();
        let (url, _) = d.authorize_url(&[]);
        let page = b.get(&url).await;
        let login = b.follow(page).await;
        let res = b.submit_login(&login, "buffy", PASSWORD).await;
        let consent = b.follow(res).await;
        let csrf = consent.input("csrf_token").unwrap();
        let flow = consent.input("flow").unwrap();
        let res = b
            .post(
                "/consent",
                &[
                    ("decision", "allow"),
                    ("flow", &flow),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        let done = b.follow(res).await;
        let p = client_response(&done, Mode::Query).unwrap();
        let t = d.redeem(p.get("code").unwrap()).await;
        let hint = t["id_token"].as_str().unwrap().to_string();
        // prompt=none with the pairwise hint: the same user, silently.
        let (url, _) = d.authorize_url(&[("prompt", "none"), ("id_token_hint", &hint)]);
        let page = b.get(&url).await;
        let p = client_response(&page, Mode::Query).unwrap();
        assert!(p.contains_key("code"), "{p:?}");
    }

    #[tokio::test]
    async fn oidcc_registration_sector_bad() {
        let sector =
            serve_text(serde_json::json!(["https://elsewhere.example/cb"]).to_string()).await;
        let app = TestApp::spawn_with(|c| {
            c.replace("fetch_private_addresses = true", PAIRWISE)
                .replace(
                    "[passwords]",
                    "[registration]\nmode = \"open\"\n\n[passwords]",
                )
        })
        .await;
        let res = register(
            &app,
            &serde_json::json!({ "redirect_uris": [REDIRECT], "subject_type": "pairwise", "sector_identifier_uri": sector }),
        )
        .await;
        assert_eq!(res.status(), 400);
        assert_eq!(res.json_value().await["error"], "invalid_client_metadata");
    }

    /// A huge or slow request_uri document is refused (64 KB limit, 5 s timeout) and the
    /// authorization request answers with invalid_request_uri instead of hanging.
    #[tokio::test]
    async fn huge_or_slow_request_uris_are_refused() {
        let d = registered("", serde_json::json!({})).await;
        let huge = serve_text("x".repeat(200_000)).await;
        let listener = reserve_port().await;
        let slow = format!(
            "http://127.0.0.1:{}/slow",
            listener.local_addr().unwrap().port()
        );
        let app = axum::Router::new().route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                "too late"
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        for uri in [huge, slow] {
            let started = std::time::Instant::now();
            let (url, _) = d.authorize_url(&[("request_uri", &uri)]);
            let page = d.app.browser().get(&url).await;
            let loc = page.continue_link().expect("an error for the client");
            assert!(loc.contains("error=invalid_request_uri"), "{uri}: {loc}");
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "{uri}: did not hang"
            );
        }
    }

    #[tokio::test]
    async fn a_request_uri_on_a_private_address_is_refused() {
        let d = registered(
            "fetch_private_addresses = false",
            serde_json::json!({
                "token_endpoint_auth_method": "client_secret_basic", "jwks_uri": null,
            }),
        )
        .await;
        for uri in [
            "https://127.0.0.1:9/request.jwt",
            "http://169.254.169.254/latest/meta-data",
            "https://[::1]/r",
        ] {
            let (url, _) = d.authorize_url(&[("request_uri", uri)]);
            let page = d.app.browser().get(&url).await;
            let loc = page.continue_link().expect("an error for the client");
            assert!(loc.contains("error=invalid_request_uri"), "{uri}: {loc}");
        }
    }
}
