//! Parsing and validating an authorization request, in the order the specs require: first what
//! makes a redirect safe (client, redirect URI — OIDC Core 3.1.2.1, RFC 6749 4.1.2.1: errors
//! about them are shown to the user, never redirected), then everything else, reported to the
//! validated redirect URI.
use serde::{Deserialize, Serialize};

use super::checks::CHECKS;
use crate::model::Client;
use crate::oidc::claims::ClaimsRequest;
use crate::oidc::error::OAuthError;
use crate::oidc::params::Params;
use crate::oidc::scopes;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    Query,
    /// OAuth 2.0 Form Post Response Mode.
    FormPost,
}

/// Where and how to send the authorization response. Only ever built from a validated request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectTarget {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    /// The redirect URI is one anybody could have registered (dynamic registration). RFC 9700
    /// 4.11.2: an error is then not sent there unless the user has seen a page of ours first,
    /// or Lanyard would be an open redirector; see `confirm_before`.
    #[serde(default)]
    pub unvetted: bool,
}

impl RedirectTarget {
    /// Whether an error response must be shown on a page (naming the destination) before the
    /// browser goes there. `user_acted`: the user made the choice that ends in this error on a
    /// page of ours (declined consent), so they know where they are going.
    pub fn confirm_before(&self, user_acted: bool) -> bool {
        self.unvetted && !user_acted
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    pub select_account: bool,
}

/// A validated authorization request; kept server-side in the session while the user logs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    pub client_id: String,
    pub target: RedirectTarget,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    /// RFC 7636 S256 challenge.
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `sub` of a valid `id_token_hint`.
    pub hint_sub: Option<String>,
    pub acr_values: Vec<String>,
    /// OIDC Core 5.5 `claims` parameter, limited to the client's scopes.
    pub claims: Option<ClaimsRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The request cannot be trusted to redirect: show this message on an error page.
    Page(String),
    /// Send this error to the client's validated redirect URI.
    Redirect(RedirectTarget, OAuthError),
}

/// Step 1: the client and redirect URI. Anything wrong here is a page, never a redirect.
pub fn redirect_target(
    params: &Params,
    client: Option<&Client>,
) -> Result<RedirectTarget, AuthorizeError> {
    for key in ["client_id", "redirect_uri", "response_mode", "state"] {
        if params.is_duplicated(key) {
            return Err(AuthorizeError::Page(format!(
                "The request includes {key} more than once."
            )));
        }
    }
    let Some(client_id) = params.get("client_id") else {
        return Err(AuthorizeError::Page(
            "The request does not say which application is asking (client_id is missing).".into(),
        ));
    };
    let Some(client) = client.filter(|c| c.client_id == client_id) else {
        return Err(AuthorizeError::Page(
            "The application that sent you here is not registered with this provider.".into(),
        ));
    };
    // OIDC Core 3.1.2.1: redirect_uri is REQUIRED and must exactly match a registered value
    // (simple string comparison, OIDC Core 3.1.2.1 / RFC 6749 3.1.2.3).
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return Err(AuthorizeError::Page(
            "The request does not include a redirect_uri.".into(),
        ));
    };
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(AuthorizeError::Page(
            "The redirect URI in the request is not registered for this application, so you were not sent back to it.".into(),
        ));
    }
    let response_mode = match params.get("response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(_) => Err(()),
    };
    let target = RedirectTarget {
        redirect_uri: redirect_uri.to_string(),
        response_mode: response_mode.unwrap_or(ResponseMode::Query),
        state: params.get("state").map(str::to_string),
        unvetted: client.is_self_registered(),
    };
    if response_mode.is_err() {
        return Err(AuthorizeError::Redirect(
            target,
            OAuthError::invalid_request("unsupported response_mode"),
        ));
    }
    Ok(target)
}

/// OIDC Core 3.1.2.1 gives `max_age` no upper bound; Lanyard accepts what fits a signed 32-bit
/// integer (68 years, the largest value clients commonly send for "any age").
pub const MAX_AGE_LIMIT: i64 = i32::MAX as i64;

pub struct Checks {
    pub require_pkce_for_all: bool,
}

/// Step 2: everything else, with errors redirected to `target`: the named checks of
/// `authorize::checks`, in spec order.
pub fn parse(
    params: &Params,
    client: &Client,
    target: RedirectTarget,
    checks: &Checks,
) -> Result<AuthorizeRequest, AuthorizeError> {
    let mut req = AuthorizeRequest {
        client_id: client.client_id.clone(),
        target: target.clone(),
        scopes: Vec::new(),
        nonce: params.get("nonce").map(str::to_string),
        code_challenge: None,
        prompt: Prompt::default(),
        max_age: None,
        login_hint: params.get("login_hint").map(str::to_string),
        hint_sub: None,
        acr_values: params
            .get("acr_values")
            .map(scopes::parse)
            .unwrap_or_default(),
        claims: None,
    };
    for (_, check) in CHECKS {
        check(params, client, checks, &mut req)
            .map_err(|e| AuthorizeError::Redirect(target.clone(), e))?;
    }
    Ok(req)
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::model::AuthMethod;

    pub(crate) fn client() -> Client {
        Client {
            redirect_uris: vec!["https://app.example/cb".into()],
            auth_method: AuthMethod::None,
            scopes: vec!["openid".into(), "email".into()],
            ..Client::new("app", "App")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::client;
    use super::*;
    use crate::oidc::error::ErrorKind;

    fn params(extra: &[(&str, &str)]) -> Params {
        let mut v: Vec<(String, String)> = vec![
            ("client_id".into(), "app".into()),
            ("redirect_uri".into(), "https://app.example/cb".into()),
            ("response_type".into(), "code".into()),
            ("scope".into(), "openid email".into()),
            ("state".into(), "s1".into()),
            (
                "code_challenge".into(),
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            ),
            ("code_challenge_method".into(), "S256".into()),
        ];
        for (k, val) in extra {
            v.retain(|(kk, _)| kk != k);
            if !val.is_empty() {
                v.push((k.to_string(), val.to_string()));
            }
        }
        Params::from_pairs(v)
    }

    fn run(p: &Params) -> Result<AuthorizeRequest, AuthorizeError> {
        let c = client();
        let t = redirect_target(p, Some(&c))?;
        parse(
            p,
            &c,
            t,
            &Checks {
                require_pkce_for_all: false,
            },
        )
    }

    fn redirect_error(p: &Params) -> ErrorKind {
        match run(p) {
            Err(AuthorizeError::Redirect(t, e)) => {
                assert_eq!(t.state.as_deref(), Some("s1"));
                e.kind
            }
            other => panic!("expected redirect error, got {other:?}"),
        }
    }

    #[test]
    fn a_good_request_parses() {
        let r = run(&params(&[
            ("nonce", "n"),
            ("max_age", "30"),
            ("prompt", "login consent"),
        ]))
        .unwrap();
        assert_eq!(r.scopes, vec!["openid", "email"]);
        assert_eq!(r.max_age, Some(30));
        assert!(r.prompt.login && r.prompt.consent && !r.prompt.none);
    }

    #[test]
    fn bad_client_or_redirect_uri_never_redirects() {
        assert!(matches!(
            run(&params(&[("redirect_uri", "https://evil.example/cb")])),
            Err(AuthorizeError::Page(_))
        ));
        assert!(matches!(
            run(&params(&[("redirect_uri", "https://app.example/cb/")])),
            Err(AuthorizeError::Page(_))
        ));
        assert!(matches!(
            run(&params(&[("redirect_uri", "")])),
            Err(AuthorizeError::Page(_))
        ));
        assert!(matches!(
            run(&params(&[("client_id", "other")])),
            Err(AuthorizeError::Page(_))
        ));
        let dup = Params::from_pairs(vec![
            ("client_id".into(), "app".into()),
            ("redirect_uri".into(), "https://app.example/cb".into()),
            ("redirect_uri".into(), "https://evil.example/cb".into()),
        ]);
        assert!(matches!(run(&dup), Err(AuthorizeError::Page(_))));
    }

    #[test]
    fn protocol_errors_redirect_with_state() {
        assert_eq!(
            redirect_error(&params(&[("response_type", "token")])),
            ErrorKind::UnsupportedResponseType
        );
        assert_eq!(
            redirect_error(&params(&[("response_type", "")])),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            redirect_error(&params(&[("scope", "email")])),
            ErrorKind::InvalidScope
        );
        assert_eq!(
            redirect_error(&params(&[("scope", "openid admin")])),
            ErrorKind::InvalidScope
        );
        assert_eq!(
            redirect_error(&params(&[("scope", "openid phone")])),
            ErrorKind::InvalidScope
        );
        assert_eq!(
            redirect_error(&params(&[("prompt", "none login")])),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            redirect_error(&params(&[("max_age", "-1")])),
            ErrorKind::InvalidRequest
        );
        for huge in ["2147483648", "9223372036854775807", "99999999999999999999"] {
            assert_eq!(
                redirect_error(&params(&[("max_age", huge)])),
                ErrorKind::InvalidRequest,
                "{huge}"
            );
        }
        assert_eq!(
            run(&params(&[("max_age", "2147483647")])).unwrap().max_age,
            Some(2_147_483_647)
        );
        // Each parameter within its own limit, together too much to keep.
        let big = "x".repeat(3000);
        assert_eq!(
            redirect_error(&params(&[
                ("nonce", &big),
                ("login_hint", &big),
                ("acr_values", &big)
            ])),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            redirect_error(&params(&[("claims", "[1]")])),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            redirect_error(&params(&[("response_mode", "fragment")])),
            ErrorKind::InvalidRequest
        );
    }

    #[test]
    fn pkce_is_s256_only_and_required_for_public_clients() {
        assert_eq!(
            redirect_error(&params(&[
                ("code_challenge", ""),
                ("code_challenge_method", "")
            ])),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            redirect_error(&params(&[("code_challenge_method", "plain")])),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            redirect_error(&params(&[("code_challenge_method", "")])),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            redirect_error(&params(&[("code_challenge", "short")])),
            ErrorKind::InvalidRequest
        );
    }

    #[test]
    fn form_post_mode_is_kept() {
        let r = run(&params(&[("response_mode", "form_post")])).unwrap();
        assert_eq!(r.target.response_mode, ResponseMode::FormPost);
    }
}
