//! oidcc-rp-initiated-logout-certification-test-plan.
use super::*;

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
    let o = op(Mode::Query).await;
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
    let o = op(Mode::Query).await;
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
    let o = op(Mode::Query).await;
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
    let o = op(Mode::Query).await;
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
    let o = op(Mode::Query).await;
    let (mut b, _) = logged_in(&o).await;
    logout_to_page(&o, &mut b, "/logout").await;
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_no_post_logout_redirect_uri() {
    let o = op(Mode::Query).await;
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
    let o = op(Mode::Query).await;
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
    let o = op(Mode::Query).await;
    let (mut b, _) = logged_in(&o).await;
    logout_to_page(&o, &mut b, &logout_url(&[("state", "xyz")])).await;
}

#[tokio::test]
async fn oidcc_rp_initiated_logout_query_added_to_post_logout_redirect_uri() {
    let o = op(Mode::Query).await;
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
    let o = op(Mode::Query).await;
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
