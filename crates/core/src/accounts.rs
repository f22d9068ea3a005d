//! User lifecycle operations, shared by the account page (through `Provider`) and the CLI, so
//! each rule lives once: setting a password, disabling an account or resetting its second factor
//! ends every other session and revokes every grant; every change is audited.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::authn::password::PasswordHasherPool;
use crate::authn::throttle::user_subject;
use crate::clock::Clock;
use crate::crypto::Cipher;
use crate::model::{AuditEvent, User};
use crate::oidc::error::{ProviderError, ProviderResult};
use crate::store::Store;
use crate::types::{NewPassword, Username};

/// Who made a change, as the audit trail records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The user, signed in (the account page).
    User,
    /// An administrator (the CLI).
    Admin,
}

impl Actor {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }
}

/// What ending a user's sessions did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ended {
    /// The user's new session epoch (the kept session, if any, carries it).
    pub epoch: i64,
    pub sessions: u64,
    pub grants: u64,
}

impl Ended {
    /// The audit detail of the change that ended the sessions.
    fn detail(&self, actor: Actor) -> Value {
        json!({ "by": actor.as_str(), "sessions": self.sessions, "grants": self.grants })
    }
}

/// A new local account.
#[derive(Debug)]
pub struct NewUser {
    pub username: Username,
    pub password: Option<NewPassword>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

pub struct Accounts {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) cipher: Arc<Cipher>,
    passwords: PasswordHasherPool,
    pub(crate) clock: Arc<dyn Clock>,
    /// `[email]` is configured: mail is queued (see `crate::email`).
    pub(crate) mail_on: bool,
    /// Grants read recently by userinfo and introspection; forgotten here whenever this process
    /// revokes grants (see `crate::grants`).
    pub(crate) grants: crate::grants::GrantCache,
    /// Users read recently by userinfo, forgotten with the grants.
    pub(crate) users: crate::grants::UserCache,
}

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        cipher: Arc<Cipher>,
        passwords: PasswordHasherPool,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            cipher,
            passwords,
            clock,
            mail_on: false,
            grants: crate::grants::grant_cache(),
            users: crate::grants::user_cache(),
        }
    }

    /// Queue mail (security notices, links) through the outbox: `[email]` is configured.
    pub fn with_mail(mut self, on: bool) -> Self {
        self.mail_on = on;
        self
    }

    /// Forget the grants and users cached for bearer tokens, after this process changed any.
    pub(crate) fn forget_cached(&self) {
        self.grants.invalidate();
        self.users.invalidate();
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Read access for listings (the CLI's `user list`, `group members`, ...).
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn passwords(&self) -> &PasswordHasherPool {
        &self.passwords
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
        // Security notices follow the audit trail: every change worth telling the user about
        // is audited here, whoever made it (account page or CLI).
        self.notify(&event).await
    }

    pub async fn find(&self, username: &str) -> ProviderResult<Option<User>> {
        let name = crate::types::normalize_username(username);
        Ok(self.store.find_user_by_username(&name).await?)
    }

    /// Create a local user (`lanyard user add`). `Conflict` when the username is taken.
    pub async fn create(&self, new: NewUser, actor: Actor) -> ProviderResult<User> {
        let mut user = User::new(new.username.as_str(), self.now());
        user.email = new.email;
        user.email_verified = new.email_verified;
        user.name = new.name;
        if let Some(pw) = new.password {
            user.password_hash = Some(self.hash(pw).await?);
        }
        self.store.create_user(&user).await?;
        for g in &new.groups {
            self.store.add_to_group(user.id, g).await?;
        }
        let detail = json!({ "by": actor.as_str(), "groups": new.groups });
        self.audit("user_created", Some(user.id), None, None, detail)
            .await?;
        Ok(user)
    }

    async fn hash(&self, password: NewPassword) -> ProviderResult<String> {
        self.passwords
            .hash(password.into_secret())
            .await
            .map_err(ProviderError::from)
    }

    /// Set `user`'s password: every session but `keep` ends and every grant is revoked, so a
    /// stolen session or refresh token stops working (DESIGN §1). The caller has checked the
    /// current password (account page) or is an administrator.
    pub async fn set_password(
        &self,
        user: &User,
        new: NewPassword,
        keep: Option<&[u8]>,
        actor: Actor,
        ip: Option<&str>,
    ) -> ProviderResult<Ended> {
        let hash = self.hash(new).await?;
        self.store
            .set_password_hash(user.id, &hash, self.now())
            .await?;
        let ended = self
            .end_for(user.id, keep, "password_changed", actor)
            .await?;
        self.audit(
            "password_changed",
            Some(user.id),
            None,
            ip,
            ended.detail(actor),
        )
        .await?;
        Ok(ended)
    }

    /// Set the password through a mail link (reset, invitation): every session ends and every
    /// grant is revoked; the caller audits what happened.
    pub(crate) async fn set_password_quietly(
        &self,
        user: &User,
        new: NewPassword,
    ) -> ProviderResult<Ended> {
        let hash = self.hash(new).await?;
        self.store
            .set_password_hash(user.id, &hash, self.now())
            .await?;
        self.end_unaudited(user.id, None).await
    }

    /// End every session of the user except `keep`, and revoke every grant (so refresh tokens
    /// stop working). The kept session moves to the user's new epoch.
    pub async fn end_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&[u8]>,
        reason: &str,
    ) -> ProviderResult<Ended> {
        let out = self.end_unaudited(user_id, keep).await?;
        let detail = json!({ "reason": reason, "sessions": out.sessions, "grants": out.grants });
        self.audit("sessions_revoked", Some(user_id), None, None, detail)
            .await?;
        Ok(out)
    }

    /// End the user's sessions after a lifecycle change. The user's own change is followed by
    /// its `sessions_revoked` event, as every factor change is; an administrator's command is
    /// one audit event, which carries the counts (`Ended::detail`).
    async fn end_for(
        &self,
        user_id: Uuid,
        keep: Option<&[u8]>,
        reason: &str,
        actor: Actor,
    ) -> ProviderResult<Ended> {
        match actor {
            Actor::User => self.end_sessions(user_id, keep, reason).await,
            Actor::Admin => self.end_unaudited(user_id, keep).await,
        }
    }

    async fn end_unaudited(&self, user_id: Uuid, keep: Option<&[u8]>) -> ProviderResult<Ended> {
        let ended = self.store.end_user_sessions(user_id, keep).await?;
        let grants = self.store.revoke_user_grants(user_id, self.now()).await;
        self.forget_cached();
        let grants = grants?;
        Ok(Ended {
            epoch: ended.map_or(0, |e| e.epoch),
            sessions: ended.map_or(0, |e| e.ended),
            grants,
        })
    }

    /// Disable (ending everything) or enable an account.
    pub async fn set_disabled(
        &self,
        user: &User,
        disabled: bool,
        actor: Actor,
    ) -> ProviderResult<Ended> {
        self.store
            .set_disabled(user.id, disabled, self.now())
            .await?;
        self.forget_cached();
        let (kind, ended) = match disabled {
            true => (
                "user_disabled",
                self.end_for(user.id, None, "user_disabled", actor).await?,
            ),
            false => ("user_enabled", Ended::default()),
        };
        self.audit(kind, Some(user.id), None, None, ended.detail(actor))
            .await?;
        Ok(ended)
    }

    /// Remove the user's TOTP and backup codes (a lost phone), ending everything. `None` when
    /// the user had no second factor.
    pub async fn reset_mfa(&self, user: &User, actor: Actor) -> ProviderResult<Option<Ended>> {
        let totp = self.store.disable_totp(user.id).await?;
        let passkeys = self.store.delete_passkeys(user.id).await?;
        if !totp && passkeys == 0 {
            return Ok(None);
        }
        let ended = self.end_for(user.id, None, "mfa_reset", actor).await?;
        let mut detail = ended.detail(actor);
        detail["passkeys"] = json!(passkeys);
        self.audit("mfa_reset", Some(user.id), None, None, detail)
            .await?;
        Ok(Some(ended))
    }

    /// Add the user to a group (`[mfa] require_for_groups`, the `groups` claim). False when
    /// they were in it already.
    pub async fn add_to_group(
        &self,
        user: &User,
        group: &str,
        actor: Actor,
    ) -> ProviderResult<bool> {
        let added = self.store.add_to_group(user.id, group).await?;
        if added {
            let detail = json!({ "by": actor.as_str(), "group": group });
            self.audit("group_member_added", Some(user.id), None, None, detail)
                .await?;
        }
        Ok(added)
    }

    /// Take the user out of a group. False when they were not in it.
    pub async fn remove_from_group(
        &self,
        user: &User,
        group: &str,
        actor: Actor,
    ) -> ProviderResult<bool> {
        let removed = self.store.remove_from_group(user.id, group).await?;
        if removed {
            let detail = json!({ "by": actor.as_str(), "group": group });
            self.audit("group_member_removed", Some(user.id), None, None, detail)
                .await?;
        }
        Ok(removed)
    }

    /// The throttle subject of a username's failed sign-ins.
    pub fn failure_subject(&self, username: &str) -> String {
        user_subject(&self.cipher, &crate::types::normalize_username(username))
    }

    /// Forget the user's failed sign-in attempts (lift a lockout now). Returns how many.
    pub async fn unlock(&self, user: &User, actor: Actor) -> ProviderResult<u64> {
        let n = self
            .store
            .clear_failures(&self.failure_subject(&user.username))
            .await?;
        let detail = json!({ "by": actor.as_str(), "failures_cleared": n });
        self.audit("account_unlocked", Some(user.id), None, None, detail)
            .await?;
        Ok(n)
    }

    /// Delete the user and, by cascade, their sessions, grants, codes, consents and factors. The
    /// audit trail keeps the event (it has no foreign key on users).
    pub async fn delete(&self, user: &User, actor: Actor) -> ProviderResult<bool> {
        let detail = json!({ "by": actor.as_str(), "username": user.username });
        self.audit("user_deleted", Some(user.id), None, None, detail)
            .await?;
        let deleted = self.store.delete_user(user.id).await;
        self.forget_cached();
        Ok(deleted?)
    }
}
