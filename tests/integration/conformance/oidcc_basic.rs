//! oidcc-basic-certification-test-plan's modules, each taking the response mode; `mod.rs`
//! runs them once per mode (`basic::`, `formpost::`).
use super::*;

pub(crate) async fn oidcc_server(mode: Mode) {
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    assert_oauth_error(res, 400, "invalid_grant").await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    let o = op(mode).await;
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
    assert_oauth_error(res, 400, "invalid_grant").await;
    assert_eq!(
        refresh("web2", rt2).await.unwrap().status(),
        200,
        "the stolen attempt did not burn it"
    );
}
