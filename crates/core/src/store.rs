//! Storage ports. Core speaks domain facts through these traits; `lanyard-store` implements them
//! for SQLite and PostgreSQL and a shared contract suite holds both to the same behaviour.
//!
//! Conventions: "not found" is `Ok(None)`; a database that is unreachable is `Err(Unavailable)`;
//! a unique-constraint violation is `Err(Conflict)`. Single-use values are redeemed atomically
//! (`UPDATE ... WHERE used_at IS NULL RETURNING`), never read-then-write.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::model::*;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait UserStore: Send + Sync {
    /// `Conflict` if the username is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn get_user(&self, id: Uuid) -> StoreResult<Option<User>>;
    async fn find_user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Returns false when the user does not exist.
    async fn set_password_hash(
        &self,
        id: Uuid,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn set_disabled(&self, id: Uuid, disabled: bool, now: DateTime<Utc>)
    -> StoreResult<bool>;
    /// Sets every profile field (None clears it). A changed email resets `email_verified`.
    async fn update_profile(
        &self,
        id: Uuid,
        profile: &ProfileUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deletes the user and, by cascade, their grants, codes, consents and sessions.
    async fn delete_user(&self, id: Uuid) -> StoreResult<bool>;
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Insert or replace by `client_id`. Returns true if anything changed.
    async fn upsert_client(&self, client: &Client) -> StoreResult<bool>;
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;
}

/// Authorization codes, grants and their refresh tokens (every token belongs to a grant).
#[async_trait]
pub trait GrantStore: Send + Sync {
    async fn insert_code(&self, code: &AuthCode) -> StoreResult<()>;
    /// The code, used or not (the token endpoint checks who presents it before consuming it).
    async fn find_code(&self, code_hash: &[u8]) -> StoreResult<Option<AuthCode>>;
    /// Marks the code used and returns it, atomically. A second call returns `AlreadyUsed`.
    async fn redeem_code(
        &self,
        code_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Redeemed<AuthCode>>;
    /// Creates the grant and, in the same transaction, its first refresh token.
    async fn create_grant(&self, grant: &Grant, refresh: Option<&RefreshToken>) -> StoreResult<()>;
    async fn get_grant(&self, id: Uuid) -> StoreResult<Option<Grant>>;
    /// True when the grant exists, is not revoked and has not expired: the one indexed lookup
    /// userinfo and introspection do after verifying a JWT.
    async fn grant_is_active(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool>;
    async fn find_refresh(&self, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>>;
    /// Marks `old` used and inserts `new` for the same grant, atomically.
    /// `AlreadyUsed` means `old` had been rotated out before: the caller revokes the grant.
    /// `successor_enc` is kept on `old` (see `RefreshToken::successor_enc`).
    async fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new: &RefreshToken,
        successor_enc: Option<&[u8]>,
        now: DateTime<Utc>,
    ) -> StoreResult<Redeemed<()>>;
    /// Idempotent. Returns true if this call revoked it.
    async fn revoke_grant(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Revoke a self-contained access token (no grant row) by the hash of its `jti`, kept until
    /// `expires_at`. Returns false if it was revoked already.
    async fn revoke_token(&self, jti_hash: &[u8], expires_at: DateTime<Utc>) -> StoreResult<bool>;
    async fn token_is_revoked(&self, jti_hash: &[u8]) -> StoreResult<bool>;
    /// The clients a browser session (by its public `sid`) obtained a code or grant for, sorted:
    /// who to notify by back-channel logout.
    async fn clients_for_sid(&self, sid: &str) -> StoreResult<Vec<String>>;
    /// Revokes every active grant of the user; returns how many.
    async fn revoke_user_grants(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// What each user allowed each client (OIDC Core 3.1.2.4), remembered as a set of scopes.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    async fn get_consent(&self, user_id: Uuid, client_id: &str) -> StoreResult<Option<Consent>>;
    /// Insert or replace.
    async fn put_consent(&self, consent: &Consent) -> StoreResult<()>;
    /// Sorted by client id.
    async fn list_consents(&self, user_id: Uuid) -> StoreResult<Vec<Consent>>;
    async fn delete_consent(&self, user_id: Uuid, client_id: &str) -> StoreResult<bool>;
}

/// Replay protection for client assertions (RFC 7523 3: a `jti` is accepted once).
#[async_trait]
pub trait AssertionStore: Send + Sync {
    /// Remembers a client assertion's jti until `expires_at`. False if it was already used
    /// (a replay).
    async fn remember_assertion(
        &self,
        client_id: &str,
        jti_hash: &[u8],
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    async fn retire_signing_key(&self, kid: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    async fn delete_signing_key(&self, kid: &str) -> StoreResult<bool>;
    /// Re-encryption (`lanyard keys rotate-encryption`): replaces `old` by `new` only if the
    /// row still holds `old` (compare-and-swap), so a concurrent change is never overwritten.
    async fn set_signing_key_private(&self, kid: &str, old: &[u8], new: &[u8])
    -> StoreResult<bool>;
    /// First-start key creation, safe when several replicas start at once: inside one transaction
    /// (under an advisory lock on PostgreSQL), inserts each of `keys` whose algorithm has no
    /// unretired key yet. Returns how many were inserted.
    async fn insert_initial_signing_keys(&self, keys: &[SigningKeyRecord]) -> StoreResult<u64>;
}

/// Browser sessions. A session that was ended never comes back: `session_save` only updates a
/// row that still exists (a request in flight with an ended session's cookie writes nothing),
/// and a session whose `epoch` is older than its user's `session_epoch` is never loaded or
/// listed (a copy made before the user's sessions were ended is void).
#[async_trait]
pub trait SessionRecordStore: Send + Sync {
    /// Returns false (and writes nothing) if the id is already taken.
    async fn session_create(&self, rec: &SessionRecord) -> StoreResult<bool>;
    /// Updates the row if it still exists; never re-creates a deleted one. The stored epoch
    /// never goes down (a stale copy of the data cannot void a session that was renewed).
    async fn session_save(&self, rec: &SessionRecord) -> StoreResult<()>;
    /// Only unexpired sessions of a current epoch are returned.
    async fn session_load(
        &self,
        id_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionRecord>>;
    async fn session_delete(&self, id_hash: &[u8]) -> StoreResult<()>;
    /// Unexpired sessions, signed in or not (a gauge, and proof that anonymous requests do not
    /// grow the table).
    async fn count_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    async fn sessions_for_user(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Ends every session of the user except `keep`, in one transaction: moves the user's
    /// `session_epoch` on, deletes the other sessions, and gives `keep` the new epoch. Returns
    /// the new epoch and how many sessions ended (`None` when the user does not exist).
    async fn end_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<&[u8]>,
    ) -> StoreResult<Option<EndedSessions>>;
}

/// Second factors: TOTP credentials and backup codes. Codes are stored only as hashes.
#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn get_totp(&self, user_id: Uuid) -> StoreResult<Option<TotpCredential>>;
    /// Turns TOTP on and replaces the user's backup codes, in one transaction.
    /// `Conflict` when the user already has TOTP (a double-submitted confirmation).
    async fn enable_totp(
        &self,
        cred: &TotpCredential,
        backup_code_hashes: &[Vec<u8>],
    ) -> StoreResult<()>;
    /// Removes TOTP and every backup code. Returns false when the user had no TOTP.
    async fn disable_totp(&self, user_id: Uuid) -> StoreResult<bool>;
    /// Records `step` as used, atomically, only if it is later than the last accepted step.
    /// Returns false for a replayed (or older) step.
    async fn accept_totp_step(&self, user_id: Uuid, step: i64) -> StoreResult<bool>;
    /// Re-encryption (`lanyard keys rotate-encryption`).
    async fn list_totp(&self) -> StoreResult<Vec<TotpCredential>>;
    /// Compare-and-swap like `set_signing_key_private`: a re-enrollment in between wins.
    async fn set_totp_secret(&self, user_id: Uuid, old: &[u8], new: &[u8]) -> StoreResult<bool>;
    /// Replaces the whole set: old codes stop working.
    async fn replace_backup_codes(
        &self,
        user_id: Uuid,
        hashes: &[Vec<u8>],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Marks the code used, atomically. `Some(remaining)` on success, `None` if the code is
    /// unknown or already used.
    async fn redeem_backup_code(
        &self,
        user_id: Uuid,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u64>>;
    /// Unused backup codes.
    async fn backup_codes_remaining(&self, user_id: Uuid) -> StoreResult<u64>;
}

/// Passkeys (WebAuthn credentials) and the random user handle they are registered under.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// The user's WebAuthn user handle, made from `candidate` if the user has none yet (two
    /// concurrent first registrations agree on one).
    async fn webauthn_handle(&self, user_id: Uuid, candidate: Uuid) -> StoreResult<Uuid>;
    /// Whose handle this is.
    async fn user_by_webauthn_handle(&self, handle: Uuid) -> StoreResult<Option<Uuid>>;
    /// The user's passkeys, oldest first.
    async fn list_passkeys(&self, user_id: Uuid) -> StoreResult<Vec<PasskeyCredential>>;
    async fn passkey_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> StoreResult<Option<PasskeyCredential>>;
    /// `Conflict` when the credential id is already registered (to anyone).
    async fn add_passkey(&self, passkey: &PasskeyCredential) -> StoreResult<()>;
    /// False when the user has no such passkey.
    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, name: &str) -> StoreResult<bool>;
    /// False when the user has no such passkey.
    async fn delete_passkey(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool>;
    /// Removes every passkey of the user (`lanyard user reset-mfa`); returns how many.
    async fn delete_passkeys(&self, user_id: Uuid) -> StoreResult<u64>;
    /// Records a verified assertion, atomically, only if its counter moved forward (or both the
    /// stored and the new counter are 0, for authenticators that keep none). False means the
    /// counter went back or stood still: a cloned authenticator or a replayed assertion
    /// (WebAuthn L3 6.1.1).
    async fn record_passkey_use(&self, used: &PasskeyUse) -> StoreResult<bool>;
}

/// Failed authentication attempts, keyed by subject (`user:<username>`, `ip:<address>`), kept in
/// the database so every replica throttles the same way.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Records an attempt as failed; returns its id (ids grow with insertion order), so an
    /// attempt can be recorded before it is judged and withdrawn if it succeeds.
    async fn record_failure(&self, subject: &str, at: DateTime<Utc>) -> StoreResult<i64>;
    /// Records an attempt about to be judged, as pending: it fills the budget of attempts that
    /// may be judged at once but is no failure until `settle_attempt`.
    async fn record_attempt(&self, subject: &str, at: DateTime<Utc>) -> StoreResult<i64>;
    /// The pending attempt failed: from now on it is a failure.
    async fn settle_attempt(&self, id: i64) -> StoreResult<()>;
    /// Withdraws one record (the attempt succeeded).
    async fn delete_failure(&self, id: i64) -> StoreResult<()>;
    /// Failures at or after `since` (only those recorded before `before_id`, if given), the
    /// latest one's time, and the attempts still pending (those recorded at or after
    /// `pending_since`; older ones were abandoned).
    async fn count_failures(
        &self,
        subject: &str,
        since: DateTime<Utc>,
        before_id: Option<i64>,
        pending_since: DateTime<Utc>,
    ) -> StoreResult<FailureCount>;
    /// `count_failures` for one or two subjects (an account and an address) in one query, each
    /// with its own `before_id`, in the order given.
    async fn count_failures_each(
        &self,
        subjects: &[(&str, Option<i64>)],
        since: DateTime<Utc>,
        pending_since: DateTime<Utc>,
    ) -> StoreResult<Vec<FailureCount>>;
    /// Removes the subject's failures (not its pending attempts). Returns how many.
    async fn clear_failures(&self, subject: &str) -> StoreResult<u64>;
}

/// Group membership. A group exists while it has members; names are case-sensitive slugs.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Returns false if the user was already a member.
    async fn add_to_group(&self, user_id: Uuid, group: &str) -> StoreResult<bool>;
    /// Returns false if the user was not a member.
    async fn remove_from_group(&self, user_id: Uuid, group: &str) -> StoreResult<bool>;
    /// Sorted by name.
    async fn user_groups(&self, user_id: Uuid) -> StoreResult<Vec<String>>;
    /// Every group with its member count, sorted by name.
    async fn list_groups(&self) -> StoreResult<Vec<(String, u64)>>;
    /// Members sorted by username.
    async fn group_members(&self, group: &str) -> StoreResult<Vec<User>>;
}

/// Upstream identities linked to local users.
#[async_trait]
pub trait FederationStore: Send + Sync {
    async fn get_identity(
        &self,
        upstream: &str,
        subject: &str,
    ) -> StoreResult<Option<FederatedIdentity>>;
    /// `Conflict` when the (upstream, subject) pair is already linked (to anyone).
    async fn link_identity(&self, identity: &FederatedIdentity) -> StoreResult<()>;
    /// Creates the user and links the identity in one transaction (just-in-time provisioning).
    /// `Conflict` if the username is taken or the identity is already linked; nothing is written.
    async fn create_user_with_identity(
        &self,
        user: &User,
        identity: &FederatedIdentity,
    ) -> StoreResult<()>;
    /// Records a login: `last_login_at` and the email reported this time.
    async fn touch_identity(
        &self,
        upstream: &str,
        subject: &str,
        email: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The user's identities, sorted by upstream then subject.
    async fn list_identities(&self, user_id: Uuid) -> StoreResult<Vec<FederatedIdentity>>;
    /// Returns false if that identity was not linked to that user.
    async fn unlink_identity(
        &self,
        user_id: Uuid,
        upstream: &str,
        subject: &str,
    ) -> StoreResult<bool>;
    /// Users whose email equals `email` (case-insensitively), sorted by username.
    async fn find_users_by_email(&self, email: &str) -> StoreResult<Vec<User>>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn audit(&self, event: &AuditEvent) -> StoreResult<()>;
    /// Newest first.
    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEvent>>;
    /// Deletes events older than `before` (`[audit] retention`); returns how many.
    async fn purge_audit(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// Deletes rows that can no longer matter: expired codes, sessions, refresh tokens and grants
    /// (grants are kept until their last token has expired), and failed-attempt records older
    /// than a day.
    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<PurgeReport>;
    fn backend(&self) -> &'static str;
    /// The connection pool now, for `/metrics`.
    fn pool_status(&self) -> PoolStatus;
}

/// Connections of the database pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// Everything Lanyard persists. `Arc<dyn Store>` is what the rest of the application holds.
pub trait Store:
    UserStore
    + ClientStore
    + GrantStore
    + ConsentStore
    + AssertionStore
    + KeyStore
    + SessionRecordStore
    + MfaStore
    + PasskeyStore
    + crate::email::EmailStore
    + ThrottleStore
    + GroupStore
    + FederationStore
    + AuditStore
    + Maintenance
{
}

impl<T> Store for T where
    T: UserStore
        + ClientStore
        + GrantStore
        + ConsentStore
        + AssertionStore
        + KeyStore
        + SessionRecordStore
        + MfaStore
        + PasskeyStore
        + crate::email::EmailStore
        + ThrottleStore
        + GroupStore
        + FederationStore
        + AuditStore
        + Maintenance
{
}
