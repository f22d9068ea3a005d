//! Contract: fixtures.
use crate::prelude::*;

/// A fixed instant with microsecond precision (what both backends store).
pub(crate) fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap()
}

pub(crate) fn hash() -> Vec<u8> {
    let mut h = Uuid::new_v4().as_bytes().to_vec();
    h.extend_from_slice(Uuid::new_v4().as_bytes());
    h
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

pub(crate) async fn new_user(store: &Arc<dyn Store>, username: &str) -> User {
    let u = User::new(username, t0());
    store.create_user(&u).await.unwrap();
    u
}

pub(crate) fn grant(user_id: Option<Uuid>, expires_at: DateTime<Utc>) -> Grant {
    Grant {
        id: Uuid::new_v4(),
        client_id: "app".into(),
        user_id,
        scopes: strings(&["openid", "profile", "offline_access"]),
        sid: Some("sid-1".into()),
        auth_time: Some(t0() - Duration::minutes(5)),
        amr: strings(&["pwd", "otp"]),
        acr: Some("urn:lanyard:mfa".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        claims: ClaimsRequest::from_json(r#"{"id_token":{"email":{"essential":true}}}"#),
        created_at: t0(),
        expires_at,
        revoked_at: None,
    }
}

pub(crate) fn refresh(grant_id: Uuid, expires_at: DateTime<Utc>) -> RefreshToken {
    RefreshToken {
        token_hash: hash(),
        grant_id,
        created_at: t0(),
        expires_at,
        used_at: None,
        successor_enc: None,
    }
}

pub(crate) fn code(user_id: Uuid, expires_at: DateTime<Utc>) -> AuthCode {
    AuthCode {
        code_hash: hash(),
        grant_id: Uuid::new_v4(),
        client_id: "app".into(),
        user_id,
        redirect_uri: "https://app.example/cb".into(),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        nonce: None,
        scopes: strings(&["openid", "email"]),
        claims: None,
        sid: "sid-1".into(),
        auth_time: t0(),
        amr: strings(&["pwd"]),
        acr: None,
        created_at: t0(),
        expires_at,
    }
}

pub(crate) fn key(kid: &str, alg: SigningAlg) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        alg,
        public_jwk: format!(r#"{{"kid":"{kid}","kty":"OKP"}}"#),
        private_enc: vec![1, 2, 3, kid.len() as u8],
        created_at: t0(),
        activates_at: t0(),
        retired_at: None,
    }
}

pub(crate) fn session(user_id: Option<Uuid>, expires_at: DateTime<Utc>) -> SessionRecord {
    SessionRecord {
        id_hash: hash(),
        user_id,
        epoch: 0,
        data: b"{\"k\":1}".to_vec(),
        expires_at,
    }
}

pub(crate) fn totp(user_id: Uuid) -> TotpCredential {
    TotpCredential {
        user_id,
        secret_enc: hash(),
        last_step: None,
        created_at: t0(),
    }
}

pub(crate) fn identity(upstream: &str, subject: &str, user_id: Uuid) -> FederatedIdentity {
    FederatedIdentity {
        upstream: upstream.into(),
        subject: subject.into(),
        user_id,
        email: Some(format!("{subject}@{upstream}.example")),
        created_at: t0(),
        last_login_at: t0() + Duration::seconds(1),
    }
}

pub(crate) fn hashes(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|_| hash()).collect()
}

pub(crate) fn client(id: &str) -> Client {
    Client {
        secret_hash: Some(vec![7; 32]),
        redirect_uris: strings(&["https://app.example/cb", "https://app.example/cb2"]),
        post_logout_redirect_uris: strings(&["https://app.example/"]),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        auth_method: AuthMethod::ClientSecretBasic,
        scopes: strings(&["profile", "email"]),
        id_token_alg: SigningAlg::ES256,
        require_pkce: true,
        ..Client::new(id, &format!("Client {id}"))
    }
}

pub(crate) fn event(kind: &str, user_id: Option<Uuid>, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        id: Uuid::new_v4(),
        at,
        kind: kind.into(),
        user_id,
        client_id: Some("app".into()),
        ip: Some("192.0.2.1".into()),
        detail: serde_json::json!({ "ok": true, "n": 1, "list": ["a", "b"] }),
    }
}
