//! Step 2 of validating an authorization request: every rule about what the request asks for,
//! once the redirect URI is known to be safe. Each check reads the parameters and fills its part
//! of the request, or says what is wrong (sent to the client's redirect URI). They run from one
//! list, in the order the specs give them.
mod claims;
mod pkce;
mod prompt;
mod response_type;
mod scope;

use super::request::{AuthorizeRequest, Checks};
use crate::model::{Client, GrantType};
use crate::oidc::error::{ErrorKind, OAuthError};
use crate::oidc::params::Params;

pub(crate) use pkce::valid_pkce_value;

/// A named check: the parameters, the client, the operator's settings, and the request being
/// built.
pub(super) type Check =
    fn(&Params, &Client, &Checks, &mut AuthorizeRequest) -> Result<(), OAuthError>;

/// RFC 6749 3.1 / 4.1.1, RFC 7636 4.3, OIDC Core 3.1.2.1, in that order.
pub(super) const CHECKS: [(&str, Check); 9] = [
    ("well_formed", well_formed),
    ("response_type", response_type::check),
    ("grant_allowed", grant_allowed),
    ("scope", scope::check),
    ("pkce", pkce::check),
    ("prompt", prompt::check_prompt),
    ("max_age", prompt::check_max_age),
    ("claims", claims::check),
    ("size", size),
];

/// RFC 6749 3.1: no parameter twice, and none beyond the length Lanyard accepts.
fn well_formed(
    p: &Params,
    _: &Client,
    _: &Checks,
    _: &mut AuthorizeRequest,
) -> Result<(), OAuthError> {
    match p.first_malformed() {
        Some(msg) => Err(OAuthError::invalid_request(msg)),
        None => Ok(()),
    }
}

/// RFC 6749 4.1.2.1 `unauthorized_client`: the client may not use the code flow.
fn grant_allowed(
    _: &Params,
    c: &Client,
    _: &Checks,
    _: &mut AuthorizeRequest,
) -> Result<(), OAuthError> {
    if c.allows_grant(GrantType::AuthorizationCode) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorKind::UnauthorizedClient,
            "this client may not use the authorization code grant",
        ))
    }
}

/// The most a validated authorization request may weigh as stored (JSON), with every parameter
/// it carries (state, nonce, login_hint, claims, ...).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// A pending sign-in is kept server-side until the user finishes: what one may weigh is bounded
/// (each parameter alone may be up to `MAX_PARAM_LEN`). Runs last, on the request as built.
fn size(_: &Params, _: &Client, _: &Checks, req: &mut AuthorizeRequest) -> Result<(), OAuthError> {
    if serde_json::to_vec(req).map_or(true, |v| v.len() > MAX_REQUEST_BYTES) {
        return Err(OAuthError::invalid_request(
            "the authorization request is too large",
        ));
    }
    Ok(())
}
