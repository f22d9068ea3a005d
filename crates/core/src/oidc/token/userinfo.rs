//! Access tokens read back: verification (signature, then grant status), and userinfo
//! (OIDC Core 5.3), as JSON or signed (5.3.2).
use std::sync::Arc;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::issue::wants_groups;
use crate::model::{Client, Grant};
use crate::oidc::claims::Target;
use crate::oidc::scopes;
use crate::provider::Provider;
use crate::secret::sha256;

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
    /// Verify an access token we issued and that it is still good: the signature check plus one
    /// indexed lookup (DESIGN §9) — its grant, active, or for a client's own token (no grant),
    /// its jti not on the revocation list. Returns the claims and the grant, if it has one.
    pub async fn check_access_token(
        &self,
        token: &str,
    ) -> Result<(Map<String, Value>, Option<Arc<Grant>>), BearerError> {
        let (claims, typ, _) = self.keys.verify(token).ok_or(BearerError::InvalidToken)?;
        let now = self.now().timestamp();
        let valid = typ.as_deref() == Some("at+jwt")
            && claims.get("iss").and_then(Value::as_str) == Some(self.config.issuer.as_str())
            && claims
                .get("exp")
                .and_then(Value::as_i64)
                .is_some_and(|e| e > now);
        if !valid {
            return Err(BearerError::InvalidToken);
        }
        let gid = claims
            .get("gid")
            .and_then(Value::as_str)
            .and_then(|g| Uuid::parse_str(g).ok());
        let unavailable = |_| BearerError::Unavailable;
        let Some(gid) = gid else {
            // A client's own token (no grant): its jti is not revoked.
            let jti = claims.get("jti").and_then(Value::as_str);
            let jti = jti.ok_or(BearerError::InvalidToken)?;
            let revoked = self.store.token_is_revoked(&sha256(jti.as_bytes())).await;
            return match revoked.map_err(unavailable)? {
                false => Ok((claims, None)),
                true => Err(BearerError::InvalidToken),
            };
        };
        match self.active_grant(gid).await.map_err(unavailable)? {
            Some(g) => Ok((claims, Some(g))),
            None => Err(BearerError::InvalidToken),
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
        let (claims, grant) = self.check_access_token(token).await?;
        let scope = claims.get("scope").and_then(Value::as_str).unwrap_or("");
        let scopes = scopes::parse(scope);
        // A client's own token (no grant, no user) is not for userinfo.
        let (true, Some(grant)) = (scopes::has(&scopes, "openid"), grant) else {
            return Err(BearerError::InsufficientScope);
        };
        let user_id = grant.user_id.ok_or(BearerError::InsufficientScope)?;
        let user = match self
            .token_user(user_id)
            .await
            .map_err(|_| BearerError::Unavailable)?
        {
            Some(u) if !u.disabled => u,
            _ => return Err(BearerError::InvalidToken),
        };
        let client = self
            .client(&grant.client_id)
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
}
