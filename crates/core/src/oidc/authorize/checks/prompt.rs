//! `prompt` and `max_age` (OIDC Core 3.1.2.1).
use crate::model::Client;
use crate::oidc::authorize::request::{AuthorizeRequest, Checks, MAX_AGE_LIMIT, Prompt};
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;
use crate::oidc::scopes;

/// Space-delimited known values; `none` must not be combined with another value.
pub(super) fn check_prompt(
    p: &Params,
    _: &Client,
    _: &Checks,
    req: &mut AuthorizeRequest,
) -> Result<(), OAuthError> {
    let invalid = || {
        OAuthError::invalid_request(
            "prompt has an unknown value, or combines none with another value",
        )
    };
    let mut prompt = Prompt::default();
    let values = scopes::parse(p.get("prompt").unwrap_or(""));
    for v in &values {
        match v.as_str() {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => prompt.select_account = true,
            _ => return Err(invalid()),
        }
    }
    if prompt.none && values.len() > 1 {
        return Err(invalid());
    }
    req.prompt = prompt;
    Ok(())
}

/// A whole number of seconds, bounded (`MAX_AGE_LIMIT`) so no date arithmetic can overflow.
pub(super) fn check_max_age(
    p: &Params,
    _: &Client,
    _: &Checks,
    req: &mut AuthorizeRequest,
) -> Result<(), OAuthError> {
    req.max_age = match p.get("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if (0..=MAX_AGE_LIMIT).contains(&n) => Some(n),
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "max_age must be an integer from 0 to 2147483647",
            ));
        }
    };
    Ok(())
}
