//! `response_type` (RFC 6749 3.1.1, OIDC Core 3.1.2.1): required; only `code`.
use crate::model::Client;
use crate::oidc::authorize::request::{AuthorizeRequest, Checks};
use crate::oidc::error::{ErrorKind, OAuthError};
use crate::oidc::params::Params;

pub(super) fn check(
    p: &Params,
    _: &Client,
    _: &Checks,
    _: &mut AuthorizeRequest,
) -> Result<(), OAuthError> {
    match p.get("response_type") {
        None => Err(OAuthError::invalid_request("response_type is required")),
        Some("code") => Ok(()),
        Some(_) => Err(OAuthError::new(
            ErrorKind::UnsupportedResponseType,
            "only response_type=code is supported",
        )),
    }
}
