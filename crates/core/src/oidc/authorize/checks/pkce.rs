//! PKCE (RFC 7636): S256 only (4.3 / 4.4.1: `plain`, the default method, is refused), and
//! required for public clients, for clients configured to need it, or for everyone.
use crate::model::Client;
use crate::oidc::authorize::request::{AuthorizeRequest, Checks};
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;

/// RFC 7636 4.1: 43-128 characters of [A-Z a-z 0-9 - . _ ~].
pub(crate) fn valid_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

pub(super) fn check(
    p: &Params,
    c: &Client,
    checks: &Checks,
    req: &mut AuthorizeRequest,
) -> Result<(), OAuthError> {
    let method = p.get("code_challenge_method");
    let challenge = match (p.get("code_challenge"), method) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method without code_challenge",
            ));
        }
        (Some(ch), Some("S256")) if valid_pkce_value(ch) => Some(ch.to_string()),
        (Some(_), Some("S256")) => {
            return Err(OAuthError::invalid_request("code_challenge is malformed"));
        }
        (Some(_), _) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256",
            ));
        }
    };
    if challenge.is_none() && (c.is_public() || c.require_pkce || checks.require_pkce_for_all) {
        return Err(OAuthError::invalid_request(
            "PKCE (code_challenge with S256) is required for this client",
        ));
    }
    req.code_challenge = challenge;
    Ok(())
}
