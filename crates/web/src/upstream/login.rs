//! The upstream login itself: the authorization request (code flow with PKCE, state and nonce)
//! and, at the callback, the code exchange and the ID token's verification (OIDC Core 3.1.3.7).
use chrono::{DateTime, Utc};
use lanyard_core::federation::{Upstream, check_upstream_claims};
use openidconnect::core::{CoreAuthenticationFlow, CoreIdToken};
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    Scope, TokenResponse,
};
use openidconnect::{ClaimsVerificationError, SignatureVerificationError};
use serde_json::{Map, Value};

use super::{ALLOWED_ALGS, FedError, ID_TOKEN_ONLY, Started, Upstreams, token_error};

impl Upstreams {
    /// The authorization request (code + PKCE S256 + state + nonce), with `extra` parameters
    /// (`prompt=login`, `max_age`) when the login must be fresh at the upstream too.
    pub async fn start(
        &self,
        up: &Upstream,
        extra: &[(&'static str, String)],
    ) -> Result<Started, FedError> {
        let cached = self.cached(up).await?;
        let client = self.client(up, &cached)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in up.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        for (k, v) in extra {
            req = req.add_extra_param(*k, v.clone());
        }
        let (url, state, nonce) = req.url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Exchange the code and return the verified ID token's claims, merged with userinfo when
    /// `need` names claims the ID token lacks, and the ID token itself. `now` is for the checks
    /// `openidconnect` leaves to us (`check_upstream_claims`).
    pub async fn finish(
        &self,
        up: &Upstream,
        code: &str,
        verifier: &str,
        nonce: &str,
        need: &[&str],
        now: DateTime<Utc>,
    ) -> Result<(Map<String, Value>, String), FedError> {
        let cached = self.cached(up).await?;
        let client = self.client(up, &cached)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| FedError::Invalid(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                FedError::Invalid(format!("the code exchange failed: {}", token_error(&e)))
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| FedError::Invalid("the token response has no id_token".into()))?;
        self.verify_id_token(up, &client, id_token, nonce).await?;
        // Verified above; read every claim (openidconnect's typed claims drop unknown ones).
        let mut claims = lanyard_core::oidc::jws::unverified_claims(&id_token.to_string())
            .ok_or_else(|| FedError::Invalid("the ID token cannot be read".into()))?;
        check_upstream_claims(&claims, &up.client_id, now)
            .map_err(|e| FedError::Invalid(e.to_string()))?;
        if need.iter().any(|c| !claims.contains_key(*c))
            && let Some(endpoint) = cached.metadata.userinfo_endpoint()
        {
            let token = tokens.access_token().secret();
            self.merge_userinfo(endpoint.url().as_str(), token, &mut claims)
                .await?;
        }
        Ok((claims, id_token.to_string()))
    }

    /// The ID token's signature and claims (`iss`, `aud`, `azp`, `exp`, `nonce`), with the
    /// allowed algorithms only. An unknown kid may mean the upstream rotated its keys: the JWKS
    /// is refreshed (at most once per `REFETCH_BACKOFF`) and the token checked again.
    async fn verify_id_token(
        &self,
        up: &Upstream,
        client: &super::Client,
        id_token: &CoreIdToken,
        nonce: &str,
    ) -> Result<(), FedError> {
        let nonce = Nonce::new(nonce.to_string());
        let invalid = |e: ClaimsVerificationError| {
            FedError::Invalid(format!("the ID token is not valid: {e}"))
        };
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(ALLOWED_ALGS.to_vec());
        match id_token.claims(&verifier, &nonce) {
            Ok(_) => Ok(()),
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let fresh = self.refresh_for_unknown_kid(up).await?;
                let client = self.client(up, &fresh)?;
                let verifier = client
                    .id_token_verifier()
                    .set_allowed_algs(ALLOWED_ALGS.to_vec());
                id_token
                    .claims(&verifier, &nonce)
                    .map(|_| ())
                    .map_err(invalid)
            }
            Err(e) => Err(invalid(e)),
        }
    }

    /// Claims the ID token lacks, from userinfo. OIDC Core 5.3.2: its `sub` must be the ID
    /// token's; claims about the authentication itself are taken from the ID token only.
    async fn merge_userinfo(
        &self,
        endpoint: &str,
        access_token: &str,
        claims: &mut Map<String, Value>,
    ) -> Result<(), FedError> {
        let Value::Object(info) = self.get_json(endpoint, Some(access_token)).await? else {
            return Err(FedError::Unavailable(
                "userinfo did not answer an object".into(),
            ));
        };
        if info.get("sub") != claims.get("sub") {
            return Err(FedError::Invalid(
                "userinfo is about another subject".into(),
            ));
        }
        for (k, v) in info {
            if !ID_TOKEN_ONLY.contains(&k.as_str()) {
                claims.entry(k).or_insert(v);
            }
        }
        Ok(())
    }
}
