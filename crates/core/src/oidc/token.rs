//! The token endpoint (RFC 6749 3.2, OIDC Core 3.1.3) and the bearer-token endpoints that read
//! its output: userinfo (OIDC Core 5.3), introspection (RFC 7662) and revocation (RFC 7009).
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};
use uuid::Uuid;

use crate::model::{
    AuthCode, AuthMethod, Client, Grant, GrantType, Redeemed, RefreshToken, SigningAlg, User,
};
use crate::oidc::authorize::request::valid_pkce_value;
use crate::oidc::claims::{ClaimsRequest, Target};
use crate::oidc::error::{ErrorKind, OAuthError, ProviderResult};
use crate::oidc::params::Params;
use crate::oidc::scopes;
use crate::provider::Provider;
use crate::secret::{b64url, ct_eq, hash_token, random_token, sha256};

/// Whether the `groups` claim can be released: by scope, or asked for in the `claims` parameter
/// by a client that may use the `groups` scope.
fn wants_groups(scopes: &[String], claims: Option<&ClaimsRequest>, client: &Client) -> bool {
    scopes::has(scopes, "groups")
        || (claims.is_some_and(|c| c.asks_for("groups")) && client.allows_scope("groups"))
}

/// A user as tokens describe them: the record plus, when the `groups` scope was granted, their
/// group names.
pub(crate) struct ClaimUser {
    pub user: User,
    pub groups: Vec<String>,
}

/// RFC 6749 5.1 successful response.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

/// How the client presented itself (RFC 6749 2.3.1). The web layer fills this in; it has already
/// refused requests that used more than one method.
#[derive(Debug, Clone)]
pub enum ClientCredentials {
    Secret {
        client_id: String,
        secret: crate::secret::Secret<String>,
    },
    Public {
        client_id: String,
    },
    /// `private_key_jwt` (RFC 7523 2.2): verified by the web layer, which can fetch `jwks_uri`.
    Assertion {
        client_id: String,
        assertion: String,
    },
}

impl ClientCredentials {
    /// The client the credentials claim to be.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Secret { client_id, .. }
            | Self::Public { client_id }
            | Self::Assertion { client_id, .. } => client_id,
        }
    }
}

/// What `/userinfo` answers.
#[derive(Debug, Clone, PartialEq)]
pub enum UserinfoResponse {
    Json(Map<String, Value>),
    /// `application/jwt`.
    Jwt(String),
}

/// Errors from bearer-token endpoints (RFC 6750 3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BearerError {
    InvalidToken,
    InsufficientScope,
    Unavailable,
}

impl Provider {
    /// RFC 6749 2.3.1: secrets are compared as SHA-256 digests in constant time. A confidential
    /// client may use either secret method; a public client only `none`.
    pub async fn authenticate_client(&self, creds: &ClientCredentials) -> ProviderResult<Client> {
        let client_id = creds.client_id();
        // Secrets never authenticate a private_key_jwt client (OIDC Core 9: one method each).
        let Some(client) = self.store.get_client(client_id).await? else {
            return Err(OAuthError::invalid_client().into());
        };
        let ok = match (creds, &client.secret_hash) {
            (ClientCredentials::Secret { secret, .. }, Some(hash))
                if matches!(
                    client.auth_method,
                    AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
                ) =>
            {
                ct_eq(&sha256(secret.expose().as_bytes()), hash)
            }
            (ClientCredentials::Public { .. }, _) => client.is_public(),
            _ => false,
        };
        if ok {
            Ok(client)
        } else {
            Err(OAuthError::invalid_client().into())
        }
    }

    pub async fn token(&self, client: &Client, params: &Params) -> ProviderResult<TokenResponse> {
        if let Some(msg) = params.first_malformed() {
            return Err(OAuthError::invalid_request(msg).into());
        }
        match params.get("grant_type") {
            None => Err(OAuthError::invalid_request("grant_type is required").into()),
            Some("authorization_code") => self.grant_code(client, params).await,
            Some("refresh_token") => self.grant_refresh(client, params).await,
            Some("client_credentials") => self.grant_client_credentials(client, params).await,
            Some(_) => Err(OAuthError::new(
                ErrorKind::UnsupportedGrantType,
                "unsupported grant_type",
            )
            .into()),
        }
    }

    /// RFC 6749 4.1.3 + RFC 7636 4.6.
    async fn grant_code(&self, client: &Client, params: &Params) -> ProviderResult<TokenResponse> {
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(OAuthError::new(
                ErrorKind::UnauthorizedClient,
                "client may not use this grant",
            )
            .into());
        }
        let code = params
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let now = self.now();
        let code_hash = hash_token(code);
        let invalid = || OAuthError::invalid_grant("authorization code is invalid");
        // Who presents the code is checked before the code is consumed: someone who merely
        // intercepted it (without the client's credentials or the PKCE verifier) can neither
        // spend it nor, by "replaying" it, revoke the grant it created.
        let stored = self
            .store
            .find_code(&code_hash)
            .await?
            .ok_or_else(invalid)?;
        check_presenter(&stored, client, params)?;
        let c = match self.store.redeem_code(&code_hash, now).await? {
            Redeemed::Fresh(c) => c,
            Redeemed::NotFound => return Err(invalid().into()),
            Redeemed::AlreadyUsed(grant_id) => {
                // RFC 6749 4.1.2: a reused code revokes every token issued from it.
                self.store.revoke_grant(grant_id, now).await?;
                self.audit(
                    "code_reuse",
                    None,
                    Some(&client.client_id),
                    None,
                    json!({ "grant": grant_id }),
                )
                .await?;
                return Err(
                    OAuthError::invalid_grant("authorization code was already used").into(),
                );
            }
        };
        if c.expires_at <= now {
            return Err(OAuthError::invalid_grant("authorization code has expired").into());
        }
        let user = self
            .active_user(client, c.user_id, &c.scopes, c.claims.as_ref())
            .await?;
        let refresh = client.allows_grant(GrantType::RefreshToken)
            && (!client.is_public() || scopes::has(&c.scopes, "offline_access"));
        let grant = Grant {
            id: c.grant_id,
            client_id: client.client_id.clone(),
            user_id: Some(user.user.id),
            scopes: c.scopes.clone(),
            sid: Some(c.sid.clone()),
            auth_time: Some(c.auth_time),
            amr: c.amr.clone(),
            acr: c.acr.clone(),
            nonce: c.nonce.clone(),
            claims: c.claims.clone(),
            created_at: now,
            expires_at: now
                + if refresh {
                    self.config.refresh_token_lifetime
                } else {
                    self.config.access_token_lifetime
                },
            revoked_at: None,
        };
        let refresh_token = refresh.then(random_token);
        let rt_record = refresh_token.as_ref().map(|t| RefreshToken {
            token_hash: hash_token(t),
            grant_id: grant.id,
            created_at: now,
            expires_at: grant.expires_at,
            used_at: None,
            successor_enc: None,
        });
        self.store.create_grant(&grant, rt_record.as_ref()).await?;
        self.respond(
            client,
            &grant,
            Some(&user),
            &grant.scopes,
            refresh_token,
            true,
            now,
        )
    }

    /// RFC 6749 6, with rotation and reuse detection (RFC 9700 4.14.2).
    async fn grant_refresh(
        &self,
        client: &Client,
        params: &Params,
    ) -> ProviderResult<TokenResponse> {
        if !client.allows_grant(GrantType::RefreshToken) {
            return Err(OAuthError::new(
                ErrorKind::UnauthorizedClient,
                "client may not use this grant",
            )
            .into());
        }
        let token = params
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let now = self.now();
        let old_hash = hash_token(token);
        let invalid = || OAuthError::invalid_grant("refresh token is invalid or expired");
        let rt = self
            .store
            .find_refresh(&old_hash)
            .await?
            .ok_or_else(invalid)?;
        let grant = self
            .store
            .get_grant(rt.grant_id)
            .await?
            .ok_or_else(invalid)?;
        // RFC 6749 6: the token must have been issued to this client. Not consumed if it was not.
        if grant.client_id != client.client_id {
            return Err(invalid().into());
        }
        if rt.used_at.is_some() {
            return self
                .rotated_refresh(client, &grant, &rt, token, params, now)
                .await;
        }
        if !grant.is_active(now) || rt.expires_at <= now {
            return Err(invalid().into());
        }
        let scopes = refresh_scopes(&grant, params)?;
        let user = self.grant_user(client, &grant).await?;
        let new_token = random_token();
        let new = RefreshToken {
            token_hash: hash_token(&new_token),
            grant_id: grant.id,
            created_at: now,
            expires_at: grant.expires_at,
            used_at: None,
            successor_enc: None,
        };
        let successor_enc = (!self.config.refresh_reuse_grace.is_zero())
            .then(|| successor_cipher(token).encrypt(new_token.as_bytes(), grant.id.as_bytes()));
        match self
            .store
            .rotate_refresh(&old_hash, &new, successor_enc.as_deref(), now)
            .await?
        {
            Redeemed::Fresh(()) => {}
            Redeemed::AlreadyUsed(_) => {
                // A parallel refresh of the same token rotated it first.
                let rt = self
                    .store
                    .find_refresh(&old_hash)
                    .await?
                    .ok_or_else(invalid)?;
                return self
                    .rotated_refresh(client, &grant, &rt, token, params, now)
                    .await;
            }
            Redeemed::NotFound => return Err(invalid().into()),
        }
        self.respond(
            client,
            &grant,
            user.as_ref(),
            &scopes,
            Some(new_token),
            false,
            now,
        )
    }

    /// A refresh token that was already rotated out. Within `[tokens] refresh_reuse_grace` of
    /// its rotation (two parallel refreshes, or a retry after a lost response) it answers with
    /// the same successor it was rotated into, as long as that one is unused; otherwise it is
    /// reuse, and the grant is revoked (RFC 9700 4.14.2).
    async fn rotated_refresh(
        &self,
        client: &Client,
        grant: &Grant,
        rt: &RefreshToken,
        token: &str,
        params: &Params,
        now: DateTime<Utc>,
    ) -> ProviderResult<TokenResponse> {
        let in_grace = rt
            .used_at
            .and_then(|used| used.checked_add_signed(self.config.refresh_reuse_grace))
            .is_some_and(|end| end > now);
        let successor = rt
            .successor_enc
            .as_deref()
            .filter(|_| in_grace)
            .and_then(|sealed| {
                successor_cipher(token)
                    .decrypt(sealed, grant.id.as_bytes())
                    .ok()
            })
            .and_then(|plain| String::from_utf8(plain).ok());
        if let Some(successor) = successor
            && let Some(next) = self.store.find_refresh(&hash_token(&successor)).await?
            && next.used_at.is_none()
            && next.expires_at > now
            && grant.is_active(now)
        {
            let scopes = refresh_scopes(grant, params)?;
            let user = self.grant_user(client, grant).await?;
            return self.respond(
                client,
                grant,
                user.as_ref(),
                &scopes,
                Some(successor),
                false,
                now,
            );
        }
        Err(self.refresh_reuse(client, grant.id, now).await)
    }

    /// The user a grant was made for, if it is still active (client_credentials grants have
    /// none).
    async fn grant_user(
        &self,
        client: &Client,
        grant: &Grant,
    ) -> ProviderResult<Option<ClaimUser>> {
        match grant.user_id {
            Some(id) => Ok(Some(
                self.active_user(client, id, &grant.scopes, grant.claims.as_ref())
                    .await?,
            )),
            None => Ok(None),
        }
    }

    async fn refresh_reuse(
        &self,
        client: &Client,
        grant_id: Uuid,
        now: DateTime<Utc>,
    ) -> crate::oidc::error::ProviderError {
        if let Err(e) = self.store.revoke_grant(grant_id, now).await {
            return e.into();
        }
        if let Err(e) = self
            .audit(
                "refresh_token_reuse",
                None,
                Some(&client.client_id),
                None,
                json!({ "grant": grant_id }),
            )
            .await
        {
            return e;
        }
        OAuthError::invalid_grant("refresh token was already used; the grant has been revoked")
            .into()
    }

    /// RFC 6749 4.4: confidential clients acting on their own behalf.
    async fn grant_client_credentials(
        &self,
        client: &Client,
        params: &Params,
    ) -> ProviderResult<TokenResponse> {
        if client.is_public() || !client.allows_grant(GrantType::ClientCredentials) {
            return Err(OAuthError::new(
                ErrorKind::UnauthorizedClient,
                "client may not use this grant",
            )
            .into());
        }
        let asked = scopes::parse(params.get("scope").unwrap_or(""));
        if asked
            .iter()
            .any(|s| s == "openid" || s == "offline_access" || !client.allows_scope(s))
        {
            return Err(OAuthError::new(
                ErrorKind::InvalidScope,
                "scope is not allowed for this client",
            )
            .into());
        }
        let now = self.now();
        let grant = Grant {
            id: Uuid::new_v4(),
            client_id: client.client_id.clone(),
            user_id: None,
            scopes: asked.clone(),
            sid: None,
            auth_time: None,
            amr: vec![],
            acr: None,
            nonce: None,
            claims: None,
            created_at: now,
            expires_at: now + self.config.access_token_lifetime,
            revoked_at: None,
        };
        self.store.create_grant(&grant, None).await?;
        self.respond(client, &grant, None, &asked, None, false, now)
    }

    async fn active_user(
        &self,
        client: &Client,
        id: Uuid,
        scopes: &[String],
        claims: Option<&ClaimsRequest>,
    ) -> ProviderResult<ClaimUser> {
        match self.store.get_user(id).await? {
            Some(user) if !user.disabled => {
                let groups = if wants_groups(scopes, claims, client) {
                    self.store.user_groups(id).await?
                } else {
                    Vec::new()
                };
                Ok(ClaimUser { user, groups })
            }
            _ => Err(OAuthError::invalid_grant("the user is no longer active").into()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn respond(
        &self,
        client: &Client,
        grant: &Grant,
        user: Option<&ClaimUser>,
        scopes: &[String],
        refresh_token: Option<String>,
        with_nonce: bool,
        now: DateTime<Utc>,
    ) -> ProviderResult<TokenResponse> {
        let sub = user
            .map(|u| self.subject(client, u.user.id))
            .unwrap_or_else(|| client.client_id.clone());
        let lifetime = self.config.access_token_lifetime;
        let mut at = self.base_claims(&sub, Value::from(self.config.issuer.clone()), lifetime, now);
        at.insert("client_id".into(), client.client_id.clone().into());
        at.insert("jti".into(), random_token().into());
        at.insert("scope".into(), scopes::join(scopes).into());
        at.insert("gid".into(), grant.id.to_string().into());
        if let Some(sid) = &grant.sid {
            at.insert("sid".into(), self.client_sid(client, sid).into());
        }
        if let Some(t) = grant.auth_time {
            at.insert("auth_time".into(), t.timestamp().into());
        }
        let alg = client.id_token_alg;
        // RFC 9068 2.1: access tokens are typed at+jwt.
        let (access_token, used_alg) = self.keys.sign(alg, "at+jwt", at, now)?;
        let id_token = match user {
            Some(u) if scopes::has(scopes, "openid") => Some(self.id_token(
                client,
                grant,
                u,
                scopes,
                &access_token,
                used_alg,
                with_nonce,
                now,
            )?),
            _ => None,
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime.num_seconds(),
            refresh_token,
            id_token,
            scope: scopes::join(scopes),
        })
    }

    /// OIDC Core 2 and 3.1.3.6. On refresh (12.2, errata 1025) the nonce is left out: it binds a
    /// token to one authentication request, and a refresh is not one.
    #[allow(clippy::too_many_arguments)]
    fn id_token(
        &self,
        client: &Client,
        grant: &Grant,
        user: &ClaimUser,
        scopes: &[String],
        access_token: &str,
        alg: SigningAlg,
        with_nonce: bool,
        now: DateTime<Utc>,
    ) -> ProviderResult<String> {
        let mut c = self.base_claims(
            &self.subject(client, user.user.id),
            Value::from(client.client_id.clone()),
            self.config.id_token_lifetime,
            now,
        );
        c.insert("azp".into(), client.client_id.clone().into());
        if let Some(t) = grant.auth_time {
            c.insert("auth_time".into(), t.timestamp().into());
        }
        if let Some(n) = grant.nonce.as_ref().filter(|_| with_nonce) {
            c.insert("nonce".into(), n.clone().into());
        }
        if !grant.amr.is_empty() {
            c.insert("amr".into(), grant.amr.clone().into());
        }
        if let Some(acr) = &grant.acr {
            c.insert("acr".into(), acr.clone().into());
        }
        if let Some(sid) = &grant.sid {
            c.insert("sid".into(), self.client_sid(client, sid).into());
        }
        c.insert("at_hash".into(), at_hash(access_token, alg).into());
        let requested = grant.claims.iter().flat_map(|r| r.names(Target::IdToken));
        for (k, v) in scopes::user_claims(&user.user, &user.groups, scopes, requested, client) {
            c.entry(k).or_insert(v);
        }
        Ok(self.keys.sign(alg, "JWT", c, now)?.0)
    }

    /// Verify an access token we issued and that its grant is still active: the signature check
    /// plus one indexed lookup (DESIGN §9).
    pub async fn check_access_token(
        &self,
        token: &str,
    ) -> Result<(Map<String, Value>, Uuid), BearerError> {
        let (claims, typ, _) = self.keys.verify(token).ok_or(BearerError::InvalidToken)?;
        let now = self.now().timestamp();
        let valid = typ.as_deref() == Some("at+jwt")
            && claims.get("iss").and_then(Value::as_str) == Some(self.config.issuer.as_str())
            && claims
                .get("exp")
                .and_then(Value::as_i64)
                .is_some_and(|e| e > now);
        let gid = claims
            .get("gid")
            .and_then(Value::as_str)
            .and_then(|g| Uuid::parse_str(g).ok());
        let (true, Some(gid)) = (valid, gid) else {
            return Err(BearerError::InvalidToken);
        };
        match self.store.grant_is_active(gid, self.now()).await {
            Ok(true) => Ok((claims, gid)),
            Ok(false) => Err(BearerError::InvalidToken),
            Err(_) => Err(BearerError::Unavailable),
        }
    }

    /// OIDC Core 5.3: claims about the user for the scopes granted, as JSON, or (5.3.2) as a
    /// signed JWT for a client that registered `userinfo_signed_response_alg`.
    pub async fn userinfo_response(&self, token: &str) -> Result<UserinfoResponse, BearerError> {
        let (claims, client) = self.userinfo_claims(token).await?;
        match client.userinfo_signed_response_alg {
            None => Ok(UserinfoResponse::Json(claims)),
            Some(alg) => {
                let now = self.now();
                let mut c = claims;
                // OIDC Core 5.3.2: a signed response carries iss and aud.
                c.insert("iss".into(), self.config.issuer.clone().into());
                c.insert("aud".into(), client.client_id.into());
                c.insert("iat".into(), now.timestamp().into());
                let (jwt, _) = self
                    .keys
                    .sign(alg, "JWT", c, now)
                    .map_err(|_| BearerError::Unavailable)?;
                Ok(UserinfoResponse::Jwt(jwt))
            }
        }
    }

    async fn userinfo_claims(
        &self,
        token: &str,
    ) -> Result<(Map<String, Value>, Client), BearerError> {
        let (claims, gid) = self.check_access_token(token).await?;
        let scope = claims.get("scope").and_then(Value::as_str).unwrap_or("");
        let scopes = scopes::parse(scope);
        if !scopes::has(&scopes, "openid") {
            return Err(BearerError::InsufficientScope);
        }
        let grant = self
            .store
            .get_grant(gid)
            .await
            .map_err(|_| BearerError::Unavailable)?
            .ok_or(BearerError::InvalidToken)?;
        let user_id = grant.user_id.ok_or(BearerError::InsufficientScope)?;
        let user = match self
            .store
            .get_user(user_id)
            .await
            .map_err(|_| BearerError::Unavailable)?
        {
            Some(u) if !u.disabled => u,
            _ => return Err(BearerError::InvalidToken),
        };
        let client = self
            .store
            .get_client(&grant.client_id)
            .await
            .map_err(|_| BearerError::Unavailable)?
            .ok_or(BearerError::InvalidToken)?;
        let groups = if wants_groups(&scopes, grant.claims.as_ref(), &client) {
            self.store
                .user_groups(user.id)
                .await
                .map_err(|_| BearerError::Unavailable)?
        } else {
            Vec::new()
        };
        let requested = grant.claims.iter().flat_map(|r| r.names(Target::Userinfo));
        let mut out = Map::new();
        out.insert("sub".into(), self.subject(&client, user.id).into());
        out.extend(scopes::user_claims(
            &user, &groups, &scopes, requested, &client,
        ));
        Ok((out, client))
    }

    /// RFC 7662 2.2. Only confidential clients may introspect (2.1: prevent token scanning).
    pub async fn introspect(&self, client: &Client, params: &Params) -> ProviderResult<Value> {
        if client.is_public() {
            return Err(OAuthError::invalid_client().into());
        }
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        match self.check_access_token(token).await {
            Ok((claims, _)) => {
                let mut out = json!({ "active": true, "token_type": "Bearer" });
                for k in [
                    "scope",
                    "client_id",
                    "sub",
                    "exp",
                    "iat",
                    "iss",
                    "aud",
                    "jti",
                    "sid",
                ] {
                    if let Some(v) = claims.get(k) {
                        out[k] = v.clone();
                    }
                }
                return Ok(out);
            }
            Err(BearerError::Unavailable) => {
                return Err(crate::store::StoreError::Unavailable("introspection".into()).into());
            }
            Err(_) => {}
        }
        let now = self.now();
        if let Some(rt) = self.store.find_refresh(&hash_token(token)).await?
            && let Some(g) = self.store.get_grant(rt.grant_id).await?
            && rt.used_at.is_none()
            && rt.expires_at > now
            && g.is_active(now)
        {
            let mut out = json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": scopes::join(&g.scopes),
                "client_id": g.client_id,
                "exp": rt.expires_at.timestamp(),
                "iat": rt.created_at.timestamp(),
                "iss": self.config.issuer,
            });
            if let Some(u) = g.user_id {
                // The sub the token's own client sees (pairwise clients get theirs).
                let owner = self.store.get_client(&g.client_id).await?;
                out["sub"] = match &owner {
                    Some(c) => self.subject(c, u),
                    None => u.to_string(),
                }
                .into();
            }
            return Ok(out);
        }
        Ok(json!({ "active": false }))
    }

    /// RFC 7009 2.1. Revoking either token revokes the grant, and with it every token issued
    /// under it. Unknown tokens and tokens of other clients are answered with success and left
    /// alone (2.2: invalid tokens do not cause an error).
    pub async fn revoke(&self, client: &Client, params: &Params) -> ProviderResult<()> {
        let token = params
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        let now = self.now();
        let grant_id = if let Some(rt) = self.store.find_refresh(&hash_token(token)).await? {
            Some(rt.grant_id)
        } else {
            self.keys
                .verify(token)
                .filter(|(c, typ, _)| {
                    typ.as_deref() == Some("at+jwt")
                        && c.get("iss").and_then(Value::as_str) == Some(&self.config.issuer)
                })
                .and_then(|(c, _, _)| {
                    c.get("gid")
                        .and_then(Value::as_str)
                        .and_then(|g| Uuid::parse_str(g).ok())
                })
        };
        let Some(grant_id) = grant_id else {
            return Ok(());
        };
        let Some(grant) = self.store.get_grant(grant_id).await? else {
            return Ok(());
        };
        if grant.client_id != client.client_id {
            tracing::warn!(client_id = %client.client_id, "revocation of another client's token ignored");
            return Ok(());
        }
        if self.store.revoke_grant(grant_id, now).await? {
            self.audit(
                "token_revoked",
                grant.user_id,
                Some(&client.client_id),
                None,
                json!({ "grant": grant_id }),
            )
            .await?;
        }
        Ok(())
    }
}

/// RFC 6749 6: a refresh may ask for fewer scopes than were granted, never more.
fn refresh_scopes(grant: &Grant, params: &Params) -> Result<Vec<String>, OAuthError> {
    match params.get("scope") {
        None => Ok(grant.scopes.clone()),
        Some(raw) => {
            let asked = scopes::parse(raw);
            if asked.iter().any(|s| !scopes::has(&grant.scopes, s)) {
                return Err(OAuthError::new(
                    ErrorKind::InvalidScope,
                    "scope exceeds what was granted",
                ));
            }
            Ok(asked)
        }
    }
}

/// The key a rotated refresh token's successor is sealed under: derived from the rotated token
/// itself (a 256-bit random value), so only whoever holds that token can read its successor,
/// and the database alone (which keeps only SHA-256 of tokens) cannot.
fn successor_cipher(token: &str) -> crate::crypto::Cipher {
    let mut material = b"lanyard refresh successor\0".to_vec();
    material.extend_from_slice(token.as_bytes());
    let key = sha256(&material);
    // A 32-byte key is always accepted.
    #[allow(clippy::expect_used)]
    crate::crypto::Cipher::new("rt", &key, &[]).expect("32-byte key")
}

/// RFC 6749 4.1.3 and RFC 7636 4.6: the code was issued to this client, for this redirect URI,
/// and the PKCE verifier matches its challenge.
fn check_presenter(c: &AuthCode, client: &Client, params: &Params) -> Result<(), OAuthError> {
    if c.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "authorization code was issued to another client",
        ));
    }
    // RFC 6749 4.1.3: redirect_uri must be identical to the one in the authorization request.
    if params.get("redirect_uri") != Some(c.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    // RFC 7636 4.6, and RFC 9700 2.1.1: a verifier without a challenge is refused (downgrade).
    match (&c.code_challenge, params.get("code_verifier")) {
        (None, None) => Ok(()),
        (Some(challenge), Some(verifier)) if valid_pkce_value(verifier) => {
            if ct_eq(
                b64url(&Sha256::digest(verifier.as_bytes())).as_bytes(),
                challenge.as_bytes(),
            ) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ))
            }
        }
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant("code_verifier is malformed")),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent, but the authorization request had no code_challenge",
        )),
    }
}

/// OIDC Core 3.1.3.6: base64url of the left half of the hash of the access token, with the hash
/// of the JWS algorithm (SHA-512 for Ed25519, as OpenID's EdDSA guidance and common RPs do).
pub fn at_hash(access_token: &str, alg: SigningAlg) -> String {
    match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => {
            let h = Sha256::digest(access_token.as_bytes());
            b64url(&h[..16])
        }
        SigningAlg::EdDSA => {
            let h = Sha512::digest(access_token.as_bytes());
            b64url(&h[..32])
        }
    }
}

impl Provider {
    /// OIDC Back-Channel Logout 1.0 §2.4: a logout token for each client the session `sid`
    /// signed in to that registered a `backchannel_logout_uri`. Returns (uri, token) pairs.
    pub async fn logout_tokens(
        &self,
        user_id: Uuid,
        sid: &str,
    ) -> ProviderResult<Vec<(String, String)>> {
        let now = self.now();
        let mut out = Vec::new();
        for client_id in self.store.clients_for_sid(sid).await? {
            let Some(client) = self.store.get_client(&client_id).await? else {
                continue;
            };
            let Some(uri) = client.backchannel_logout_uri.clone() else {
                continue;
            };
            let mut c = self.base_claims(
                &self.subject(&client, user_id),
                Value::from(client.client_id.clone()),
                chrono::Duration::minutes(2),
                now,
            );
            c.insert("jti".into(), random_token().into());
            c.insert("sid".into(), self.client_sid(&client, sid).into());
            // §2.4: events names the back-channel logout event; a logout token has no nonce.
            c.insert(
                "events".into(),
                json!({ "http://schemas.openid.net/event/backchannel-logout": {} }),
            );
            // §2.4: typ logout+jwt keeps it from being mistaken for an ID token.
            let (jwt, _) = self.keys.sign(client.id_token_alg, "logout+jwt", c, now)?;
            out.push((uri, jwt));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_oidc_core_example() {
        // OIDC Core A.3 example: access_token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(
            at_hash(
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
                SigningAlg::RS256
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn pkce_s256_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            b64url(&Sha256::digest(verifier.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
