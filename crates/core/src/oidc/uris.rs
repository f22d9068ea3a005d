//! URI rules shared by the config file and dynamic client registration.
use url::{Host, Url};

/// Redirect and post-logout redirect URIs (RFC 6749 3.1.2, RFC 8252 7, RFC 9700 2.1): absolute,
/// no fragment; https, or http on a loopback host, or, for public native clients only, a private
/// scheme named after a reverse domain (`com.example.app:/cb`).
pub fn check_redirect_uri(raw: &str, public_client: bool) -> Result<(), String> {
    if raw.trim() != raw {
        return Err("must not start or end with whitespace".to_string());
    }
    let url = Url::parse(raw).map_err(|e| format!("not an absolute URL ({e})"))?;
    if url.fragment().is_some() {
        return Err("must not contain a fragment".to_string());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_string());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => Err("must be https, or http on a loopback host".to_string()),
        _ if !public_client => {
            Err("must be https, or http on a loopback host (custom schemes are for public native clients only)".to_string())
        }
        scheme if !scheme.contains('.') => {
            Err("a custom scheme must be a reverse domain name such as com.example.app (RFC 8252 7.1)".to_string())
        }
        _ => Ok(()),
    }
}

/// RFC 8252 7.3 loopback hosts, plus `localhost` for development convenience.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
