//! The authorization endpoint's operations (OIDC Core 3.1.2): validate a request (request
//! objects included), decide what the user must do, remember consent, issue the code, and shape
//! error responses.
use serde_json::json;
use uuid::Uuid;

use super::request::{self, Checks};
use super::{AuthorizeError, AuthorizeRequest, Decision, FlowState, RedirectTarget, decide};
use crate::authn::Authenticated;
use crate::model::{AuthCode, Client, Consent};
use crate::oidc::error::{OAuthError, ProviderResult};
use crate::oidc::params::Params;
use crate::oidc::scopes;
use crate::provider::Provider;
use crate::secret::{hash_token, random_token};

impl Provider {
    /// Validate an authorization request (OIDC Core 3.1.2.2). The outer error is infrastructure;
    /// the inner one says whether to show a page or redirect.
    pub async fn validate_authorize(
        &self,
        params: &Params,
    ) -> ProviderResult<Result<(AuthorizeRequest, Client), AuthorizeError>> {
        let merged;
        let params = match self.resolve_request_object(params).await? {
            Ok(Some(m)) => {
                merged = m;
                &merged
            }
            Ok(None) => params,
            Err(e) => return Ok(Err(e)),
        };
        let client = match params.get("client_id") {
            Some(id) => self.client(id).await?,
            None => None,
        };
        let target = match request::redirect_target(params, client.as_ref()) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        let Some(client) = client else {
            return Ok(Err(AuthorizeError::Page("Unknown application.".into())));
        };
        let checks = Checks {
            require_pkce_for_all: self.config.require_pkce_for_all,
        };
        let mut req = match request::parse(params, &client, target.clone(), &checks) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(hint) = params.get("id_token_hint") {
            match self.verify_id_token_hint(hint) {
                Some(h) => req.hint_sub = Some(h.sub),
                None => {
                    let err = OAuthError::invalid_request(
                        "id_token_hint is not an ID token issued by this provider",
                    );
                    return Ok(Err(AuthorizeError::Redirect(target, err)));
                }
            }
        }
        Ok(Ok((req, client)))
    }

    pub async fn decide(
        &self,
        req: &AuthorizeRequest,
        client: &Client,
        auth: Option<&Authenticated>,
        fresh_login: bool,
        consented: bool,
    ) -> ProviderResult<Decision> {
        let mfa_required = match auth {
            Some(a) if !a.is_mfa() => {
                self.mfa_required(a.user_id, Some(client), &req.acr_values)
                    .await?
            }
            _ => false,
        };
        let flow = FlowState {
            fresh_login,
            consented,
            mfa_required,
        };
        // A pairwise client's id_token_hint carries its pairwise sub: compare in that space.
        let translated;
        let req = match (auth, &req.hint_sub) {
            (Some(a), Some(hint)) if client.pairwise_sector.is_some() => {
                let mut r = req.clone();
                if *hint == self.subject(client, a.user_id) {
                    r.hint_sub = Some(a.user_id.to_string());
                }
                translated = r;
                &translated
            }
            _ => req,
        };
        let consent = match auth {
            Some(a) if !client.trusted && !consented => {
                self.store.get_consent(a.user_id, &client.client_id).await?
            }
            _ => None,
        };
        // A session whose user was disabled or deleted since it began counts as no session.
        let auth = match auth {
            Some(a) => match self.store.get_user(a.user_id).await? {
                Some(u) if !u.disabled => Some(a),
                _ => None,
            },
            None => None,
        };
        Ok(decide(
            req,
            client,
            auth,
            flow,
            consent.as_ref(),
            self.now(),
        ))
    }

    pub async fn record_consent(
        &self,
        user_id: Uuid,
        req: &AuthorizeRequest,
    ) -> ProviderResult<()> {
        let mut scopes = crate::oidc::authorize::decide::needed_scopes(req);
        if let Some(old) = self.store.get_consent(user_id, &req.client_id).await? {
            for s in old.scopes {
                if !scopes::has(&scopes, &s) {
                    scopes.push(s);
                }
            }
        }
        let consent = Consent {
            user_id,
            client_id: req.client_id.clone(),
            scopes,
            granted_at: self.now(),
        };
        self.store.put_consent(&consent).await?;
        self.audit(
            "consent_granted",
            Some(user_id),
            Some(&req.client_id),
            None,
            json!({ "scopes": consent.scopes }),
        )
        .await
    }

    /// Issue an authorization code and return the response parameters (RFC 6749 4.1.2, RFC 9207).
    pub async fn issue_code(
        &self,
        req: &AuthorizeRequest,
        auth: &Authenticated,
    ) -> ProviderResult<Vec<(String, String)>> {
        let code = random_token();
        let now = self.now();
        let record = AuthCode {
            code_hash: hash_token(&code),
            grant_id: Uuid::new_v4(),
            client_id: req.client_id.clone(),
            user_id: auth.user_id,
            redirect_uri: req.target.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            nonce: req.nonce.clone(),
            scopes: req.scopes.clone(),
            claims: req.claims.clone(),
            sid: auth.sid.clone(),
            auth_time: auth.auth_time,
            amr: auth.amr.clone(),
            acr: Some(auth.acr.clone()),
            created_at: now,
            expires_at: now + self.config.code_lifetime,
        };
        self.store.insert_code(&record).await?;
        let mut out = vec![("code".to_string(), code)];
        if let Some(s) = &req.target.state {
            out.push(("state".into(), s.clone()));
        }
        out.push(("iss".into(), self.config.issuer.clone()));
        Ok(out)
    }

    /// Error response parameters for a validated redirect target (RFC 6749 4.1.2.1, RFC 9207).
    pub fn error_params(&self, target: &RedirectTarget, err: &OAuthError) -> Vec<(String, String)> {
        let mut out = vec![
            ("error".to_string(), err.kind.as_str().to_string()),
            ("error_description".to_string(), err.description.to_string()),
        ];
        if let Some(s) = &target.state {
            out.push(("state".into(), s.clone()));
        }
        out.push(("iss".into(), self.config.issuer.clone()));
        out
    }
}
