//! URI rules shared by the config file and dynamic client registration.
use url::{Host, Url};

/// Redirect and post-logout redirect URIs (RFC 6749 3.1.2, RFC 8252 7, RFC 9700 2.1): absolute,
/// no fragment; https, or http on a loopback host, or, for public native clients only, a private
/// scheme named after a reverse domain (`com.example.app:/cb`).
///
/// They are matched by exact string (OIDC Core 3.1.2.1), so they must also be written exactly as
/// a browser would send them back: no whitespace or control characters (a URL parser silently
/// drops tabs and newlines that would then reach a `Location` header) and in normal form (no
/// `..`, default ports, upper-case hosts or unencoded characters that make the registered
/// string and the address the browser visits differ).
pub fn check_redirect_uri(raw: &str, public_client: bool) -> Result<(), String> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".to_string());
    }
    let url = Url::parse(raw).map_err(|e| format!("not an absolute URL ({e})"))?;
    // The one harmless difference: "https://app.example" is visited as "https://app.example/".
    let normal = url.as_str();
    if normal != raw && normal.strip_suffix('/') != Some(raw) {
        return Err(format!("is not in normal form; write it as {normal:?}"));
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_unnormalised_forms_are_refused() {
        for bad in [
            "https://app.example/cb\n",
            "https://app.example/c\tb",
            "https://app.example/cb\r\nSet-Cookie: x=1",
            "https://app.example/ cb",
            "https://app.example/cb\u{0}",
            " https://app.example/cb",
            "https://APP.example/cb",
            "https://app.example:443/cb",
            "https://app.example/a/../cb",
            "https://app.example\\@evil.example/cb",
            "https://bücher.example/cb",
        ] {
            assert!(check_redirect_uri(bad, false).is_err(), "{bad:?}");
        }
        assert!(
            check_redirect_uri("https://APP.example/cb", false)
                .unwrap_err()
                .contains("https://app.example/cb")
        );
        for good in [
            "https://app.example/cb",
            "https://app.example",
            "https://app.example/cb?x=1&y=%2F",
            "http://127.0.0.1:8081/callback",
        ] {
            assert_eq!(check_redirect_uri(good, false), Ok(()), "{good:?}");
        }
        assert_eq!(
            check_redirect_uri("com.example.app:/oauth2redirect", true),
            Ok(())
        );
    }
}
