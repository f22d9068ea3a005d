//! The port through which core reads what clients name by URL: a `jwks_uri` (RFC 7591 2), a
//! `request_uri` (RFC 9101 5.2) and a `sector_identifier_uri` (OIDC Core 8.1). Like the storage
//! ports, core says what it needs and the web crate provides it, with its protections against
//! server-side request forgery (https only, public addresses, pinned connection, no redirects,
//! small and quick).
use async_trait::async_trait;
use serde_json::Value;

#[async_trait]
pub trait Fetch: Send + Sync {
    /// The document at `url`, as text. `Err` says why not, in words safe to log.
    async fn text(&self, url: &str) -> Result<String, String>;
    /// A client's JWK Set, possibly from a short-lived cache.
    async fn jwks(&self, url: &str) -> Result<Value, String>;
    /// Drop the cached JWK Set of `url` (its client may have rotated keys). False when it was
    /// refetched too recently to try again.
    fn forget(&self, url: &str) -> bool;
}

/// For contexts that never fetch (tools and tests): every fetch fails.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFetch;

#[async_trait]
impl Fetch for NoFetch {
    async fn text(&self, _: &str) -> Result<String, String> {
        Err("fetching is not available here".into())
    }

    async fn jwks(&self, _: &str) -> Result<Value, String> {
        Err("fetching is not available here".into())
    }

    fn forget(&self, _: &str) -> bool {
        false
    }
}
