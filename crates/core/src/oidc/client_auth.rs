//! `private_key_jwt` client authentication (OIDC Core 9, RFC 7523 2.2 and 3): a JWT the client
//! signs with a key it registered (`jwks` or `jwks_uri`). Fetching a `jwks_uri` is the web
//! layer's job; this module checks the assertion against the keys it is given.
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::{AuthMethod, Client};
use crate::oidc::error::{OAuthError, ProviderResult};
use crate::provider::Provider;
use crate::secret::{ct_eq, sha256};

/// RFC 7523 2.2.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Assertions may not live longer than this (a replay window we are willing to remember).
const MAX_LIFETIME_SECS: i64 = 3600;

/// The unverified `iss` of an assertion: which client claims to have signed it.
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    super::jws::unverified_claims(assertion)?
        .get("iss")?
        .as_str()
        .map(str::to_string)
}

/// The verified assertion's `jti` and expiry, for replay protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

/// What verifies an assertion: the client's public keys (`private_key_jwt`) or its secret
/// (`client_secret_jwt`).
pub enum AssertionKey<'a> {
    Jwks(&'a Value),
    Secret(&'a [u8]),
}

/// Check `assertion` for `client`. `audiences`: the values `aud` may take (the token endpoint
/// URL, and the issuer, which OIDC Core 9 also allows).
pub fn verify_assertion(
    assertion: &str,
    client: &Client,
    key: AssertionKey<'_>,
    audiences: &[String],
    now: DateTime<Utc>,
) -> Result<VerifiedAssertion, OAuthError> {
    let bad = OAuthError::invalid_client;
    let claims = match (client.auth_method, key) {
        (AuthMethod::PrivateKeyJwt, AssertionKey::Jwks(jwks)) => {
            super::jws::verify(assertion, jwks).ok_or_else(bad)?
        }
        (AuthMethod::ClientSecretJwt, AssertionKey::Secret(secret)) => {
            super::jws::verify_hmac(assertion, secret).ok_or_else(bad)?
        }
        _ => return Err(bad()),
    };
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    // RFC 7523 3: iss and sub are the client_id.
    if s("iss") != Some(client.client_id.as_str()) || s("sub") != Some(client.client_id.as_str()) {
        return Err(bad());
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audiences.contains(a),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| audiences.iter().any(|x| x == a)),
        _ => false,
    };
    if !aud_ok {
        return Err(bad());
    }
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or_else(bad)?;
    let now_s = now.timestamp();
    if exp <= now_s - 30 || exp > now_s + MAX_LIFETIME_SECS {
        return Err(bad());
    }
    let jti = s("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(bad)?;
    Ok(VerifiedAssertion {
        jti: jti.to_string(),
        expires_at: DateTime::from_timestamp(exp, 0).ok_or_else(bad)?,
    })
}

/// How the client presented itself (RFC 6749 2.3.1). The web layer fills this in; it has already
/// refused requests that used more than one method.
#[derive(Debug, Clone)]
pub enum ClientCredentials {
    Secret {
        client_id: String,
        secret: crate::secret::Secret<String>,
    },
    Public {
        client_id: String,
    },
    /// `private_key_jwt` (RFC 7523 2.2): verified by the web layer, which can fetch `jwks_uri`.
    Assertion {
        client_id: String,
        assertion: String,
    },
}

impl ClientCredentials {
    /// The client the credentials claim to be.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Secret { client_id, .. }
            | Self::Public { client_id }
            | Self::Assertion { client_id, .. } => client_id,
        }
    }
}

impl Provider {
    /// RFC 6749 2.3.1: secrets are compared as SHA-256 digests in constant time. A confidential
    /// client may use either secret method; a public client only `none`.
    pub async fn authenticate_client(&self, creds: &ClientCredentials) -> ProviderResult<Client> {
        let client_id = creds.client_id();
        // Secrets never authenticate a private_key_jwt client (OIDC Core 9: one method each).
        let Some(client) = self.store.get_client(client_id).await? else {
            return Err(OAuthError::invalid_client().into());
        };
        let ok = match (creds, &client.secret_hash) {
            (ClientCredentials::Secret { secret, .. }, Some(hash))
                if matches!(
                    client.auth_method,
                    AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
                ) =>
            {
                ct_eq(&sha256(secret.expose().as_bytes()), hash)
            }
            (ClientCredentials::Public { .. }, _) => client.is_public(),
            _ => false,
        };
        if ok {
            Ok(client)
        } else {
            Err(OAuthError::invalid_client().into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jws::{ES256, JwsHeader};
    use josekit::jwt::JwtPayload;
    use serde_json::json;

    fn client() -> Client {
        let mut c = crate::oidc::authorize::request::tests_support::client();
        c.client_id = "rp".into();
        c.auth_method = AuthMethod::PrivateKeyJwt;
        c
    }

    fn setup() -> (Box<dyn josekit::jws::JwsSigner>, Value) {
        let kp = ES256.generate_key_pair().unwrap();
        let mut jwk = kp.to_jwk_public_key();
        jwk.set_key_id("k1");
        let signer = ES256.signer_from_der(kp.to_der_private_key()).unwrap();
        (
            Box::new(signer),
            json!({ "keys": [serde_json::to_value(jwk.as_ref()).unwrap()] }),
        )
    }

    fn assertion(signer: &dyn josekit::jws::JwsSigner, claims: Value) -> String {
        let mut h = JwsHeader::new();
        h.set_key_id("k1");
        let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        josekit::jwt::encode_with_signer(&p, &h, signer).unwrap()
    }

    #[test]
    fn a_good_assertion_verifies_and_bad_ones_do_not() {
        let (signer, jwks) = setup();
        let now = Utc::now();
        let aud = vec![
            "https://id.example.com/token".to_string(),
            "https://id.example.com".into(),
        ];
        let good = json!({ "iss": "rp", "sub": "rp", "aud": "https://id.example.com", "jti": "1", "exp": now.timestamp() + 60 });
        let v = verify_assertion(
            &assertion(signer.as_ref(), good.clone()),
            &client(),
            AssertionKey::Jwks(&jwks),
            &aud,
            now,
        )
        .unwrap();
        assert_eq!(v.jti, "1");
        assert_eq!(
            claimed_client_id(&assertion(signer.as_ref(), good.clone())).as_deref(),
            Some("rp")
        );
        for (field, value) in [
            ("iss", json!("other")),
            ("sub", json!("other")),
            ("aud", json!("https://evil.example")),
            ("exp", json!(now.timestamp() - 120)),
            ("exp", json!(now.timestamp() + 7200)),
            ("jti", json!("")),
        ] {
            let mut c = good.clone();
            c[field] = value;
            assert!(
                verify_assertion(
                    &assertion(signer.as_ref(), c),
                    &client(),
                    AssertionKey::Jwks(&jwks),
                    &aud,
                    now
                )
                .is_err(),
                "{field}"
            );
        }
        let (other_signer, _) = setup();
        assert!(
            verify_assertion(
                &assertion(other_signer.as_ref(), good.clone()),
                &client(),
                AssertionKey::Jwks(&jwks),
                &aud,
                now
            )
            .is_err(),
            "wrong key"
        );
        let mut secret_client = client();
        secret_client.auth_method = AuthMethod::ClientSecretBasic;
        assert!(
            verify_assertion(
                &assertion(signer.as_ref(), good),
                &secret_client,
                AssertionKey::Jwks(&jwks),
                &aud,
                now
            )
            .is_err()
        );
    }

    #[test]
    fn client_secret_jwt_verifies_with_the_secret() {
        let secret = b"a-client-secret-of-at-least-32-bytes!!";
        let mut c = client();
        c.auth_method = AuthMethod::ClientSecretJwt;
        let now = Utc::now();
        let claims = json!({ "iss": "rp", "sub": "rp", "aud": "https://id.example.com", "jti": "h1", "exp": now.timestamp() + 60 });
        let p = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
        let signer = josekit::jws::HS256.signer_from_bytes(secret).unwrap();
        let jwt = josekit::jwt::encode_with_signer(&p, &JwsHeader::new(), &signer).unwrap();
        let aud = vec!["https://id.example.com".to_string()];
        assert!(verify_assertion(&jwt, &c, AssertionKey::Secret(secret), &aud, now).is_ok());
        assert!(
            verify_assertion(
                &jwt,
                &c,
                AssertionKey::Secret(b"another-secret-of-at-least-32-bytes!!"),
                &aud,
                now
            )
            .is_err()
        );
        // A MAC never authenticates a private_key_jwt client.
        assert!(
            verify_assertion(&jwt, &client(), AssertionKey::Secret(secret), &aud, now).is_err()
        );
    }
}
