//! `Provider`: the OpenID Provider's operations, independent of HTTP. The web layer extracts
//! input, calls one method here and maps the result to a response.
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::authn::mfa::MfaPolicy;
use crate::authn::password::{PasswordHasherPool, Verified};
use crate::authn::throttle::ThrottlePolicy;
use crate::authn::{ACR_PWD, Authenticated, LoginFailure};
use crate::clock::Clock;
use crate::crypto::Cipher;
use crate::model::{AuditEvent, AuthCode, Client, Consent, SigningAlg, User};
use crate::oidc::authorize::request::{self, Checks};
use crate::oidc::authorize::{
    AuthorizeError, AuthorizeRequest, Decision, FlowState, RedirectTarget, decide,
};
use crate::oidc::error::{OAuthError, ProviderResult};
use crate::oidc::keys::KeyManager;
use crate::oidc::params::Params;
use crate::oidc::{discovery, scopes};
use crate::secret::{Secret, hash_token, random_token};
use crate::store::Store;

/// Protocol settings the provider needs (the config crate fills this from the file).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Without trailing slash.
    pub issuer: String,
    pub code_lifetime: Duration,
    pub access_token_lifetime: Duration,
    pub id_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
    /// `[tokens] refresh_reuse_grace`: see `oidc::token`'s refresh grant.
    pub refresh_reuse_grace: Duration,
    /// How long a login may wait at its second step (`[sessions] login_flow_timeout`).
    pub login_step_timeout: Duration,
    pub algorithms: Vec<SigningAlg>,
    pub require_pkce_for_all: bool,
    pub mfa: MfaPolicy,
    pub throttle: ThrottlePolicy,
    /// `[[upstreams]]`: other OpenID providers users may sign in through.
    pub upstreams: Vec<crate::federation::Upstream>,
    /// Dynamic client registration is on (discovery lists `registration_endpoint`).
    pub registration_enabled: bool,
    /// Request objects with `alg` none are accepted.
    pub allow_unsigned_request_objects: bool,
    /// Secret salt for pairwise subject identifiers (OIDC Core 8.1); `None`: pairwise subjects
    /// are not offered.
    pub pairwise_salt: Option<Secret<String>>,
}

pub struct Provider {
    pub config: ProviderConfig,
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyManager>,
    pub clock: Arc<dyn Clock>,
    pub passwords: PasswordHasherPool,
    /// Encrypts TOTP secrets at rest (signing keys have their own copy in `keys`).
    pub(crate) cipher: Arc<Cipher>,
    discovery: Arc<[u8]>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

/// The parts of a verified `id_token_hint` that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    pub sub: String,
    pub client_id: String,
    pub sid: Option<String>,
}

impl Provider {
    pub fn new(
        config: ProviderConfig,
        store: Arc<dyn Store>,
        keys: Arc<KeyManager>,
        clock: Arc<dyn Clock>,
        passwords: PasswordHasherPool,
        cipher: Arc<Cipher>,
    ) -> Self {
        let discovery = discovery::document(
            &config.issuer,
            &config.algorithms,
            config.registration_enabled,
            config.allow_unsigned_request_objects,
            config.pairwise_salt.is_some(),
        )
        .to_string();
        Self {
            config,
            store,
            keys,
            clock,
            passwords,
            cipher,
            discovery: Arc::from(discovery.into_bytes()),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The `sid` a client sees: the session id, or for a pairwise client a value derived from
    /// it and the sector, so that two sectors cannot link a user through a shared session id.
    pub fn client_sid(&self, client: &Client, sid: &str) -> String {
        match &client.pairwise_sector {
            Some(sector) => {
                let mut data = Vec::new();
                data.extend_from_slice(sid.as_bytes());
                data.push(0);
                data.extend_from_slice(sector.as_bytes());
                crate::secret::b64url(&crate::secret::sha256(&data))
            }
            None => sid.to_string(),
        }
    }

    /// The `sub` a client sees for a user (OIDC Core 8): the user id, or for a pairwise client
    /// SHA-256(sector identifier, user id, salt) — stable per sector, unlinkable across sectors.
    pub fn subject(&self, client: &Client, user_id: Uuid) -> String {
        match (&client.pairwise_sector, &self.config.pairwise_salt) {
            (Some(sector), Some(salt)) => {
                let mut data = Vec::new();
                data.extend_from_slice(sector.as_bytes());
                data.push(0);
                data.extend_from_slice(user_id.to_string().as_bytes());
                data.push(0);
                data.extend_from_slice(salt.expose().as_bytes());
                crate::secret::b64url(&crate::secret::sha256(&data))
            }
            _ => user_id.to_string(),
        }
    }

    /// Encrypt a short-lived secret kept in the session (e.g. an upstream login's PKCE
    /// verifier), so session rows hold no usable secret.
    pub fn seal(&self, context: &str, data: &[u8]) -> Vec<u8> {
        self.cipher.encrypt(data, context.as_bytes())
    }

    pub fn unseal(&self, context: &str, data: &[u8]) -> Option<Vec<u8>> {
        self.cipher.decrypt(data, context.as_bytes()).ok()
    }

    pub fn discovery(&self) -> Arc<[u8]> {
        self.discovery.clone()
    }

    /// Record a security event: a database row plus a structured log line. Never pass secrets.
    pub async fn audit(
        &self,
        kind: &str,
        user_id: Option<Uuid>,
        client_id: Option<&str>,
        ip: Option<&str>,
        detail: Value,
    ) -> ProviderResult<()> {
        let event = AuditEvent {
            id: Uuid::now_v7(),
            at: self.now(),
            kind: kind.to_string(),
            user_id,
            client_id: client_id.map(str::to_string),
            ip: ip.map(str::to_string),
            detail,
        };
        tracing::info!(target: "audit", kind, user_id = ?event.user_id, client_id, ip, detail = %event.detail, "audit event");
        self.store.audit(&event).await?;
        Ok(())
    }

    // ---- authorization endpoint -------------------------------------------------------------

    /// Validate an authorization request (OIDC Core 3.1.2.2). The outer error is infrastructure;
    /// the inner one says whether to show a page or redirect.
    pub async fn validate_authorize(
        &self,
        params: &Params,
    ) -> ProviderResult<Result<(AuthorizeRequest, Client), AuthorizeError>> {
        let client = match params.get("client_id") {
            Some(id) => self.store.get_client(id).await?,
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

    // ---- login --------------------------------------------------------------------------------

    /// Check a username and password. Unknown users cost the same as known ones; a correct
    /// bcrypt or weaker argon2 hash is upgraded in place. A throttled username or address is
    /// refused before any hashing (DESIGN §3), with the same answer whether the user exists.
    pub async fn login_password(
        &self,
        username: &str,
        password: Secret<String>,
        ip: Option<&str>,
    ) -> ProviderResult<Result<User, LoginFailure>> {
        let username = normalize_username(username);
        let attempt = match self.begin_attempt(&username, ip).await? {
            Ok(a) => a,
            Err(until) => {
                self.attempt_refused(None, ip, "pwd").await?;
                return Ok(Err(LoginFailure::Throttled(until)));
            }
        };
        let user = self.store.find_user_by_username(&username).await?;
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let verdict = self
            .passwords
            .verify(password, stored)
            .await
            .map_err(crate::oidc::error::ProviderError::internal)?;
        match (user, verdict) {
            (Some(u), Verified::Yes | Verified::YesRehash(_)) if u.disabled => {
                // The password was right: not a guess to count.
                self.attempt_succeeded(attempt).await?;
                self.audit(
                    "login_failed",
                    Some(u.id),
                    None,
                    ip,
                    json!({ "method": "pwd", "reason": "disabled" }),
                )
                .await?;
                Ok(Err(LoginFailure::Disabled))
            }
            (Some(u), Verified::YesRehash(new_hash)) => {
                self.attempt_succeeded(attempt).await?;
                self.store
                    .set_password_hash(u.id, &new_hash, self.now())
                    .await?;
                tracing::info!(user_id = %u.id, "upgraded stored password hash");
                Ok(Ok(u))
            }
            (Some(u), Verified::Yes) => {
                self.attempt_succeeded(attempt).await?;
                Ok(Ok(u))
            }
            (u, _) => {
                let failure = LoginFailure::BadCredentials;
                self.attempt_failed(attempt, u.map(|u| u.id), ip, "pwd", failure.reason())
                    .await?;
                Ok(Err(failure))
            }
        }
    }

    /// Start an authenticated browser session for `user` after the password step. `user` is
    /// the record the password was checked against: its epoch binds the session to it.
    pub fn authenticated(&self, user: &User) -> Authenticated {
        let now = self.now();
        Authenticated {
            user_id: user.id,
            sid: random_token(),
            auth_time: now,
            login_at: now,
            epoch: user.session_epoch,
            amr: vec!["pwd".into()],
            acr: ACR_PWD.into(),
            upstream: None,
        }
    }

    // ---- tokens (see oidc/token.rs) -------------------------------------------------------------

    /// Verify an ID token we issued, for `id_token_hint` (OIDC Core 3.1.2.1; RP-Initiated Logout 2).
    /// Expired hints are accepted: they identify, they do not authenticate.
    pub fn verify_id_token_hint(&self, token: &str) -> Option<IdTokenHint> {
        let (claims, typ, _) = self.keys.verify(token)?;
        if typ.as_deref().is_some_and(|t| t != "JWT")
            || claims.get("iss")?.as_str()? != self.config.issuer
            || claims.get("exp").and_then(Value::as_i64).is_none()
        {
            return None;
        }
        let client_id = match claims.get("aud")? {
            Value::String(s) => s.clone(),
            Value::Array(a) => a.first()?.as_str()?.to_string(),
            _ => return None,
        };
        Some(IdTokenHint {
            sub: claims.get("sub")?.as_str()?.to_string(),
            client_id,
            sid: claims
                .get("sid")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    pub(crate) fn base_claims(
        &self,
        sub: &str,
        aud: Value,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("iss".into(), self.config.issuer.clone().into());
        m.insert("sub".into(), sub.into());
        m.insert("aud".into(), aud);
        m.insert("iat".into(), now.timestamp().into());
        m.insert("exp".into(), (now + lifetime).timestamp().into());
        m
    }
}

/// Usernames are compared case-insensitively: stored and looked up in lower case.
pub fn normalize_username(raw: &str) -> String {
    raw.trim().to_lowercase()
}
