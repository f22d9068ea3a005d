//! `scope` (RFC 6749 3.3, OIDC Core 3.1.2.1): `openid` is required, every scope must be one
//! Lanyard knows and one the client may use.
use crate::model::Client;
use crate::oidc::authorize::request::{AuthorizeRequest, Checks};
use crate::oidc::error::{ErrorKind, OAuthError};
use crate::oidc::params::Params;
use crate::oidc::scopes;

pub(super) fn check(
    p: &Params,
    c: &Client,
    _: &Checks,
    req: &mut AuthorizeRequest,
) -> Result<(), OAuthError> {
    let asked = scopes::parse(p.get("scope").unwrap_or(""));
    let invalid = |msg| Err(OAuthError::new(ErrorKind::InvalidScope, msg));
    if !scopes::has(&asked, "openid") {
        return invalid("the openid scope is required");
    }
    if asked
        .iter()
        .any(|s| !scopes::SUPPORTED.contains(&s.as_str()))
    {
        return invalid("the request includes an unknown scope");
    }
    if asked.iter().any(|s| !c.allows_scope(s)) {
        return invalid("the request includes a scope this client may not use");
    }
    req.scopes = asked;
    Ok(())
}
