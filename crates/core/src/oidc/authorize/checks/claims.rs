//! The `claims` parameter (OIDC Core 5.5), kept within the client's scopes (see
//! `oidc::claims`).
use crate::model::Client;
use crate::oidc::authorize::request::{AuthorizeRequest, Checks};
use crate::oidc::claims::ClaimsRequest;
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;

pub(super) fn check(
    p: &Params,
    c: &Client,
    _: &Checks,
    req: &mut AuthorizeRequest,
) -> Result<(), OAuthError> {
    req.claims = match p.get("claims") {
        None => None,
        Some(raw) => ClaimsRequest::parse(raw, c).map_err(OAuthError::invalid_request)?,
    };
    Ok(())
}
