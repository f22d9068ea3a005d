//! Lanyard's own runner for the OpenID Foundation's OP conformance test plans. The official suite
//! needs Docker and Maven Central, which CI cannot reach, so each module of the plans is mirrored
//! here as a test named after it (`oidcc-server` → `oidcc_server`), asserting what the module
//! asserts (docs/conformance.md lists them all, with the modules that do not apply and why).
//!
//! Everything goes over HTTP like an outside client: the browser drives the real pages, ID tokens
//! are verified by `openidconnect` against the published JWKS, and logout tokens by
//! `openidconnect`'s JWK implementation, independent of the josekit code that signs them.
//!
//! One module per plan (`oidcc_basic`, `config`, `rp_logout`, `backchannel`, `dynamic`); this
//! file holds what they share: the OP under test, the response a client receives, and the
//! verbs of the logout plans.
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

use lanyard_core::secret::Secret;

use crate::harness::assert_oauth_error;
use crate::harness::{
    Browser, JsonBody, PASSWORD, Page, RegistrationSettings, SECRET, Settings, TestApp, client,
    client_mut, html_unescape, jwt_claims, jwt_header, reserve_port, standard,
};
use crate::rp::{REDIRECT, Started, TestRp};

const POST_LOGOUT: &str = "http://127.0.0.1:9/post_logout_redirect";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Query,
    FormPost,
}

/// The suite's static clients: `web` returns after logout to `POST_LOGOUT`; `web2` is a
/// second client for oidcc-refresh-token.
fn static_clients(s: &mut Settings) {
    client_mut(s, "web").post_logout_redirect_uris = vec![POST_LOGOUT.into()];
    let mut web2 = client("web2");
    web2.name = "Second client".into();
    web2.redirect_uris = vec![REDIRECT.into()];
    web2.scopes.push("offline_access".into());
    s.clients.push(web2);
}

/// The OP under test, configured like the suite's static clients: `web` (client_secret_basic),
/// `web2` (the second client of oidcc-refresh-token), `post` (client_secret_post), and a user
/// with every standard claim.
struct Op {
    app: TestApp,
    rp: TestRp,
    mode: Mode,
}

async fn op(mode: Mode) -> Op {
    let app = TestApp::spawn_with(static_clients).await;
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

mod backchannel;
mod config;
mod dynamic;
mod oidcc_basic;
mod rp_logout;

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

// ---- the Basic plan, once per response mode -----------------------------------------------

macro_rules! plan {
    ($plan:ident, $mode:expr, [$($module:ident),* $(,)?]) => {
        mod $plan {
            $(
                #[tokio::test]
                async fn $module() {
                    super::oidcc_basic::$module($mode).await
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
