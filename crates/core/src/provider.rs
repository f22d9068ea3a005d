//! `Provider`: the OpenID Provider's operations, independent of HTTP. The web layer extracts
//! input, calls one method here and maps the result to a response.
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::accounts::Accounts;
use crate::authn::MfaPolicy;
use crate::authn::password::PasswordHasherPool;
use crate::authn::throttle::ThrottlePolicy;
use crate::clock::Clock;
use crate::crypto::Cipher;
use crate::fetch::Fetch;
use crate::model::{Client, SigningAlg};
use crate::oidc::discovery;
use crate::oidc::error::ProviderResult;
use crate::oidc::keys::KeyManager;
use crate::secret::Secret;
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
    /// `[webauthn]`; `None`: passkeys are off (an issuer on an IP address).
    pub webauthn: Option<crate::authn::passkeys::PasskeyConfig>,
    /// `[email]` is configured: links and notices are queued in the outbox.
    pub mail: bool,
}

/// Gauges of one replica's work in progress.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Password hashes queued or running.
    pub hashes_in_flight: usize,
    /// Sign-in attempts waiting for a slot of their account or address.
    pub attempts_waiting: usize,
    pub pool: crate::store::PoolStatus,
}

/// What one round of `Provider::housekeeping` did, step by step.
#[derive(Debug)]
pub struct Housekeeping {
    pub expired: ProviderResult<crate::model::PurgeReport>,
    pub audit: ProviderResult<u64>,
    pub keys: ProviderResult<u64>,
}

pub struct Provider {
    pub(crate) config: ProviderConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Arc<KeyManager>,
    /// Documents clients name by URL (`jwks_uri`, `request_uri`, `sector_identifier_uri`).
    pub(crate) fetch: Arc<dyn Fetch>,
    /// User lifecycle operations, shared with the CLI.
    pub(crate) accounts: Accounts,
    /// Encrypts TOTP secrets at rest (signing keys have their own copy in `keys`).
    pub(crate) cipher: Arc<Cipher>,
    discovery: Arc<[u8]>,
    /// Sign-in attempts of this replica waiting for a slot (see `authn::attempts`).
    pub(crate) slots: crate::authn::attempts::AttemptSlots,
    /// Clients read recently (see `clients.rs`).
    pub(crate) clients: crate::clients::ClientCache,
    /// The WebAuthn verifier, when passkeys are on.
    pub(crate) webauthn: Option<Arc<webauthn_rs::prelude::Webauthn>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

/// What a `Provider` works with besides its settings: the storage, signing keys, clock,
/// password hasher, encryption key and document fetcher.
pub struct Ports {
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyManager>,
    pub clock: Arc<dyn Clock>,
    pub passwords: PasswordHasherPool,
    pub cipher: Arc<Cipher>,
    pub fetch: Arc<dyn Fetch>,
}

impl Provider {
    pub fn new(config: ProviderConfig, ports: Ports) -> Self {
        let discovery = discovery::document(
            &config.issuer,
            &config.algorithms,
            config.registration_enabled,
            config.allow_unsigned_request_objects,
            config.pairwise_salt.is_some(),
        )
        .to_string();
        let webauthn = config
            .webauthn
            .as_ref()
            .and_then(crate::authn::passkeys::verifier)
            .map(Arc::new);
        let accounts = Accounts::new(
            ports.store.clone(),
            ports.cipher.clone(),
            ports.passwords,
            ports.clock,
        )
        .with_mail(config.mail);
        Self {
            config,
            store: ports.store,
            keys: ports.keys,
            fetch: ports.fetch,
            accounts,
            cipher: ports.cipher,
            discovery: Arc::from(discovery.into_bytes()),
            slots: Default::default(),
            clients: crate::clients::client_cache(),
            webauthn,
        }
    }

    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.accounts.now()
    }

    /// The published JWK Set, ready to serve.
    pub fn jwks(&self) -> Arc<[u8]> {
        self.keys.jwks()
    }

    /// Pick up signing keys rotated by the CLI or another replica. True when they changed.
    pub async fn reload_keys(&self) -> ProviderResult<bool> {
        self.keys.reload().await
    }

    /// Periodic clean-up: expired rows, audit events older than `audit_retention`, and retired
    /// signing keys no token can still need. Each step runs even if another failed.
    pub async fn housekeeping(&self, audit_retention: Duration) -> Housekeeping {
        let now = self.now();
        let longest = self
            .config
            .access_token_lifetime
            .max(self.config.id_token_lifetime);
        Housekeeping {
            expired: self.store.purge_expired(now).await.map_err(Into::into),
            audit: self
                .store
                .purge_audit(now - audit_retention)
                .await
                .map_err(Into::into),
            keys: crate::oidc::keys::purge_retired(self.store.as_ref(), now, longest).await,
        }
    }

    /// What this replica is doing now, for `/metrics` (no database round trip).
    pub fn load(&self) -> Load {
        Load {
            hashes_in_flight: self.accounts.passwords().in_flight(),
            attempts_waiting: self.slots.waiting(),
            pool: self.store.pool_status(),
        }
    }

    /// Browser sessions not yet expired, on every replica (one count query).
    pub async fn active_sessions(&self) -> ProviderResult<u64> {
        Ok(self.store.count_sessions(self.now()).await?)
    }

    /// `/readyz`: the database answers.
    pub async fn ready(&self) -> ProviderResult<()> {
        Ok(self.store.ping().await?)
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
        self.accounts
            .audit(kind, user_id, client_id, ip, detail)
            .await
    }
}
