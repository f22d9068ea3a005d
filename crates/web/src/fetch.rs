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
}

/// Addresses that are not on the public internet.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
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
            v6.is_loopback()
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
        }
    }

    /// GET `url` and return the body as text, after the checks above.
    pub async fn get_text(&self, url: &str) -> Result<String, String> {
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
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .resolve(&lookup_host, first)
            .build()
            .map_err(|_| "HTTP client".to_string())?;
        let mut res = client.get(parsed).send().await.map_err(|e| {
            if e.is_timeout() {
                "timed out".to_string()
            } else {
                "request failed".to_string()
            }
        })?;
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

    /// Forget a cached key set (the client may have rotated its keys).
    pub fn forget(&self, url: &str) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(url);
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
    }
}
