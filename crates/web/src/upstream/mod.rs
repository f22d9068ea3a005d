//! The relying-party side of upstream federation (DESIGN §4), on the `openidconnect` crate:
//! the per-upstream discovery cache here, the login itself in `login.rs`, the callback's
//! checks in `callback.rs`.
//!
//! Discovery and the JWKS are fetched by us (bounded size, timeouts, exact issuer check) and
//! cached per upstream; a fetch failure leaves local logins untouched and only that upstream's
//! button shows an error. ID tokens are verified by `openidconnect` (signature against the
//! upstream JWKS, `iss`, `aud`, `azp`, `exp`, `nonce`); an unknown `kid` refreshes the JWKS once
//! (the upstream rotated its keys). All claims are then read from the verified token.
pub mod browser;
mod login;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lanyard_core::federation::Upstream;
use openidconnect::core::{
    CoreClient, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet, RedirectUrl, reqwest,
};
use serde_json::Value;
use tokio::sync::RwLock;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Discovery documents and JWKS are re-fetched after this long.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Upstream answers larger than this are refused (a provider's documents are a few KB).
const MAX_BODY: usize = 512 * 1024;
/// After a failed fetch, and between key refreshes for an unknown `kid`, wait this long before
/// asking the upstream again: an unreachable upstream or a token with a made-up `kid` must not
/// turn requests into a storm of outbound fetches.
const REFETCH_BACKOFF: Duration = Duration::from_secs(30);

/// ID token signatures Lanyard accepts from upstreams: asymmetric only. An HMAC would be keyed
/// with our client secret (which the upstream's other clients never know, but an allow-list
/// taken from discovery would let the upstream choose), and `none` is never acceptable.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// Claims that describe the authentication itself: only the signed ID token may state them.
const ID_TOKEN_ONLY: [&str; 9] = [
    "iss",
    "aud",
    "azp",
    "exp",
    "iat",
    "nonce",
    "amr",
    "acr",
    "auth_time",
];

#[derive(Debug, thiserror::Error)]
pub enum FedError {
    /// The upstream could not be reached or answered garbage.
    #[error("{0}")]
    Unavailable(String),
    /// The token exchange or the ID token failed validation.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Clone)]
struct Cached {
    metadata: CoreProviderMetadata,
    /// `end_session_endpoint` (RP-Initiated Logout 1.0), not modelled by openidconnect.
    end_session: Option<String>,
    fetched: Instant,
}

/// The per-upstream cache and HTTP client.
pub struct Upstreams {
    http: reqwest::Client,
    cache: RwLock<HashMap<String, Cached>>,
    /// When each upstream last failed to answer, for `REFETCH_BACKOFF`; the lock also lets
    /// only one fetch run at a time.
    failed: tokio::sync::Mutex<HashMap<String, Instant>>,
    /// When each upstream's keys were last refreshed for an unknown `kid`.
    kid_refresh: tokio::sync::Mutex<HashMap<String, Instant>>,
    /// Our issuer, for callback URLs.
    issuer: String,
}

/// What the browser's session keeps between the redirect to the upstream and the callback.
pub struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl Upstreams {
    /// Fails only if the TLS stack cannot be initialised (then Lanyard must not start with a
    /// client that lacks the timeouts and redirect policy).
    pub fn new(issuer: &str) -> Result<Self, String> {
        let http = reqwest::ClientBuilder::new()
            // OAuth 2.0 Security BCP: never follow redirects from token or metadata endpoints.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("HTTP client for upstream providers: {e}"))?;
        Ok(Self {
            http,
            cache: RwLock::new(HashMap::new()),
            failed: tokio::sync::Mutex::new(HashMap::new()),
            kid_refresh: tokio::sync::Mutex::new(HashMap::new()),
            issuer: issuer.trim_end_matches('/').to_string(),
        })
    }

    pub fn redirect_uri(&self, up: &Upstream) -> String {
        format!("{}/federation/{}/callback", self.issuer, up.name)
    }

    async fn get_json(&self, url: &str, bearer: Option<&str>) -> Result<Value, FedError> {
        let mut req = self.http.get(url).header("accept", "application/json");
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let mut res = req
            .send()
            .await
            .map_err(|e| FedError::Unavailable(format!("cannot reach {url}: {}", short(&e))))?;
        if !res.status().is_success() {
            return Err(FedError::Unavailable(format!(
                "{url} answered HTTP {}",
                res.status().as_u16()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| FedError::Unavailable(format!("reading {url}: {}", short(&e))))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY {
                return Err(FedError::Unavailable(format!("{url} answered too much")));
            }
        }
        serde_json::from_slice(&body)
            .map_err(|_| FedError::Unavailable(format!("{url} did not answer JSON")))
    }

    /// Fetch now, unless this upstream failed within `REFETCH_BACKOFF` (then: the cached copy,
    /// or the error an unreachable upstream deserves). One fetch at a time.
    async fn fetch_throttled(&self, up: &Upstream) -> Result<Cached, FedError> {
        let mut failed = self.failed.lock().await;
        if failed
            .get(&up.name)
            .is_some_and(|t| t.elapsed() < REFETCH_BACKOFF)
        {
            drop(failed);
            return self
                .cache
                .read()
                .await
                .get(&up.name)
                .cloned()
                .ok_or_else(|| {
                    FedError::Unavailable("the upstream was unreachable moments ago".into())
                });
        }
        let result = self.fetch(up).await;
        if result.is_err() {
            failed.insert(up.name.clone(), Instant::now());
        } else {
            failed.remove(&up.name);
        }
        result
    }

    /// Re-fetch the keys for an ID token with an unknown `kid`, at most once per
    /// `REFETCH_BACKOFF` per upstream (a token with a made-up `kid` must not cause a fetch).
    async fn refresh_for_unknown_kid(&self, up: &Upstream) -> Result<Cached, FedError> {
        let mut last = self.kid_refresh.lock().await;
        if last
            .get(&up.name)
            .is_some_and(|t| t.elapsed() < REFETCH_BACKOFF)
        {
            drop(last);
            return self.cached(up).await;
        }
        last.insert(up.name.clone(), Instant::now());
        drop(last);
        self.fetch_throttled(up).await
    }

    /// Fetch discovery and JWKS now (at start and by the periodic refresher).
    async fn fetch(&self, up: &Upstream) -> Result<Cached, FedError> {
        let base = up.issuer.trim_end_matches('/');
        let doc = self
            .get_json(&format!("{base}/.well-known/openid-configuration"), None)
            .await?;
        // OIDC Discovery 4.3: the issuer in the document must be exactly the configured one.
        if doc.get("issuer").and_then(Value::as_str) != Some(up.issuer.as_str()) {
            return Err(FedError::Invalid(format!(
                "the discovery document's issuer is not {:?}",
                up.issuer
            )));
        }
        // Every endpoint we will call or send the browser to must be https (or loopback http, as
        // the issuer itself may be).
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "end_session_endpoint",
        ] {
            if let Some(url) = doc.get(key).and_then(Value::as_str)
                && !safe_url(url)
            {
                return Err(FedError::Invalid(format!(
                    "the discovery document's {key} is not https"
                )));
            }
        }
        let end_session = doc
            .get("end_session_endpoint")
            .and_then(Value::as_str)
            .map(str::to_string);
        let metadata: CoreProviderMetadata = serde_json::from_value(doc)
            .map_err(|e| FedError::Unavailable(format!("unusable discovery document: {e}")))?;
        let jwks_url = metadata.jwks_uri().url().to_string();
        let jwks: CoreJsonWebKeySet = serde_json::from_value(self.get_json(&jwks_url, None).await?)
            .map_err(|e| FedError::Unavailable(format!("unusable JWKS: {e}")))?;
        let cached = Cached {
            metadata: metadata.set_jwks(jwks),
            end_session,
            fetched: Instant::now(),
        };
        self.cache
            .write()
            .await
            .insert(up.name.clone(), cached.clone());
        Ok(cached)
    }

    /// Cached metadata, re-fetched when stale; a stale copy is used if the upstream is down.
    async fn cached(&self, up: &Upstream) -> Result<Cached, FedError> {
        let hit = self.cache.read().await.get(&up.name).cloned();
        match hit {
            Some(c) if c.fetched.elapsed() < METADATA_TTL => Ok(c),
            Some(stale) => Ok(self.fetch_throttled(up).await.unwrap_or(stale)),
            None => self.fetch_throttled(up).await,
        }
    }

    /// Refresh every upstream's metadata; failures are logged, never fatal.
    pub async fn refresh(&self, ups: &[Upstream]) {
        for up in ups {
            if let Err(e) = self.fetch(up).await {
                tracing::warn!(upstream = %up.name, error = %e, "upstream discovery failed");
            }
        }
    }

    /// From the cache only: signing out must not wait on an upstream that is down.
    pub async fn end_session_endpoint(&self, up: &Upstream) -> Option<String> {
        self.cache.read().await.get(&up.name)?.end_session.clone()
    }

    fn client(&self, up: &Upstream, c: &Cached) -> Result<Client, FedError> {
        let redirect = RedirectUrl::new(self.redirect_uri(up))
            .map_err(|e| FedError::Invalid(format!("callback URL: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            c.metadata.clone(),
            ClientId::new(up.client_id.clone()),
            Some(ClientSecret::new(up.client_secret.expose().clone())),
        )
        .set_redirect_uri(redirect))
    }
}

fn safe_url(raw: &str) -> bool {
    match url::Url::parse(raw) {
        Ok(u) => {
            u.scheme() == "https"
                || (u.scheme() == "http"
                    && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")))
        }
        Err(_) => false,
    }
}

fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

fn token_error<E: std::fmt::Display>(e: &E) -> String {
    let s = e.to_string();
    s.chars().take(200).collect()
}
