//! `private_key_jwt` client authentication (OIDC Core 9, RFC 7523 2.2 and 3): a JWT the client
//! signs with a key it registered (`jwks` or `jwks_uri`). Fetching a `jwks_uri` is the web
//! layer's job; this module checks the assertion against the keys it is given.
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::{AuthMethod, Client};
use crate::oidc::error::{ErrorKind, OAuthError, ProviderError, ProviderResult};
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
    /// Client authentication at every endpoint that authenticates clients (RFC 6749 2.3,
    /// OIDC Core 9, RFC 7523), behind the failure budget of the client id and the address
    /// (`client_gate`): checked before the credentials are, every failure counted.
    /// `ProviderError::Throttled` when the budget is spent.
    pub async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
        ip: Option<&str>,
    ) -> ProviderResult<Client> {
        let gate = match self.client_gate(creds.client_id(), ip).await? {
            Ok(gate) => gate,
            Err(until) => return Err(ProviderError::throttled(until, self.now())),
        };
        match self.verify_client(creds).await {
            Err(ProviderError::OAuth(e)) if e.kind == ErrorKind::InvalidClient => {
                self.client_auth_failed(gate, ip).await?;
                Err(e.into())
            }
            other => other,
        }
    }

    async fn verify_client(&self, creds: &ClientCredentials) -> ProviderResult<Client> {
        match creds {
            ClientCredentials::Assertion {
                client_id,
                assertion,
            } => self.verify_client_assertion(client_id, assertion).await,
            _ => self.verify_client_secret(creds).await,
        }
    }

    /// RFC 6749 2.3.1: secrets are compared as SHA-256 digests in constant time. A confidential
    /// client may use either secret method; a public client only `none`. Secrets never
    /// authenticate a client registered for an assertion method (OIDC Core 9: one method each).
    async fn verify_client_secret(&self, creds: &ClientCredentials) -> ProviderResult<Client> {
        let Some(client) = self.client(creds.client_id()).await? else {
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

    /// `private_key_jwt` and `client_secret_jwt` (OIDC Core 9, RFC 7523 2.2 and 3), each `jti`
    /// accepted once (kept in the database, so replicas agree).
    async fn verify_client_assertion(
        &self,
        client_id: &str,
        assertion: &str,
    ) -> ProviderResult<Client> {
        let invalid = || ProviderError::from(OAuthError::invalid_client());
        let client = self
            .client(client_id)
            .await?
            .filter(|c| {
                matches!(
                    c.auth_method,
                    AuthMethod::PrivateKeyJwt | AuthMethod::ClientSecretJwt
                )
            })
            .ok_or_else(invalid)?;
        let verified = match client.auth_method {
            AuthMethod::ClientSecretJwt => {
                let secret = self.client_secret_for_jwt(&client).ok_or_else(invalid)?;
                self.check_assertion(assertion, &client, AssertionKey::Secret(&secret))
            }
            _ => self.check_signed_assertion(assertion, &client).await,
        }
        .map_err(|_| invalid())?;
        // RFC 7523 3 (7): a jti is accepted once.
        let jti = sha256(verified.jti.as_bytes());
        if !self
            .store
            .remember_assertion(&client.client_id, &jti, verified.expires_at)
            .await?
        {
            return Err(invalid());
        }
        Ok(client)
    }

    /// A `private_key_jwt` assertion against the client's keys. When they come from a
    /// `jwks_uri` and the signature is what failed, the client may have rotated its keys: they
    /// are fetched once more (at most once a minute per URI).
    async fn check_signed_assertion(
        &self,
        assertion: &str,
        client: &Client,
    ) -> Result<VerifiedAssertion, OAuthError> {
        let fail = OAuthError::invalid_client;
        let jwks = match (&client.jwks, &client.jwks_uri) {
            (Some(jwks), _) => jwks.clone(),
            (None, Some(uri)) => self.fetch.jwks(uri).await.map_err(|_| fail())?,
            (None, None) => return Err(fail()),
        };
        match self.check_assertion(assertion, client, AssertionKey::Jwks(&jwks)) {
            Err(_) if super::jws::verify(assertion, &jwks).is_none() => {
                let uri = client.jwks_uri.as_deref().ok_or_else(fail)?;
                if !self.fetch.forget(uri) {
                    return Err(fail());
                }
                let jwks = self.fetch.jwks(uri).await.map_err(|_| fail())?;
                self.check_assertion(assertion, client, AssertionKey::Jwks(&jwks))
            }
            other => other,
        }
    }

    /// RFC 7523 3: `aud` is the token endpoint; OIDC Core 9 also allows the issuer.
    fn check_assertion(
        &self,
        assertion: &str,
        client: &Client,
        key: AssertionKey<'_>,
    ) -> Result<VerifiedAssertion, OAuthError> {
        let issuer = &self.config.issuer;
        let audiences = [format!("{issuer}/token"), issuer.clone()];
        verify_assertion(assertion, client, key, &audiences, self.now())
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
