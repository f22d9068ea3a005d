//! Extractors that carry a browser endpoint's preconditions, so handlers start with what they
//! need: `SignedIn` (its rejection is the way to the sign-in page) and `CsrfForm` (a form whose
//! synchronizer token matched this session's, DESIGN §6).
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use lanyard_core::authn::Authenticated;
use lanyard_core::model::User;

use crate::error::WebError;
use crate::input::Input;
use crate::journey::see_other;
use crate::sessions::Browser;
use crate::state::AppState;

/// The signed-in user of this browser, still enabled, within the absolute session lifetime.
/// Without one the request is answered with a redirect to `/login`; a session whose user was
/// disabled or deleted meanwhile is ended first.
pub struct SignedIn {
    pub auth: Authenticated,
    pub user: User,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let browser = Browser::from_request_parts(parts, s)
            .await
            .map_err(IntoResponse::into_response)?;
        signed_in(s, &browser)
            .await
            .map_err(IntoResponse::into_response)?
            .ok_or_else(|| see_other("/login"))
    }
}

async fn signed_in(s: &AppState, browser: &Browser) -> Result<Option<SignedIn>, WebError> {
    let Some(auth) = browser
        .auth(s.provider.now(), s.config.absolute_lifetime)
        .await?
    else {
        return Ok(None);
    };
    match s.provider.active_user(auth.user_id).await? {
        Some(user) => Ok(Some(SignedIn { auth, user })),
        None => {
            browser.logout().await?;
            Ok(None)
        }
    }
}

/// A form (or query) whose `csrf_token` matches the session's token. Anything else is the
/// "this form has expired" page, before the handler runs.
pub struct CsrfForm(pub Input);

impl<S: Send + Sync> FromRequest<S> for CsrfForm {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        let (mut parts, body) = req.into_parts();
        let browser = Browser::from_request_parts(&mut parts, state).await?;
        let input = Input::from_request(Request::from_parts(parts, body), state).await?;
        browser.check_csrf(input.params.get("csrf_token")).await?;
        Ok(Self(input))
    }
}
