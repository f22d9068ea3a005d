//! The password step of a sign-in (DESIGN §3).
use serde_json::json;

use super::password::Verified;
use super::{ACR_PWD, Authenticated, LoginFailure};
use crate::model::User;
use crate::oidc::error::ProviderResult;
use crate::provider::Provider;
use crate::secret::{Secret, random_token};
use crate::types::normalize_username;

impl Provider {
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
        let user = match self.store.find_user_by_username(&username).await {
            Ok(u) => u,
            Err(e) => return self.attempt_abandoned(attempt, e.into()).await,
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let verdict = match self.accounts.passwords().verify(password, stored).await {
            Ok(v) => v,
            Err(e) => return self.attempt_abandoned(attempt, e.into()).await,
        };
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
}
