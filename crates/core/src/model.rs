//! Domain records. These are what the store traits take and return; each backend maps them onto
//! its own column types (UUID/TIMESTAMPTZ/BOOLEAN on PostgreSQL, BLOB/TEXT/INTEGER on SQLite).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable opaque identifier; the `sub` claim is its hyphenated form.
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    /// Postal address, formatted (OIDC Core 5.1.1 `formatted`).
    pub address: Option<String>,
    /// PHC argon2id string, or a bcrypt hash awaiting upgrade. `None`: no local password.
    pub password_hash: Option<String>,
    pub disabled: bool,
    /// Bumped each time every session of the user is ended (password or factor change,
    /// disable, admin reset). A browser session is valid only while it carries the current
    /// value, so no copy of an ended session can come back (see `SessionRecordStore`).
    pub session_epoch: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    pub fn new(username: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            username: username.to_string(),
            email: None,
            email_verified: false,
            name: None,
            given_name: None,
            family_name: None,
            phone_number: None,
            phone_number_verified: false,
            address: None,
            password_hash: None,
            disabled: false,
            session_epoch: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Profile fields a user may edit on the account page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub address: Option<String>,
}

/// RFC 7591 2 `token_endpoint_auth_method` values Lanyard supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    /// Public client; PKCE is mandatory.
    None,
    /// OIDC Core 9 / RFC 7523: a JWT signed with the client's key (from `jwks` or `jwks_uri`).
    PrivateKeyJwt,
    /// OIDC Core 9: a JWT MACed (HS256) with the client secret, which Lanyard then keeps
    /// encrypted (not only hashed) to verify it.
    ClientSecretJwt,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::ClientSecretJwt => "client_secret_jwt",
        }
    }
}

/// Who owns a client row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagedBy {
    /// `[[clients]]` in the config file: reconciled at every start, removed with the entry.
    Config,
    /// RFC 7591 dynamic registration.
    Registration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// JWS algorithms Lanyard signs with (RFC 7518 3.1, RFC 8037).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord, Default,
)]
pub enum SigningAlg {
    #[default]
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// SHA-256 of the client secret; `None` for public clients.
    #[serde(skip)]
    pub secret_hash: Option<Vec<u8>>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub auth_method: AuthMethod,
    /// Scopes this client may request; `openid` is always allowed.
    pub scopes: Vec<String>,
    /// First-party client: consent is not asked.
    pub trusted: bool,
    pub id_token_alg: SigningAlg,
    /// PKCE required even though the client is confidential.
    pub require_pkce: bool,
    /// Users must have used a second factor before this client gets a code.
    #[serde(default)]
    pub require_mfa: bool,
    /// OIDC Back-Channel Logout 1.0: where logout tokens are POSTed when a session ends.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in logout tokens (Lanyard always sends it).
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    /// RFC 7591 2 metadata shown to users on the consent page (dynamically registered clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// RFC 7591 2: the client's public keys, by value or by reference (kept for later use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `client_secret_jwt` only: the secret, AES-256-GCM encrypted (associated data: the
    /// client id), because an HMAC cannot be checked against a hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_enc: Option<Vec<u8>>,
    /// OIDC Core 8: `public` subjects (the user id) unless this is set: then the client sees
    /// pairwise subjects computed for this sector identifier (a host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairwise_sector: Option<String>,
    /// OIDC Registration 2: userinfo answered as a JWT signed with this algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<SigningAlg>,
    /// RFC 7592: SHA-256 (base64url) of the registration access token, for dynamically
    /// registered clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_token_hash: Option<String>,
    /// Who owns the row.
    pub managed_by: ManagedBy,
}

impl Client {
    /// A config-managed client with the given id and name and every other field at its plain
    /// default: no secret (`client_secret_basic` until one is set), no redirect URIs, the code
    /// grant, the `openid` scope, RS256, nothing trusted or required. Callers set what matters.
    pub fn new(client_id: &str, name: &str) -> Self {
        Self {
            client_id: client_id.into(),
            name: name.into(),
            secret_hash: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            auth_method: AuthMethod::ClientSecretBasic,
            scopes: vec!["openid".into()],
            trusted: false,
            id_token_alg: SigningAlg::RS256,
            require_pkce: false,
            require_mfa: false,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            logo_uri: None,
            policy_uri: None,
            tos_uri: None,
            jwks: None,
            jwks_uri: None,
            userinfo_signed_response_alg: None,
            pairwise_sector: None,
            secret_enc: None,
            registration_token_hash: None,
            managed_by: ManagedBy::Config,
        }
    }

    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }

    /// Registered through the open registration endpoint rather than by an administrator.
    pub fn is_self_registered(&self) -> bool {
        self.managed_by == ManagedBy::Registration
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        scope == "openid" || self.scopes.iter().any(|s| s == scope)
    }
}

/// An authorization grant: what one user allowed one client, and the authentication behind it.
/// Every access and refresh token belongs to one grant; revoking it revokes them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: Uuid,
    pub client_id: String,
    /// `None` for client_credentials grants.
    pub user_id: Option<Uuid>,
    pub scopes: Vec<String>,
    /// Public session id (the `sid` claim), for browser grants.
    pub sid: Option<String>,
    pub auth_time: Option<DateTime<Utc>>,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub nonce: Option<String>,
    /// The OIDC `claims` request parameter, limited to the client's scopes.
    pub claims: Option<crate::oidc::claims::ClaimsRequest>,
    pub created_at: DateTime<Utc>,
    /// Hard end of the grant (the refresh token's absolute lifetime).
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Grant {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// An authorization code, stored under its SHA-256. RFC 6749 4.1.2: short-lived, single use,
/// bound to the client and redirect URI; plus the PKCE challenge (RFC 7636) and OIDC context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub code_hash: Vec<u8>,
    /// The grant this code will create when redeemed (known up front so reuse can revoke it).
    pub grant_id: Uuid,
    pub client_id: String,
    pub user_id: Uuid,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub scopes: Vec<String>,
    pub claims: Option<crate::oidc::claims::ClaimsRequest>,
    pub sid: String,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: Vec<u8>,
    pub grant_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set when the token was rotated out; presenting it again is reuse.
    pub used_at: Option<DateTime<Utc>>,
    /// With `tokens.refresh_reuse_grace`: the successor this token was rotated into, encrypted
    /// under a key derived from this token, so a retry within the grace period gets it again.
    pub successor_enc: Option<Vec<u8>>,
}

/// Result of redeeming a single-use value (code or refresh token) atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed<T> {
    /// First use: here is what it carried.
    Fresh(T),
    /// It existed but was already used; this is the grant it belonged to.
    AlreadyUsed(Uuid),
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub user_id: Uuid,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

/// A signing key as stored: public JWK in clear, private key PKCS#8 DER encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: SigningAlg,
    pub public_jwk: String,
    pub private_enc: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// Published from `created_at`, used for signing from `activates_at` (publish before use).
    pub activates_at: DateTime<Utc>,
    /// No longer signs from here; still published until every token it signed has expired.
    pub retired_at: Option<DateTime<Utc>>,
}

/// A browser session row. The id is stored only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: Vec<u8>,
    /// The logged-in user, mirrored out of `data` so a user's sessions can be listed and ended.
    pub user_id: Option<Uuid>,
    /// The user's `session_epoch` this session belongs to, mirrored out of `data`.
    pub epoch: i64,
    pub data: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}

/// The result of ending every session of a user (`SessionRecordStore::end_user_sessions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndedSessions {
    /// The user's new `session_epoch`; the kept session, if any, now carries it.
    pub epoch: i64,
    pub ended: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    /// Free-form JSON; never a secret, code or token.
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<Uuid>,
    pub kind: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub codes: u64,
    pub refresh_tokens: u64,
    pub grants: u64,
    pub sessions: u64,
    /// Failed-attempt records older than a day (no throttling window is longer).
    pub auth_failures: u64,
    /// Remembered client-assertion jtis whose assertions have expired.
    pub client_assertions: u64,
    pub revoked_tokens: u64,
}

impl PurgeReport {
    /// Rows purged in all.
    pub fn total(&self) -> u64 {
        self.codes
            + self.refresh_tokens
            + self.grants
            + self.sessions
            + self.auth_failures
            + self.client_assertions
            + self.revoked_tokens
    }
}

/// A registered passkey or security key (WebAuthn). `credential` is the verifier's own record
/// (public key, counter, flags) as JSON; the fields beside it are copies that pages, the CLI and
/// the store's counter check read without parsing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCredential {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The authenticator's credential id (raw bytes), unique across all accounts.
    pub credential_id: Vec<u8>,
    /// Chosen by the user; shown on the account page and by `lanyard user show`.
    pub name: String,
    pub credential: String,
    /// The signature counter last seen (0 for authenticators that keep none).
    pub counter: i64,
    /// WebAuthn L3 6.1 flag BE: the credential may be synced to other devices.
    pub backup_eligible: bool,
    /// WebAuthn L3 6.1 flag BS: the credential is synced (backed up) now.
    pub backup_state: bool,
    /// The authenticator model, when the authenticator said (unattested: informational only).
    pub aaguid: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a successful passkey assertion changes on its credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    pub id: Uuid,
    pub credential: String,
    pub counter: i64,
    pub backup_state: bool,
    pub at: DateTime<Utc>,
}

/// A user's TOTP authenticator (RFC 6238). The seed is AES-256-GCM encrypted with the user id as
/// associated data, so a ciphertext cannot be moved to another user's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCredential {
    pub user_id: Uuid,
    pub secret_enc: Vec<u8>,
    /// The last accepted time step; a code for this step or an earlier one is refused (replay).
    pub last_step: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// Failed-attempt counters over a sliding window, for throttling (DESIGN §3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCount {
    /// Failures.
    pub count: u64,
    /// Attempts in flight (recorded, not yet judged).
    pub pending: u64,
    /// When the latest failure was recorded.
    pub last_at: Option<DateTime<Utc>>,
}

/// A login at an upstream OpenID provider linked to a local user (DESIGN §4): keyed by the
/// upstream's name and its `sub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    /// The `[[upstreams]]` entry's `name`.
    pub upstream: String,
    /// The upstream's `sub` for this person.
    pub subject: String,
    pub user_id: Uuid,
    /// The email the upstream reported at the last login, for display.
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_login_at: DateTime<Utc>,
}
