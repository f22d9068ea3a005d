//! URL rules for the issuer and for registered redirect URIs.
//!
//! Redirect URIs are stored exactly as written, because `/authorize` and `/logout` compare them
//! by exact string (OIDC Core 3.1.2.1); `url::Url` is only used to check them.
use url::Url;

/// OIDC Discovery 3: the issuer is an https URL with no query or fragment. Plain http is allowed
/// only on a loopback host, for local development.
pub(crate) fn check_issuer(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("not an absolute URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        _ => return Err("must be https, or http on localhost, 127.0.0.1 or [::1]".to_string()),
    }
    if url.query().is_some() {
        return Err("must not contain a query".to_string());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment".to_string());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_string());
    }
    // Lanyard serves its endpoints at the root of its origin; serving under a path prefix is not
    // implemented yet, so refuse it rather than publish endpoints that do not answer.
    if url.path() != "/" && !url.path().is_empty() {
        return Err("must not have a path (serving under a path prefix is not supported yet); use a dedicated host name".to_string());
    }
    Ok(url)
}

/// An upstream provider's issuer: https (or http on loopback, for tests and local setups), no
/// query or fragment. Unlike our own issuer, a path is normal (Okta, Keycloak realms).
pub(crate) fn check_upstream_issuer(raw: &str) -> Result<(), String> {
    let url = Url::parse(raw).map_err(|e| format!("not an absolute URL ({e})"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        _ => return Err("must be https, or http on localhost, 127.0.0.1 or [::1]".to_string()),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not contain a query or fragment".to_string());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_string());
    }
    Ok(())
}

// Redirect URI rules are shared with dynamic client registration, so they live in core.
pub(crate) use lanyard_core::oidc::uris::{check_redirect_uri, is_loopback};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn issuer_rules() {
        for ok in [
            "https://id.example.com",
            "http://localhost:8080",
            "http://127.0.0.1",
            "http://[::1]:8080",
        ] {
            assert!(check_issuer(ok).is_ok(), "{ok}");
        }
        assert!(
            check_issuer("https://id.example.com/tenant").is_err(),
            "no path prefix yet"
        );
        assert!(
            check_issuer("http://id.example.com")
                .unwrap_err()
                .starts_with("must be https")
        );
        assert!(
            check_issuer("ftp://id.example.com")
                .unwrap_err()
                .starts_with("must be https")
        );
        assert!(
            check_issuer("https://id.example.com/?a=b")
                .unwrap_err()
                .contains("query")
        );
        assert!(
            check_issuer("https://id.example.com/#x")
                .unwrap_err()
                .contains("fragment")
        );
        assert!(
            check_issuer("https://u:p@id.example.com")
                .unwrap_err()
                .contains("user name")
        );
        assert!(
            check_issuer("id.example.com")
                .unwrap_err()
                .starts_with("not an absolute URL")
        );
    }

    #[test]
    fn redirect_rules() {
        assert!(check_redirect_uri("https://app.example/cb", false).is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:8081/callback", false).is_ok());
        assert!(check_redirect_uri("http://localhost/cb", false).is_ok());
        assert!(check_redirect_uri("http://[::1]:1234/cb", true).is_ok());
        assert!(check_redirect_uri("com.example.app:/cb", true).is_ok());

        assert_eq!(
            check_redirect_uri("http://app.example/cb", false).unwrap_err(),
            "must be https, or http on a loopback host"
        );
        assert!(
            check_redirect_uri("com.example.app:/cb", false)
                .unwrap_err()
                .contains("public native clients only")
        );
        assert!(
            check_redirect_uri("myapp:/cb", true)
                .unwrap_err()
                .contains("reverse domain")
        );
        assert!(
            check_redirect_uri("javascript:alert(1)", true)
                .unwrap_err()
                .contains("reverse domain")
        );
        assert_eq!(
            check_redirect_uri("https://app.example/cb#x", false).unwrap_err(),
            "must not contain a fragment"
        );
        assert_eq!(
            check_redirect_uri("https://app.example/cb#", false).unwrap_err(),
            "must not contain a fragment"
        );
        assert!(
            check_redirect_uri("/cb", false)
                .unwrap_err()
                .starts_with("not an absolute URL")
        );
        assert!(
            check_redirect_uri(" https://app.example/cb", false)
                .unwrap_err()
                .contains("spaces or control characters")
        );
    }
}
