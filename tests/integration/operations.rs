//! Discovery, JWKS, key rotation, health and metrics, start-up behaviour.
use std::sync::Arc;

use lanyard_core::clock::{Clock, FixedClock};
use lanyard_core::model::SigningAlg;
use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
use openidconnect::{AuthType, TokenResponse};
use serde_json::Value;

use crate::harness::JsonBody;
use crate::harness::assert_oauth_error;
use lanyard_core::secret::Secret;

use crate::harness::{SECRET, TestApp, jwt_header, standard};
use crate::rp::TestRp;

#[tokio::test]
async fn discovery_advertises_what_is_implemented_and_is_cacheable() {
    let app = TestApp::spawn().await;
    let res = app
        .http()
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let d: Value = res.json_value().await;
    assert_eq!(d["issuer"], app.issuer);
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert_eq!(d["request_parameter_supported"], true);
    assert_eq!(
        d["request_object_signing_alg_values_supported"],
        serde_json::json!(["RS256", "PS256", "ES256"]),
        "no unsigned request objects unless configured"
    );
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ] {
        assert!(
            d[endpoint].as_str().unwrap().starts_with(&app.issuer),
            "{endpoint}"
        );
    }
    let jwks: Value = app
        .http()
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3, "one key per enabled algorithm");
    for k in keys {
        assert!(k["kid"].is_string());
        assert!(
            k.get("d").is_none() && k.get("p").is_none(),
            "no private material"
        );
    }
}

#[tokio::test]
async fn key_rotation_publishes_before_it_signs() {
    let app = TestApp::spawn().await;
    app.user("ada").await;
    let provider = app.app.state.provider.clone();
    let rp = TestRp::new(
        &app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let kid_of = |t: &openidconnect::core::CoreTokenResponse| {
        jwt_header(&t.id_token().unwrap().to_string())["kid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut b = app.browser();
    let s = rp.start(&[], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let old_kid = kid_of(&rp.exchange(&code, s.verifier).await.unwrap());

    let cipher = lanyard::app::cipher(&app.app.settings).unwrap();
    let new = lanyard_core::oidc::keys::rotate(
        app.store.as_ref(),
        &cipher,
        SigningAlg::RS256,
        app.clock.now(),
        chrono::Duration::minutes(10),
    )
    .await
    .unwrap();
    assert!(provider.reload_keys().await.unwrap());
    let jwks: Value = app
        .http()
        .get(app.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&new.kid.as_str()) && kids.contains(&old_kid.as_str()),
        "both keys published"
    );

    // Still the old key until the switch.
    let s = rp.start(&[], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    assert_eq!(
        kid_of(&rp.exchange(&code, s.verifier).await.unwrap()),
        old_kid
    );
    app.clock.advance(chrono::Duration::minutes(10));
    // A relying party that refreshed the JWKS during the publish window (at most one max-age
    // before the switch) verifies tokens signed with the new key.
    let rp = TestRp::new(
        &app,
        "web",
        Some(SECRET),
        AuthType::BasicAuth,
        Alg::RsaSsaPkcs1V15Sha256,
    )
    .await;
    let s = rp.start(&[], &[]);
    let code = rp.authorize(&app, &mut b, &s, "ada").await;
    let tokens = rp.exchange(&code, s.verifier).await.unwrap();
    assert_eq!(kid_of(&tokens), new.kid);
    rp.verify(&tokens, Some(&s.nonce));
}

/// Issue "Hardening" 10: `/metrics` is not served to everyone on the public listener.
#[tokio::test]
async fn public_metrics_need_the_configured_token() {
    let closed = TestApp::spawn().await;
    let res = closed
        .http()
        .get(closed.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "not served without [metrics] token");
    let app = TestApp::spawn_with(|s| {
        s.metrics.token = Some(Secret::new("a-metrics-token-for-tests".into()));
    })
    .await;
    let http = app.http();
    for auth in [
        None,
        Some("Bearer wrong-token-of-some-length"),
        Some("Basic x"),
    ] {
        let mut req = http.get(app.url("/metrics"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        assert_eq!(
            res.headers()["www-authenticate"],
            "Bearer realm=\"metrics\""
        );
    }
    let res = http
        .get(app.url("/metrics"))
        .bearer_auth("a-metrics-token-for-tests")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("process_resident_memory_bytes")
    );
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let ops = lanyard_web::router::ops_router(app.app.state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ops_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, ops).await;
    });
    let http = app.http();
    assert_eq!(
        http.get(app.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        http.get(app.url("/readyz")).send().await.unwrap().status(),
        200
    );
    // A wrong password, a client's token, and a grant type nobody has.
    app.user("ada").await;
    let mut b = app.browser();
    let page = b.get("/login").await;
    let page = b.submit_login(&page, "ada", "not the password").await;
    assert_eq!(page.status, 401);
    for grant in ["client_credentials", "made_up"] {
        http.post(app.url("/token"))
            .basic_auth("web", Some(crate::harness::SECRET))
            .form(&[("grant_type", grant)])
            .send()
            .await
            .unwrap();
    }
    // The [metrics] listen listener serves them without a token.
    let metrics = http
        .get(format!("{ops_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("lanyard_http_requests_total{route=\"/readyz\",status=\"200\"} 1"),
        "{metrics}"
    );
    for line in [
        "lanyard_http_request_duration_seconds_count{route=\"/readyz\"} 1",
        "lanyard_logins_total{outcome=\"failure\",reason=\"bad_credentials\"} 1",
        "lanyard_tokens_total{grant_type=\"client_credentials\",error=\"\"} 1",
        "lanyard_tokens_total{grant_type=\"other\",error=\"unsupported_grant_type\"} 1",
        "lanyard_password_hashes_in_flight 0",
        "lanyard_login_attempts_waiting 0",
        "lanyard_sessions_active 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    for name in [
        "lanyard_db_pool_max_connections ",
        "lanyard_http_request_duration_seconds_bucket{le=\"0.0005\",route=\"/token\"}",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "process_open_fds ",
        "process_start_time_seconds ",
        "lanyard_build_info{version=",
    ] {
        assert!(metrics.contains(name), "{name} in\n{metrics}");
    }
    for path in ["/healthz", "/readyz"] {
        let res = http.get(format!("{ops_url}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path} on the metrics listener");
    }
}

#[tokio::test]
async fn config_clients_reconcile_idempotently_and_removed_ones_go() {
    let app = TestApp::spawn().await;
    let clients = app.app.settings.clients.clone();
    assert_eq!(
        lanyard::app::reconcile_clients(app.store.as_ref(), &clients)
            .await
            .unwrap(),
        (0, 0),
        "a second run changes nothing"
    );
    let fewer: Vec<_> = clients
        .iter()
        .filter(|c| c.client_id != "post")
        .cloned()
        .collect();
    assert_eq!(
        lanyard::app::reconcile_clients(app.store.as_ref(), &fewer)
            .await
            .unwrap(),
        (0, 1)
    );
    assert!(app.store.get_client("post").await.unwrap().is_none());
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let toml = crate::harness::test_config(1, "postgres://nobody@127.0.0.1:1/nothing");
    let settings = lanyard_config::load_from_str(&toml, &[], dir.path()).unwrap();
    let started = std::time::Instant::now();
    let err = lanyard::App::build(settings, Arc::new(FixedClock::new(chrono::Utc::now())))
        .await
        .err()
        .expect("fails");
    assert!(matches!(err, lanyard::AppError::Database(_)), "{err}");
    assert!(
        err.to_string().contains("cannot open the database"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

#[tokio::test]
async fn restarting_on_the_same_database_keeps_keys_and_users() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = crate::harness::fresh_db_url(dir.path()).await;
    let first = TestApp::spawn_on(tempfile::tempdir().unwrap(), db_url.clone(), standard).await;
    first.user("ada").await;
    let jwks1: Value = first
        .http()
        .get(first.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    drop(first);
    let second = TestApp::spawn_on(tempfile::tempdir().unwrap(), db_url, standard).await;
    let jwks2: Value = second
        .http()
        .get(second.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json_value()
        .await;
    assert_eq!(jwks1, jwks2, "keys are generated once and reused");
    assert!(
        second
            .store
            .find_user_by_username("ada")
            .await
            .unwrap()
            .is_some()
    );
}

async fn psql(sql: &str) {
    let status = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-qc",
            sql,
        ])
        .status()
        .expect("psql");
    assert!(status.success(), "{sql}");
}

/// PostgreSQL only (the SQLite leg has no server to take away): while the database refuses
/// connections Lanyard answers 503 — JSON on API endpoints, a page in the browser — and it
/// recovers by itself when the database returns.
#[tokio::test]
async fn a_database_outage_answers_503_and_recovers() {
    if std::env::var("LANYARD_TEST_DATABASE_URL")
        .unwrap_or_default()
        .is_empty()
    {
        println!("skipped: runs on the PostgreSQL leg");
        return;
    }
    let app = TestApp::spawn().await;
    let url = app.app.settings.database.url.clone();
    let db = url.rsplit('/').next().unwrap().to_string();
    assert!(db.starts_with("lanyard_test_"));
    psql(&format!("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS false")).await;
    psql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ))
    .await;

    let http = app.http();
    assert_eq!(
        http.get(app.url("/readyz")).send().await.unwrap().status(),
        503
    );
    let res = http
        .post(app.url("/token"))
        .basic_auth("web", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(res, 503, "temporarily_unavailable").await;
    let mut b = app.browser();
    let page = b.get("/login").await;
    assert_eq!(page.status, 503, "{:?} {}", page.headers, page.body);
    assert!(page.body.contains("Temporarily unavailable"));
    assert_eq!(
        http.get(app.url("/healthz")).send().await.unwrap().status(),
        200,
        "alive, just not ready"
    );

    psql(&format!("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS true")).await;
    let mut ready = false;
    for _ in 0..20 {
        if http.get(app.url("/readyz")).send().await.unwrap().status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(ready, "recovers without a restart");
    let res = http
        .post(app.url("/token"))
        .basic_auth("web", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
