//! The account lifecycle that runs through mail: verify an address (and change it), forgot
//! password, invitations. Each link is single use, stored hashed, and short-lived
//! (`LinkPurpose::lifetime`).
use chrono::Duration;
use serde_json::json;
use uuid::Uuid;

use super::{EmailLink, LinkPurpose, new_link_token};
use crate::accounts::{Actor, NewUser};
use crate::model::User;
use crate::oidc::error::ProviderResult;
use crate::provider::Provider;
use crate::secret::{Secret, sha256};
use crate::types::{NewPassword, Username};

/// Reset links one account may be sent per hour; more requests are answered the same way but
/// send nothing (no mail bombing through the form).
const RESETS_PER_HOUR: u64 = 3;
/// Verification links per hour, per address.
const VERIFICATIONS_PER_HOUR: u64 = 5;

/// A self-registration waiting for its address to be confirmed.
#[derive(Debug)]
pub struct SignupRequest {
    pub username: Username,
    pub email: String,
    pub password: NewPassword,
}

/// The stored key of a token from a link.
pub fn link_hash(token: &str) -> Vec<u8> {
    sha256(token.as_bytes()).to_vec()
}

impl Provider {
    /// `[email]` is configured.
    pub fn mail_on(&self) -> bool {
        self.accounts.mail_on
    }

    /// A new link for `user_id`, replacing older ones of the same purpose; returns the path
    /// (with the token) the mail links to.
    async fn new_link(
        &self,
        purpose: LinkPurpose,
        user_id: Option<Uuid>,
        email: &str,
        data: Option<String>,
    ) -> ProviderResult<String> {
        let now = self.now();
        if let Some(id) = user_id {
            self.store.revoke_links(id, purpose, now).await?;
        }
        let (token, token_hash) = new_link_token();
        self.store
            .create_link(&EmailLink {
                token_hash,
                purpose,
                user_id,
                email: email.into(),
                data,
                created_at: now,
                expires_at: now + purpose.lifetime(),
            })
            .await?;
        Ok(format!("{}?token={}", purpose.path(), token.expose()))
    }

    /// Send `user` a link confirming `address` (their current one, or a new one they asked
    /// for: it replaces the current only once confirmed). False when nothing was sent (mail is
    /// off, or this address got too many links this hour).
    pub async fn send_verification(
        &self,
        user: &User,
        address: &str,
        ip: Option<&str>,
    ) -> ProviderResult<bool> {
        if !self.mail_on() {
            return Ok(false);
        }
        let since = self.now() - Duration::hours(1);
        let sent = self
            .store
            .count_links_to(address, LinkPurpose::Verify, since)
            .await?;
        if sent >= VERIFICATIONS_PER_HOUR {
            return Ok(false);
        }
        let path = self
            .new_link(LinkPurpose::Verify, Some(user.id), address, None)
            .await?;
        let change = user.email.as_deref() != Some(address);
        let data = json!({ "path": path, "username": user.username, "change": change });
        self.accounts
            .queue_mail("verify_email", address, data)
            .await?;
        self.audit(
            "email_verification_sent",
            Some(user.id),
            None,
            ip,
            json!({ "change": change }),
        )
        .await?;
        Ok(true)
    }

    /// The verification link a user followed: the address it was sent to becomes the account's,
    /// verified. After a change, the old verified address is told.
    pub async fn verify_email(
        &self,
        token: &str,
        ip: Option<&str>,
    ) -> ProviderResult<Option<User>> {
        let now = self.now();
        let Some(link) = self
            .store
            .redeem_link(&link_hash(token), LinkPurpose::Verify, now)
            .await?
        else {
            return Ok(None);
        };
        let Some(user) = self.link_user(&link).await? else {
            return Ok(None);
        };
        let old = user
            .email
            .clone()
            .filter(|e| user.email_verified && *e != link.email);
        self.store.confirm_email(user.id, &link.email, now).await?;
        self.accounts.forget_cached();
        let changed = user.email.as_deref() != Some(link.email.as_str());
        self.audit(
            "email_verified",
            Some(user.id),
            None,
            ip,
            json!({ "changed": changed }),
        )
        .await?;
        if let Some(old) = old {
            let data = json!({
                "notice": "email_changed",
                "username": user.username,
                "at": now.to_rfc3339(),
                "ip": ip,
                "detail": { "new_address": link.email },
            });
            self.accounts.queue_mail("notice", &old, data).await?;
        }
        Ok(self.store.get_user(user.id).await?)
    }

    async fn link_user(&self, link: &EmailLink) -> ProviderResult<Option<User>> {
        let Some(id) = link.user_id else {
            return Ok(None);
        };
        Ok(self.store.get_user(id).await?.filter(|u| !u.disabled))
    }

    /// "Forgot password?": `login` is a username or an address. The caller answers the same
    /// whatever happens here (and should not wait for it): a link goes to the account's
    /// verified address only, at most `RESETS_PER_HOUR` times an hour.
    pub async fn request_password_reset(
        &self,
        login: &str,
        ip: Option<&str>,
    ) -> ProviderResult<()> {
        if !self.mail_on() {
            return Ok(());
        }
        let login = login.trim();
        let user = match login.contains('@') {
            true => self.store.user_by_verified_email(login).await?,
            false => self.accounts.find(login).await?,
        };
        let Some(user) = user.filter(|u| !u.disabled) else {
            tracing::info!(target: "audit", kind = "password_reset_unknown", ip, "password reset asked for an unknown account");
            return Ok(());
        };
        let (Some(to), true) = (user.email.clone(), user.email_verified) else {
            self.audit(
                "password_reset_refused",
                Some(user.id),
                None,
                ip,
                json!({ "reason": "no_verified_address" }),
            )
            .await?;
            return Ok(());
        };
        let since = self.now() - Duration::hours(1);
        if self
            .store
            .count_links_to(&to, LinkPurpose::Reset, since)
            .await?
            >= RESETS_PER_HOUR
        {
            self.audit(
                "password_reset_refused",
                Some(user.id),
                None,
                ip,
                json!({ "reason": "throttled" }),
            )
            .await?;
            return Ok(());
        }
        let path = self
            .new_link(LinkPurpose::Reset, Some(user.id), &to, None)
            .await?;
        let data = json!({ "path": path, "username": user.username, "ip": ip });
        self.accounts
            .queue_mail("password_reset", &to, data)
            .await?;
        self.audit(
            "password_reset_requested",
            Some(user.id),
            None,
            ip,
            json!({}),
        )
        .await
    }

    /// The account a reset or invitation link would set the password of, if it is still good
    /// (to show the page).
    pub async fn password_link_user(
        &self,
        token: &str,
        purpose: LinkPurpose,
    ) -> ProviderResult<Option<User>> {
        let link = self
            .store
            .find_link(&link_hash(token), purpose, self.now())
            .await?;
        match link {
            Some(link) => self.link_user(&link).await,
            None => Ok(None),
        }
    }

    /// Set a password through a reset or invitation link. Every session ends and every grant
    /// is revoked; the user then signs in normally, so the second factor is still asked for. An
    /// invitation also verifies the address it reached. `None`: an unknown, used or expired
    /// link.
    pub async fn reset_password(
        &self,
        token: &str,
        purpose: LinkPurpose,
        password: NewPassword,
        ip: Option<&str>,
    ) -> ProviderResult<Option<User>> {
        let now = self.now();
        let Some(link) = self
            .store
            .redeem_link(&link_hash(token), purpose, now)
            .await?
        else {
            return Ok(None);
        };
        let Some(user) = self.link_user(&link).await? else {
            return Ok(None);
        };
        if purpose == LinkPurpose::Invite {
            self.store.confirm_email(user.id, &link.email, now).await?;
        }
        let ended = self.accounts.set_password_quietly(&user, password).await?;
        self.store
            .revoke_links(user.id, LinkPurpose::Reset, now)
            .await?;
        let kind = match purpose {
            LinkPurpose::Invite => "invitation_accepted",
            _ => "password_reset",
        };
        self.audit(
            kind,
            Some(user.id),
            None,
            ip,
            json!({ "sessions": ended.sessions, "grants": ended.grants }),
        )
        .await?;
        // Throttle counters of the account start afresh with its new password.
        self.clear_user_failures(&user.username).await?;
        Ok(Some(self.store.get_user(user.id).await?.unwrap_or(user)))
    }

    /// `lanyard user invite`: an account without a password and a link to set one, sent to
    /// `email` (when mail is on) and returned as a full URL for the administrator.
    pub async fn invite(
        &self,
        username: Username,
        email: &str,
        groups: Vec<String>,
    ) -> ProviderResult<(User, Secret<String>)> {
        let user = self
            .accounts
            .create(
                NewUser {
                    username,
                    password: None,
                    email: Some(email.into()),
                    email_verified: false,
                    name: None,
                    groups,
                },
                Actor::Admin,
            )
            .await?;
        let path = self
            .new_link(LinkPurpose::Invite, Some(user.id), email, None)
            .await?;
        let data = json!({ "path": path, "username": user.username });
        self.accounts.queue_mail("invite", email, data).await?;
        self.audit(
            "user_invited",
            Some(user.id),
            None,
            None,
            json!({ "by": "admin" }),
        )
        .await?;
        Ok((user, Secret::new(format!("{}{path}", self.config.issuer))))
    }
}
