//! oidcc-backchannel-rp-initiated-logout-certification-test-plan.
use super::*;

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
    let o = op(Mode::Query).await;
    // Re-declare `web` with a back-channel logout URI (the same database, a new instance).
    drop(o);
    let o = {
        let bcl = bcl.clone();
        let app = TestApp::spawn_with(move |s| {
            let web = client_mut(s, "web");
            web.post_logout_redirect_uris = vec![POST_LOGOUT.into()];
            web.backchannel_logout_uri = Some(bcl);
            web.backchannel_logout_session_required = true;
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
