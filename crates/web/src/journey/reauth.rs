//! Re-authentication before a sensitive account change (DESIGN §3): the password, or a current
//! TOTP or backup code. Wrong answers count toward throttling like a wrong password at login.
use axum::response::Response;
use lanyard_core::authn::{LoginFailure, Proof};
use lanyard_core::model::User;
use lanyard_core::secret::Secret;

use super::see_other;
use crate::error::WebError;
use crate::input::Input;
use crate::state::AppState;

/// The proof a form carries: the password, or a current TOTP or backup code.
fn proof(input: &Input) -> Option<Proof> {
    let password = input.params.get("password").filter(|p| !p.is_empty());
    let code = input
        .params
        .get("code")
        .map(str::trim)
        .filter(|c| !c.is_empty());
    match (password, code) {
        (Some(p), _) => Some(Proof::Password(Secret::new(p.to_string()))),
        (None, Some(c)) => Some(Proof::Code(Secret::new(c.to_string()))),
        (None, None) => None,
    }
}

/// Check the proof for a form in the account page's `#section`. `Some` is the refusal: the
/// redirect back to that section, which explains it.
pub async fn reauthenticate(
    s: &AppState,
    user: &User,
    input: &Input,
    ip: Option<&str>,
    section: &str,
) -> Result<Option<Response>, WebError> {
    let back = |error: &str| Some(see_other(&format!("/account?error={error}#{section}")));
    let Some(proof) = proof(input) else {
        return Ok(back("reauth_missing"));
    };
    Ok(match s.provider.verify_proof(user, proof, ip).await? {
        Ok(()) => None,
        Err(LoginFailure::Throttled(_)) => back("mfa_throttled"),
        Err(_) => back("reauth"),
    })
}

/// The password or a current code typed on a page (adding a passkey). `Err` is the message for
/// the page, which does not say which of the two was wrong.
pub async fn proof_check(
    s: &AppState,
    user: &User,
    input: &Input,
    ip: Option<&str>,
) -> Result<Result<(), &'static str>, WebError> {
    let Some(proof) = proof(input) else {
        return Ok(Err(
            "Enter your password or a current code to confirm it's you.",
        ));
    };
    Ok(match s.provider.verify_proof(user, proof, ip).await? {
        Ok(()) => Ok(()),
        Err(LoginFailure::Throttled(_)) => {
            Err("Too many failed attempts. Wait a few minutes, then try again.")
        }
        Err(_) => Err("That password or code is not correct. Nothing was changed."),
    })
}

/// The password typed with an enrollment confirmation. `Err` is the message for the page.
pub async fn password_check(
    s: &AppState,
    user: &User,
    input: &Input,
    ip: Option<&str>,
) -> Result<Result<(), &'static str>, WebError> {
    let Some(password) = input.params.get("password").filter(|p| !p.is_empty()) else {
        return Ok(Err("Enter your password to confirm it's you."));
    };
    let proof = Proof::Password(Secret::new(password.to_string()));
    Ok(match s.provider.verify_proof(user, proof, ip).await? {
        Ok(()) => Ok(()),
        Err(LoginFailure::Throttled(_)) => {
            Err("Too many failed attempts. Wait a few minutes, then try again.")
        }
        Err(_) => Err("That password is not correct."),
    })
}
