//! Fetching documents at URLs that clients name (`jwks_uri`, `request_uri`): a server-side
//! request forgery surface. Only https (http on loopback when private addresses are allowed),
//! the host's addresses resolved once and checked against private, loopback, link-local and
//! other non-public ranges (unless `[oauth] fetch_private_addresses` allows them), the
//! connection pinned to the checked address (no DNS rebinding), no redirects, a 5 s timeout and
//! a 64 KB limit. Key sets are cached for five minutes.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openidconnect::reqwest;
use serde_json::Value;

const MAX_DOCUMENT: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);
const CACHE_TTL: Duration = Duration::from_secs(300);

pub struct Fetcher {
    allow_private: bool,
    cache: Mutex<HashMap<String, (Instant, Value)>>,
    /// When each URL's cache entry was last dropped on demand.
    forced: Mutex<HashMap<String, Instant>>,
}

const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

async fn read_limited(mut res: reqwest::Response) -> Result<String, String> {
    if !res.status().is_success() {
        return Err(format!("answered HTTP {}", res.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|_| "reading failed".to_string())?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT {
            return Err("the document is too large".into());
        }
    }
    String::from_utf8(body).map_err(|_| "the document is not UTF-8".into())
}

/// Addresses that are not on the public internet.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 protocol assignments
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
                || o[0] >= 240 // 240.0.0.0/4 reserved
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 shared address space
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed IPv4.
            if s[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified() {
                return true;
            }
            if (s[0] == 0x64 && s[1] == 0xff9b) || s[0] == 0x2002 {
                return true;
            }
            v6.is_loopback()
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        }
    }
}

impl Fetcher {
    pub fn new(allow_private: bool) -> Self {
        Self {
            allow_private,
            cache: Mutex::new(HashMap::new()),
            forced: Mutex::new(HashMap::new()),
        }
    }

    /// GET `url` and return the body as text, after the checks above.
    pub async fn get_text(&self, url: &str) -> Result<String, String> {
        let (client, parsed) = self.checked_client(url).await?;
        let res = client.get(parsed).send().await.map_err(|e| {
            if e.is_timeout() {
                "timed out".to_string()
            } else {
                "request failed".to_string()
            }
        })?;
        read_limited(res).await
    }

    /// POST a form to `url` after the same checks (back-channel logout deliveries). Returns the
    /// HTTP status.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<u16, String> {
        let (client, parsed) = self.checked_client(url).await?;
        let res = client
            .post(parsed)
            .form(form)
            .send()
            .await
            .map_err(|_| "request failed".to_string())?;
        Ok(res.status().as_u16())
    }

    /// A client for `url` pinned to an address that passed the checks.
    async fn checked_client(&self, url: &str) -> Result<(reqwest::Client, url::Url), String> {
        let parsed = url::Url::parse(url).map_err(|_| "not an absolute URL".to_string())?;
        let host = parsed.host_str().ok_or("no host")?.to_string();
        let loopback_http = parsed.scheme() == "http"
            && matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]");
        if parsed.scheme() != "https" && !(loopback_http && self.allow_private) {
            return Err("only https URLs are fetched".into());
        }
        let port = parsed.port_or_known_default().ok_or("no port")?;
        let lookup_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let addrs: Vec<SocketAddr> = tokio::time::timeout(
            TIMEOUT,
            tokio::net::lookup_host((lookup_host.as_str(), port)),
        )
        .await
        .map_err(|_| "name resolution timed out".to_string())?
        .map_err(|_| "the host name does not resolve".to_string())?
        .collect();
        let Some(first) = addrs.first().copied() else {
            return Err("the host name does not resolve".into());
        };
        if !self.allow_private && addrs.iter().any(|a| is_non_public(a.ip())) {
            return Err("refused: the host resolves to a private or local address".into());
        }
        let client = reqwest::ClientBuilder::new()
            .redirect(reqwest::redirect::Policy::none())
            // Proxy settings from the environment would bypass the address pinning.
            .no_proxy()
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .resolve(&lookup_host, first)
            .build()
            .map_err(|_| "HTTP client".to_string())?;
        Ok((client, parsed))
    }

    /// A client's JWK Set at `url`, cached.
    pub async fn jwks(&self, url: &str) -> Result<Value, String> {
        if let Some((at, v)) = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(url)
            .cloned()
            && at.elapsed() < CACHE_TTL
        {
            return Ok(v);
        }
        let v: Value = serde_json::from_str(&self.get_text(url).await?)
            .map_err(|_| "the key set is not JSON".to_string())?;
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() > 1000 {
            cache.clear();
        }
        cache.insert(url.to_string(), (Instant::now(), v.clone()));
        Ok(v)
    }

    /// Forget a cached key set (the client may have rotated its keys), at most once per
    /// `REFETCH_INTERVAL` per URL: a stream of bad assertions must not become a stream of
    /// outbound fetches. Returns whether it was forgotten (and a refetch is worth trying).
    pub fn forget(&self, url: &str) -> bool {
        let mut forced = self
            .forced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if forced
            .get(url)
            .is_some_and(|t| t.elapsed() < REFETCH_INTERVAL)
        {
            return false;
        }
        if forced.len() > 1000 {
            forced.clear();
        }
        forced.insert(url.to_string(), Instant::now());
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(url);
        true
    }
}

/// Core's port for documents clients name by URL (`jwks_uri`, `request_uri`,
/// `sector_identifier_uri`), with the protections above.
#[async_trait::async_trait]
impl lanyard_core::fetch::Fetch for Fetcher {
    async fn text(&self, url: &str) -> Result<String, String> {
        self.get_text(url).await
    }

    async fn jwks(&self, url: &str) -> Result<Value, String> {
        Fetcher::jwks(self, url).await
    }

    fn forget(&self, url: &str) -> bool {
        Fetcher::forget(self, url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_recognised() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!is_non_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn private_addresses_are_refused_unless_allowed() {
        let f = Fetcher::new(false);
        let e = f.get_text("https://127.0.0.1:1/jwks").await.unwrap_err();
        assert!(e.contains("private or local"), "{e}");
        let e = f.get_text("http://127.0.0.1:1/jwks").await.unwrap_err();
        assert!(e.contains("https"), "{e}");
        assert!(f.get_text("file:///etc/passwd").await.is_err());
        // Back-channel logout POSTs go through the same checks.
        let e = f
            .post_form("https://[::ffff:127.0.0.1]:1/bcl", &[("logout_token", "t")])
            .await
            .unwrap_err();
        assert!(e.contains("private or local"), "{e}");
    }
}
