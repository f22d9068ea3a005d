//! A relying party built on the `openidconnect` crate: an independent implementation checks
//! everything Lanyard issues (discovery, JWKS, ID token signature, nonce, at_hash, audience).
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, TokenResponse,
};

use crate::harness::{Browser, PASSWORD, TestApp, http_client, query_of};

pub type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub const REDIRECT: &str = "http://127.0.0.1:9/cb";

pub struct TestRp {
    pub client: Client,
    pub alg: CoreJwsSigningAlgorithm,
}

pub struct Started {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

impl TestRp {
    pub async fn new(
        app: &TestApp,
        client_id: &str,
        secret: Option<&str>,
        auth: AuthType,
        alg: CoreJwsSigningAlgorithm,
    ) -> Self {
        let http = http_client();
        let meta = CoreProviderMetadata::discover_async(
            IssuerUrl::new(app.issuer.clone()).unwrap(),
            &http,
        )
        .await
        .expect("discovery");
        let client = CoreClient::from_provider_metadata(
            meta,
            ClientId::new(client_id.into()),
            secret.map(|s| ClientSecret::new(s.into())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
        .set_auth_type(auth);
        Self { client, alg }
    }

    pub fn start(&self, scopes: &[&str], extra: &[(&str, &str)]) -> Started {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in scopes {
            req = req.add_scope(Scope::new((*s).into()));
        }
        for (k, v) in extra {
            req = req.add_extra_param(*k, *v);
        }
        let (url, state, nonce) = req.url();
        Started {
            url: url.to_string(),
            state,
            nonce,
            verifier,
        }
    }

    /// Drive a browser from the authorize URL through login (and consent if asked) back to the
    /// client; returns the code after checking `state` and `iss` (RFC 9207).
    pub async fn authorize(
        &self,
        app: &TestApp,
        browser: &mut Browser,
        started: &Started,
        username: &str,
    ) -> String {
        let mut page = {
            let __p = browser.get(&started.url).await;
            browser.follow(__p)
        }
        .await;
        if page.body.contains("name=\"password\"") {
            page = {
                let __p = browser.submit_login(&page, username, PASSWORD).await;
                browser.follow(__p)
            }
            .await;
        }
        if page.body.contains("value=\"allow\"") {
            let csrf = page.input("csrf_token").unwrap();
            let flow = page.input("flow").unwrap();
            page = {
                let __p = browser
                    .post(
                        "/consent",
                        &[
                            ("decision", "allow"),
                            ("flow", &flow),
                            ("csrf_token", &csrf),
                        ],
                    )
                    .await;
                browser.follow(__p)
            }
            .await;
        }
        let loc = page.location().unwrap_or_else(|| {
            panic!(
                "expected a redirect to the client, got {}: {}",
                page.status, page.body
            )
        });
        assert!(loc.starts_with(REDIRECT), "redirected to {loc}");
        let q = query_of(&loc);
        assert_eq!(
            q.get("state").map(String::as_str),
            Some(started.state.secret().as_str())
        );
        assert_eq!(q.get("iss").map(String::as_str), Some(app.issuer.as_str()));
        q.get("code")
            .unwrap_or_else(|| panic!("no code in {loc}"))
            .clone()
    }

    pub async fn exchange(
        &self,
        code: &str,
        verifier: PkceCodeVerifier,
    ) -> Result<CoreTokenResponse, String> {
        self.client
            .exchange_code(AuthorizationCode::new(code.into()))
            .expect("token endpoint")
            .set_pkce_verifier(verifier)
            .request_async(&http_client())
            .await
            .map_err(|e| format!("{e:?}"))
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<CoreTokenResponse, String> {
        let rt = RefreshToken::new(refresh_token.into());
        self.client
            .exchange_refresh_token(&rt)
            .expect("token endpoint")
            .request_async(&http_client())
            .await
            .map_err(|e| format!("{e:?}"))
    }

    /// Verify the ID token with the provider's published JWKS, the nonce, and at_hash.
    pub fn verify(&self, tokens: &CoreTokenResponse, nonce: Option<&Nonce>) -> CoreIdTokenClaims {
        let id_token = tokens.id_token().expect("an id_token");
        let verifier = self
            .client
            .id_token_verifier()
            .set_allowed_algs(vec![self.alg.clone()]);
        let claims = match nonce {
            Some(n) => id_token
                .claims(&verifier, n)
                .expect("ID token verifies")
                .clone(),
            None => id_token
                .claims(&verifier, |_: Option<&Nonce>| Ok(()))
                .expect("ID token verifies")
                .clone(),
        };
        let expected = claims.access_token_hash().expect("at_hash present");
        let actual = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().expect("alg"),
            id_token.signing_key(&verifier).expect("key"),
        )
        .expect("hash");
        assert_eq!(expected, &actual, "at_hash matches the access token");
        claims
    }
}
