//! A scripted upstream OpenID provider that misbehaves on purpose, one fault per test: every
//! bad answer a real upstream could give must end in a clear page, an audit entry, no session
//! and no account.
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use josekit::jwk::KeyPair;
use josekit::jws::{JwsHeader, RS256};
use josekit::jwt::JwtPayload;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// `error=access_denied` instead of a code.
    Denied,
    WrongIssuer,
    BadSignature,
    UnknownKid,
    WrongNonce,
    WrongAudience,
    Expired,
    /// No email in the ID token nor in userinfo.
    NoEmail,
    EmailUnverified,
    /// The token endpoint answers HTML.
    Garbage,
    /// The token endpoint answers after the client's timeout.
    Slow,
    /// HS256 signed with the client secret (and advertised in discovery).
    Hs256,
    /// `azp` names another client.
    WrongAzp,
    /// A valid answer whose `auth_time` is two days old (a long-lived upstream session).
    OldAuthTime,
}

struct Inner {
    issuer: String,
    fault: Fault,
    nonce: Option<String>,
    signing: String,
    wrong_key: String,
    jwk: Value,
    kid: String,
}

#[derive(Clone)]
pub struct FakeUpstream {
    pub issuer: String,
    inner: Arc<Mutex<Inner>>,
    _server: Arc<tokio::task::JoinHandle<()>>,
}

pub const CLIENT_ID: &str = "lanyard-down";
/// Long enough to key HS256 (which the downstream must refuse anyway).
pub const CLIENT_SECRET: &str = "fake-secret-that-is-long-enough-for-hs256";

impl FakeUpstream {
    pub async fn start(listener: tokio::net::TcpListener) -> Self {
        let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let kp = RS256.generate_key_pair(2048).unwrap();
        let other = RS256.generate_key_pair(2048).unwrap();
        let mut jwk = kp.to_jwk_public_key();
        jwk.set_key_id("k1");
        jwk.set_algorithm("RS256");
        jwk.set_key_use("sig");
        let inner = Arc::new(Mutex::new(Inner {
            issuer: issuer.clone(),
            fault: Fault::None,
            nonce: None,
            signing: String::from_utf8(kp.to_pem_private_key()).unwrap(),
            wrong_key: String::from_utf8(other.to_pem_private_key()).unwrap(),
            jwk: serde_json::to_value(jwk.as_ref()).unwrap(),
            kid: "k1".into(),
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            issuer,
            inner,
            _server: Arc::new(server),
        }
    }

    pub fn set(&self, fault: Fault) {
        self.inner.lock().unwrap().fault = fault;
    }

    /// Switch to a new signing key with a new kid (published in the JWKS from now on).
    pub fn rotate(&self) {
        let kp = RS256.generate_key_pair(2048).unwrap();
        let mut jwk = kp.to_jwk_public_key();
        jwk.set_key_id("k2");
        jwk.set_algorithm("RS256");
        jwk.set_key_use("sig");
        let mut i = self.inner.lock().unwrap();
        i.signing = String::from_utf8(kp.to_pem_private_key()).unwrap();
        i.jwk = serde_json::to_value(jwk.as_ref()).unwrap();
        i.kid = "k2".into();
    }
}

type Shared = Arc<Mutex<Inner>>;

async fn discovery(State(s): State<Shared>) -> Json<Value> {
    let i = s.lock().unwrap().issuer.clone();
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "HS256"],
    }))
}

async fn jwks(State(s): State<Shared>) -> Json<Value> {
    Json(json!({ "keys": [s.lock().unwrap().jwk.clone()] }))
}

async fn authorize(
    State(s): State<Shared>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let mut inner = s.lock().unwrap();
    inner.nonce = q.get("nonce").cloned();
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    let target = if inner.fault == Fault::Denied {
        format!("{redirect}?error=access_denied&state={state}")
    } else {
        format!("{redirect}?code=the-code&state={state}")
    };
    Redirect::to(&target).into_response()
}

async fn token(
    State(s): State<Shared>,
    Form(_form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    let (fault, issuer, nonce, key, wrong_key, kid) = {
        let i = s.lock().unwrap();
        (
            i.fault,
            i.issuer.clone(),
            i.nonce.clone(),
            i.signing.clone(),
            i.wrong_key.clone(),
            i.kid.clone(),
        )
    };
    match fault {
        Fault::Garbage => return "<html>oops</html>".into_response(),
        Fault::Slow => tokio::time::sleep(std::time::Duration::from_secs(12)).await,
        _ => {}
    }
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": if fault == Fault::WrongIssuer { "https://evil.example".to_string() } else { issuer },
        "sub": "fake-sub",
        "aud": if fault == Fault::WrongAudience { "someone-else" } else { CLIENT_ID },
        "iat": now,
        "exp": if fault == Fault::Expired { now - 600 } else { now + 300 },
        "nonce": if fault == Fault::WrongNonce { Some("not-the-nonce".to_string()) } else { nonce },
        "email": "fake@example.com",
        "email_verified": fault != Fault::EmailUnverified,
        "preferred_username": "fake",
    });
    if fault == Fault::WrongAzp {
        claims["azp"] = json!("another-client");
    }
    if fault == Fault::OldAuthTime {
        claims["auth_time"] = json!(now - 2 * 86_400);
    }
    if fault == Fault::NoEmail {
        let m = claims.as_object_mut().unwrap();
        m.remove("email");
        m.remove("email_verified");
        m.remove("preferred_username");
    }
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    header.set_key_id(if fault == Fault::UnknownKid {
        "unknown"
    } else {
        kid.as_str()
    });
    let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    let id_token = if fault == Fault::Hs256 {
        let signer = josekit::jws::HS256
            .signer_from_bytes(CLIENT_SECRET.as_bytes())
            .unwrap();
        josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap()
    } else {
        let pem = if matches!(fault, Fault::BadSignature | Fault::UnknownKid) {
            wrong_key
        } else {
            key
        };
        let signer = RS256.signer_from_pem(pem.as_bytes()).unwrap();
        josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap()
    };
    Json(json!({
        "access_token": "fake-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

async fn userinfo() -> Json<Value> {
    Json(json!({ "sub": "fake-sub" }))
}
