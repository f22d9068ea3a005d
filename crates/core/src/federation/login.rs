//! What a verified upstream login authenticates (DESIGN §4): `amr` `fed` plus the upstream's
//! trusted values, and whether the local second factor is still to come.
use serde_json::{Map, Value};

use super::{AMR_FED, Upstream, UpstreamProfile};
use crate::authn::{ACR_MFA, ACR_PWD, Authenticated};
use crate::model::User;
use crate::oidc::error::ProviderResult;
use crate::provider::Provider;
use crate::secret::random_token;

/// OIDC Core 3.1.3.7 (4, 5, 10): the ID token checks the `openidconnect` crate leaves to us,
/// on its verified claims: `iat` present and not in the future beyond two minutes of clock
/// skew, and `azp`, when present, our client id at the upstream.
pub fn check_upstream_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), &'static str> {
    let now = now.timestamp();
    if claims
        .get("iat")
        .and_then(Value::as_i64)
        .is_none_or(|iat| iat > now.saturating_add(120))
    {
        return Err("the ID token's iat is missing or in the future");
    }
    if let Some(azp) = claims.get("azp")
        && azp.as_str() != Some(client_id)
    {
        return Err("the ID token was issued to another party (azp)");
    }
    Ok(())
}

impl Provider {
    /// After a verified upstream login of `user` (DESIGN §4): done, or the local second factor
    /// still to come. A user who has a second factor here completes it unless the upstream's
    /// amr/acr is one `trust_upstream_mfa` lists; so does one whom a policy requires to have
    /// one (enrolling if needed).
    pub async fn after_upstream(
        &self,
        user: &User,
        upstream: &Upstream,
        profile: &UpstreamProfile,
        client: Option<&crate::model::Client>,
        acr_values: &[String],
    ) -> ProviderResult<crate::authn::LoginStep> {
        let (auth, trusted_mfa) = self.upstream_authenticated(user, upstream, profile);
        let local_factor = !trusted_mfa
            && (self.totp_enabled(user.id).await?
                || self.mfa_required(user.id, client, acr_values).await?);
        if !local_factor {
            return Ok(crate::authn::LoginStep::Done(auth));
        }
        let mut next = self.step_up(&auth).await?;
        // The upstream login just happened: an enrollment then needs no password.
        next.fresh = true;
        Ok(crate::authn::LoginStep::Pending(next))
    }

    /// The authentication an upstream login gives, and whether it satisfies local MFA
    /// (`trust_upstream_mfa` lists the upstream amr or acr values that count).
    pub fn upstream_authenticated(
        &self,
        user: &User,
        upstream: &Upstream,
        profile: &UpstreamProfile,
    ) -> (Authenticated, bool) {
        let trusted: Vec<String> = profile
            .amr
            .iter()
            .filter(|m| upstream.trust_upstream_mfa.contains(m))
            .cloned()
            .collect();
        let acr_trusted = profile
            .acr
            .as_ref()
            .is_some_and(|a| upstream.trust_upstream_mfa.contains(a));
        let mfa = !trusted.is_empty() || acr_trusted;
        let mut amr = vec![AMR_FED.to_string()];
        for m in trusted {
            if !amr.contains(&m) {
                amr.push(m);
            }
        }
        if mfa && !amr.iter().any(|m| m == "mfa") {
            amr.push("mfa".into());
        }
        let now = self.now();
        let auth = Authenticated {
            user_id: user.id,
            sid: random_token(),
            // The upstream's auth_time (never in the future) so max_age means what it says; the
            // session's own lifetime counts from now (`login_at`).
            auth_time: profile
                .auth_time
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map_or(now, |t| t.min(now)),
            login_at: now,
            epoch: user.session_epoch,
            amr,
            acr: if mfa { ACR_MFA.into() } else { ACR_PWD.into() },
            upstream: Some(upstream.name.clone()),
        };
        (auth, mfa)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn upstream_id_tokens_need_a_past_iat_and_our_azp() {
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let ok = json!({ "iat": 1_700_000_000, "azp": "us" });
        assert_eq!(
            check_upstream_claims(ok.as_object().unwrap(), "us", now),
            Ok(())
        );
        for bad in [
            json!({}),
            json!({ "iat": 1_700_000_121 }),
            json!({ "iat": "yesterday" }),
            json!({ "iat": i64::MAX }),
            json!({ "iat": 1_700_000_000, "azp": "them" }),
            json!({ "iat": 1_700_000_000, "azp": 5 }),
        ] {
            assert!(
                check_upstream_claims(bad.as_object().unwrap(), "us", now).is_err(),
                "{bad}"
            );
        }
    }
}
