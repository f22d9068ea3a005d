//! Every token response (RFC 6749 5.1): the RFC 9068 access token, the OIDC Core 2 ID token,
//! and the claims they carry, from one issuance context whatever the grant.
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};
use uuid::Uuid;

use super::TokenResponse;
use crate::model::{Client, Grant, SigningAlg, User};
use crate::oidc::claims::{ClaimsRequest, Target};
use crate::oidc::error::{OAuthError, ProviderResult};
use crate::oidc::scopes;
use crate::provider::Provider;
use crate::secret::{b64url, random_token};

/// Whether the `groups` claim can be released: by scope, or asked for in the `claims` parameter
/// by a client that may use the `groups` scope.
pub(super) fn wants_groups(
    scopes: &[String],
    claims: Option<&ClaimsRequest>,
    client: &Client,
) -> bool {
    scopes::has(scopes, "groups")
        || (claims.is_some_and(|c| c.asks_for("groups")) && client.allows_scope("groups"))
}

/// A user as tokens describe them: the record plus, when the `groups` scope was granted, their
/// group names.
pub(super) struct ClaimUser {
    pub user: User,
    pub groups: Vec<String>,
}

/// Which exchange a response answers; only the code exchange puts the authorization request's
/// nonce in the ID token (OIDC Core 12.2, errata 1025: a refresh is not an authentication
/// request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exchange {
    Code,
    Refresh,
    ClientCredentials,
}

/// What a token response is made of, whatever the grant.
pub(super) struct Issuance<'a> {
    pub client: &'a Client,
    /// The grant every token of the response belongs to.
    pub grant: &'a Grant,
    /// The user the tokens describe; none for client_credentials.
    pub user: Option<&'a ClaimUser>,
    /// The scopes of this response (a refresh may narrow the grant's).
    pub scopes: &'a [String],
    pub refresh_token: Option<String>,
    pub exchange: Exchange,
}

impl Provider {
    pub(super) async fn claim_user(
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

    /// The user a grant was made for, if it is still active (client_credentials grants have
    /// none).
    pub(super) async fn grant_user(
        &self,
        client: &Client,
        grant: &Grant,
    ) -> ProviderResult<Option<ClaimUser>> {
        match grant.user_id {
            Some(id) => Ok(Some(
                self.claim_user(client, id, &grant.scopes, grant.claims.as_ref())
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// RFC 6749 5.1: the access token (RFC 9068 `at+jwt`), and an ID token when the user's
    /// `openid` scope is in the response.
    pub(super) fn issue(
        &self,
        i: Issuance<'_>,
        now: DateTime<Utc>,
    ) -> ProviderResult<TokenResponse> {
        let sub = i
            .user
            .map(|u| self.subject(i.client, u.user.id))
            .unwrap_or_else(|| i.client.client_id.clone());
        let lifetime = self.config.access_token_lifetime;
        let mut at = self.base_claims(&sub, Value::from(self.config.issuer.clone()), lifetime, now);
        at.insert("client_id".into(), i.client.client_id.clone().into());
        at.insert("jti".into(), random_token().into());
        at.insert("scope".into(), scopes::join(i.scopes).into());
        // A client acting for itself has no grant row (issuing writes nothing): its token is
        // checked against the revocation list by `jti` instead.
        if i.exchange != Exchange::ClientCredentials {
            at.insert("gid".into(), i.grant.id.to_string().into());
        }
        if let Some(sid) = &i.grant.sid {
            at.insert("sid".into(), self.client_sid(i.client, sid).into());
        }
        if let Some(t) = i.grant.auth_time {
            at.insert("auth_time".into(), t.timestamp().into());
        }
        // RFC 9068 2.1: access tokens are typed at+jwt.
        let (access_token, alg) = self.keys.sign(i.client.id_token_alg, "at+jwt", at, now)?;
        let id_token = match i.user {
            Some(u) if scopes::has(i.scopes, "openid") => {
                Some(self.id_token(&i, u, &access_token, alg, now)?)
            }
            _ => None,
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime.num_seconds(),
            refresh_token: i.refresh_token,
            id_token,
            scope: scopes::join(i.scopes),
        })
    }

    /// OIDC Core 2 and 3.1.3.6.
    fn id_token(
        &self,
        i: &Issuance<'_>,
        user: &ClaimUser,
        access_token: &str,
        alg: SigningAlg,
        now: DateTime<Utc>,
    ) -> ProviderResult<String> {
        let (client, grant) = (i.client, i.grant);
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
        if let Some(n) = grant
            .nonce
            .as_ref()
            .filter(|_| i.exchange == Exchange::Code)
        {
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
        for (k, v) in scopes::user_claims(&user.user, &user.groups, i.scopes, requested, client) {
            c.entry(k).or_insert(v);
        }
        Ok(self.keys.sign(alg, "JWT", c, now)?.0)
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
}
