//! What the user must do before a code can be issued, given the request and the session.
//! OIDC Core 3.1.2.3 (re-authentication: prompt=login, max_age, id_token_hint) and 3.1.2.4
//! (consent); prompt=none answers with an error instead of showing a page (3.1.2.6).
use chrono::{DateTime, Duration, Utc};

use crate::authn::Authenticated;
use crate::model::{Client, Consent};
use crate::oidc::authorize::request::AuthorizeRequest;
use crate::oidc::error::ErrorKind;
use crate::oidc::scopes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Login,
    /// The session is password-only but a second factor is required (policy or acr_values).
    StepUp,
    Consent,
    Issue,
    /// prompt=none and interaction would be needed.
    Error(ErrorKind),
}

/// What the flow and the session already establish, besides the request itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowState {
    /// The user authenticated during this very flow (satisfies prompt=login and max_age).
    pub fresh_login: bool,
    /// The user approved on the consent page during this flow.
    pub consented: bool,
    /// Policy or `acr_values` require the MFA level for this user and client.
    pub mfa_required: bool,
}

pub fn decide(
    req: &AuthorizeRequest,
    client: &Client,
    auth: Option<&Authenticated>,
    flow: FlowState,
    consent: Option<&Consent>,
    now: DateTime<Utc>,
) -> Decision {
    let FlowState {
        fresh_login,
        consented,
        mfa_required,
    } = flow;
    let interact = |d: Decision, err: ErrorKind| {
        if req.prompt.none {
            Decision::Error(err)
        } else {
            d
        }
    };
    let Some(auth) = auth else {
        return interact(Decision::Login, ErrorKind::LoginRequired);
    };
    if !fresh_login {
        // Checked: a max_age too large to add is simply not exceeded.
        let too_old = req.max_age.is_some_and(|m| {
            m == 0
                || Duration::try_seconds(m)
                    .and_then(|d| auth.auth_time.checked_add_signed(d))
                    .is_some_and(|limit| limit < now)
        });
        let wrong_user = req
            .hint_sub
            .as_deref()
            .is_some_and(|s| s != auth.user_id.to_string());
        if req.prompt.login || req.prompt.select_account || too_old || wrong_user {
            return interact(Decision::Login, ErrorKind::LoginRequired);
        }
    }
    // Step-up (DESIGN §3): a password-only session must add the second factor first.
    if mfa_required && !auth.is_mfa() {
        return interact(Decision::StepUp, ErrorKind::LoginRequired);
    }
    if !client.trusted && !consented {
        let covered =
            consent.is_some_and(|c| needed_scopes(req).iter().all(|s| scopes::has(&c.scopes, s)));
        if req.prompt.consent || !covered {
            return interact(Decision::Consent, ErrorKind::ConsentRequired);
        }
    }
    Decision::Issue
}

/// The scopes consent must cover: those requested, plus those implied by a `claims` request.
pub fn needed_scopes(req: &AuthorizeRequest) -> Vec<String> {
    let mut out = req.scopes.clone();
    for s in req.claims.iter().flat_map(|c| c.scopes()) {
        if !scopes::has(&out, s) {
            out.push(s.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::authorize::request::{Prompt, RedirectTarget, ResponseMode};
    use uuid::Uuid;

    fn d(
        req: &AuthorizeRequest,
        client: &Client,
        auth: Option<&Authenticated>,
        fresh_login: bool,
        consented: bool,
        consent: Option<&Consent>,
        now: DateTime<Utc>,
    ) -> Decision {
        let flow = FlowState {
            fresh_login,
            consented,
            mfa_required: false,
        };
        decide(req, client, auth, flow, consent, now)
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    fn req() -> AuthorizeRequest {
        AuthorizeRequest {
            client_id: "app".into(),
            target: RedirectTarget {
                redirect_uri: "https://a/cb".into(),
                response_mode: ResponseMode::Query,
                state: None,
                unvetted: false,
            },
            scopes: vec!["openid".into(), "email".into()],
            nonce: None,
            code_challenge: None,
            prompt: Prompt::default(),
            max_age: None,
            login_hint: None,
            hint_sub: None,
            acr_values: vec![],
            claims: None,
        }
    }

    fn auth(age_secs: i64) -> Authenticated {
        Authenticated {
            user_id: Uuid::nil(),
            sid: "sid".into(),
            auth_time: now() - Duration::seconds(age_secs),
            login_at: now() - Duration::seconds(age_secs),
            epoch: 0,
            amr: vec!["pwd".into()],
            acr: crate::authn::ACR_PWD.into(),
            upstream: None,
        }
    }

    fn client(trusted: bool) -> Client {
        let mut c = crate::oidc::authorize::request::tests_support::client();
        c.trusted = trusted;
        c
    }

    fn consent(scopes: &[&str]) -> Consent {
        Consent {
            user_id: Uuid::nil(),
            client_id: "app".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            granted_at: now(),
        }
    }

    #[test]
    fn no_session_means_login_or_login_required() {
        assert_eq!(
            d(&req(), &client(true), None, false, false, None, now()),
            Decision::Login
        );
        let mut r = req();
        r.prompt.none = true;
        assert_eq!(
            d(&r, &client(true), None, false, false, None, now()),
            Decision::Error(ErrorKind::LoginRequired)
        );
    }

    #[test]
    fn max_age_forces_reauthentication_until_fresh() {
        let mut r = req();
        r.max_age = Some(60);
        let a = auth(120);
        assert_eq!(
            d(&r, &client(true), Some(&a), false, false, None, now()),
            Decision::Login
        );
        assert_eq!(
            d(&r, &client(true), Some(&a), true, false, None, now()),
            Decision::Issue
        );
        assert_eq!(
            d(
                &r,
                &client(true),
                Some(&auth(30)),
                false,
                false,
                None,
                now()
            ),
            Decision::Issue
        );
    }

    #[test]
    fn prompt_login_and_wrong_hint_force_login() {
        let mut r = req();
        r.prompt.login = true;
        assert_eq!(
            d(&r, &client(true), Some(&auth(1)), false, false, None, now()),
            Decision::Login
        );
        let mut r = req();
        r.hint_sub = Some("someone-else".into());
        assert_eq!(
            d(&r, &client(true), Some(&auth(1)), false, false, None, now()),
            Decision::Login
        );
    }

    #[test]
    fn consent_is_asked_once_per_scope_set() {
        let a = auth(1);
        assert_eq!(
            d(&req(), &client(false), Some(&a), false, false, None, now()),
            Decision::Consent
        );
        let c = consent(&["openid", "email"]);
        assert_eq!(
            d(
                &req(),
                &client(false),
                Some(&a),
                false,
                false,
                Some(&c),
                now()
            ),
            Decision::Issue
        );
        let narrow = consent(&["openid"]);
        assert_eq!(
            d(
                &req(),
                &client(false),
                Some(&a),
                false,
                false,
                Some(&narrow),
                now()
            ),
            Decision::Consent
        );
        let mut r = req();
        r.prompt.consent = true;
        assert_eq!(
            d(&r, &client(false), Some(&a), false, false, Some(&c), now()),
            Decision::Consent
        );
        assert_eq!(
            d(&r, &client(false), Some(&a), false, true, Some(&c), now()),
            Decision::Issue
        );
        r.prompt = Prompt {
            none: true,
            ..Prompt::default()
        };
        assert_eq!(
            d(&r, &client(false), Some(&a), false, false, None, now()),
            Decision::Error(ErrorKind::ConsentRequired)
        );
        assert_eq!(
            d(&req(), &client(true), Some(&a), false, false, None, now()),
            Decision::Issue
        );
    }

    #[test]
    fn required_mfa_steps_up_a_password_only_session() {
        let flow = FlowState {
            mfa_required: true,
            ..FlowState::default()
        };
        let pwd = auth(1);
        assert_eq!(
            decide(&req(), &client(true), Some(&pwd), flow, None, now()),
            Decision::StepUp
        );
        let mut mfa = auth(1);
        mfa.acr = crate::authn::ACR_MFA.into();
        assert_eq!(
            decide(&req(), &client(true), Some(&mfa), flow, None, now()),
            Decision::Issue
        );
        let mut r = req();
        r.prompt.none = true;
        assert_eq!(
            decide(&r, &client(true), Some(&pwd), flow, None, now()),
            Decision::Error(ErrorKind::LoginRequired)
        );
    }
}
