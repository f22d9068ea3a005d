//! RP-Initiated Logout 1.0 (`end_session_endpoint`): the request's rules. With a valid
//! `id_token_hint` for the signed-in user, logout happens at once; without one the user confirms
//! (so a third-party page cannot sign them out). `post_logout_redirect_uri` is honoured only on an
//! exact match with the client's registered list (section 3), and `state` is echoed back.
use serde_json::json;

use super::hint::IdTokenHint;
use crate::authn::Authenticated;
use crate::model::Client;
use crate::oidc::error::ProviderResult;
use crate::oidc::params::{Params, with_query};
use crate::provider::Provider;

/// A logout request that passed the checks.
#[derive(Debug, Clone)]
pub struct EndSession {
    pub client: Option<Client>,
    pub hint: Option<IdTokenHint>,
    /// Where the browser goes afterwards: the registered `post_logout_redirect_uri`, with
    /// `state`.
    pub return_to: Option<String>,
    /// The destination belongs to a self-registered client: shown on the signed-out page rather
    /// than followed (RFC 9700 4.11.2).
    pub confirm_destination: bool,
}

impl Provider {
    /// Check a logout request (sections 2 and 3). `Err` is the message for the user's page.
    pub async fn end_session_request(
        &self,
        params: &Params,
    ) -> ProviderResult<Result<EndSession, String>> {
        if let Some(msg) = params.first_malformed() {
            return Ok(Err(msg));
        }
        let hint = match params.get("id_token_hint") {
            Some(h) => match self.verify_id_token_hint(h) {
                Some(hint) => Some(hint),
                None => {
                    return Ok(Err(
                        "The sign-out request carries an id_token_hint that this \
                                   provider did not issue."
                            .into(),
                    ));
                }
            },
            None => None,
        };
        let client_id = match (
            hint.as_ref().map(|h| h.client_id.as_str()),
            params.get("client_id"),
        ) {
            (Some(a), Some(b)) if a != b => {
                return Ok(Err("The client_id does not match the id_token_hint.".into()));
            }
            (Some(a), _) | (None, Some(a)) => Some(a.to_string()),
            (None, None) => None,
        };
        let client = match &client_id {
            Some(id) => self.client(id).await?,
            None => None,
        };
        let return_to = match return_to(params, client.as_ref()) {
            Ok(t) => t,
            Err(msg) => return Ok(Err(msg.into())),
        };
        Ok(Ok(EndSession {
            confirm_destination: client.as_ref().is_some_and(Client::is_self_registered),
            client,
            hint,
            return_to,
        }))
    }

    /// Whether signing `auth`'s user out needs their confirmation: unless the `id_token_hint`
    /// names them (in the client's own subject space, for pairwise clients).
    pub fn logout_needs_confirmation(&self, req: &EndSession, auth: &Authenticated) -> bool {
        let names_user = req.hint.as_ref().is_some_and(|h| {
            h.sub == auth.user_id.to_string()
                || req
                    .client
                    .as_ref()
                    .is_some_and(|c| h.sub == self.subject(c, auth.user_id))
        });
        !names_user
    }

    /// A browser session ended by logout: the back-channel logout tokens for every client it
    /// signed in to (OIDC Back-Channel Logout 2.4), and the audit entry. Returns the
    /// deliveries (uri, token) for the web layer to POST.
    pub async fn session_logged_out(
        &self,
        auth: &Authenticated,
        req: Option<&EndSession>,
    ) -> ProviderResult<Vec<(String, String)>> {
        let deliveries = self.logout_tokens(auth.user_id, &auth.sid).await?;
        let by_rp = req.is_some_and(|r| r.hint.is_some());
        let client_id = req
            .and_then(|r| r.client.as_ref())
            .map(|c| c.client_id.as_str());
        self.audit(
            "logout",
            Some(auth.user_id),
            client_id,
            None,
            json!({ "initiated_by": if by_rp { "rp" } else { "user" } }),
        )
        .await?;
        Ok(deliveries)
    }
}

/// Section 3: `post_logout_redirect_uri` must exactly match one the client registered, and a
/// client must be identified (by the hint or `client_id`) for it to be honoured.
fn return_to(params: &Params, client: Option<&Client>) -> Result<Option<String>, &'static str> {
    let Some(uri) = params.get("post_logout_redirect_uri") else {
        return Ok(None);
    };
    match client {
        Some(c) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => {
            let state: Vec<(String, String)> = params
                .get("state")
                .map(|st| vec![("state".to_string(), st.to_string())])
                .unwrap_or_default();
            Ok(Some(with_query(uri, &state)))
        }
        Some(_) => Err("The post_logout_redirect_uri is not registered for this application."),
        None => Err(
            "A post_logout_redirect_uri needs an id_token_hint or client_id to identify \
                     the application.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::authorize::request::tests_support::client;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let pairs = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Params::from_pairs(pairs.collect())
    }

    #[test]
    fn the_return_address_is_an_exact_registered_match_with_state() {
        let mut c = client();
        c.post_logout_redirect_uris = vec!["https://app.example/bye".into()];
        let p = params(&[
            ("post_logout_redirect_uri", "https://app.example/bye"),
            ("state", "s 1"),
        ]);
        assert_eq!(
            return_to(&p, Some(&c)),
            Ok(Some("https://app.example/bye?state=s+1".into()))
        );
        assert_eq!(return_to(&params(&[]), Some(&c)), Ok(None));
        for near_miss in ["https://app.example/bye/", "https://app.example/bye?x=1"] {
            let p = params(&[("post_logout_redirect_uri", near_miss)]);
            assert!(return_to(&p, Some(&c)).is_err(), "{near_miss}");
        }
        let p = params(&[("post_logout_redirect_uri", "https://app.example/bye")]);
        assert!(
            return_to(&p, None).is_err(),
            "no client named: not followed"
        );
    }
}
