//! Wiring: config → database → provider → web state. Shared by `lanyard serve` and the
//! integration-test harness, so tests run exactly what users run.
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use lanyard_config::Settings;
use lanyard_core::Provider;
use lanyard_core::authn::password::PasswordHasherPool;
use lanyard_core::clock::Clock;
use lanyard_core::crypto::Cipher;
use lanyard_core::model::{Client, ManagedBy};
use lanyard_core::oidc::keys::KeyManager;
use lanyard_core::provider::{Housekeeping, Ports};
use lanyard_core::store::{Store, StoreError};
use lanyard_store::Database;
use lanyard_web::metrics::Metrics;
use lanyard_web::session_store::DbSessionStore;
use lanyard_web::templates::Templates;
use lanyard_web::{AppState, WebConfig};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot open the database: {0}")]
    Database(StoreError),
    #[error("cannot apply database migrations: {0}")]
    Migrate(StoreError),
    #[error("encryption key: {0}")]
    Key(String),
    #[error("{0}")]
    Startup(String),
}

/// Registrations accepted per client address per minute (open registration is a public form).
const REGISTRATIONS_PER_MINUTE: u32 = 20;

pub struct App {
    pub state: AppState,
    pub db: Database,
    pub settings: Arc<Settings>,
}

fn dur(d: StdDuration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

pub fn cipher(settings: &Settings) -> Result<Cipher, AppError> {
    let e = &settings.encryption;
    Cipher::new(&e.key_id, e.key.expose(), &e.old_keys).map_err(|e| AppError::Key(e.to_string()))
}

pub fn web_config(settings: &Settings) -> WebConfig {
    let secure = settings.issuer.scheme() == "https";
    let name = &settings.sessions.cookie_name;
    WebConfig {
        product_name: settings.ui.product_name.clone(),
        // RFC 6265bis 4.1.3.2: __Host- pins the cookie to this host, path /, Secure.
        cookie_name: if secure && settings.issuer.path() == "/" {
            format!("__Host-{name}")
        } else {
            name.clone()
        },
        secure_cookies: secure,
        idle_timeout: dur(settings.sessions.idle_timeout),
        absolute_lifetime: dur(settings.sessions.absolute_lifetime),
        flow_lifetime: Duration::minutes(30),
        jwks_max_age: dur(settings.signing.jwks_max_age),
        registration: match &settings.registration {
            lanyard_config::RegistrationSettings::Off => lanyard_web::Registration::Off,
            lanyard_config::RegistrationSettings::Open => lanyard_web::Registration::Open,
            lanyard_config::RegistrationSettings::Token(t) => {
                lanyard_web::Registration::Token(t.clone())
            }
        },
        metrics_token: settings.metrics.token.clone(),
    }
}

/// Connect and migrate. An unreachable database is a clear error, not a hang.
pub async fn open_database(settings: &Settings) -> Result<Database, AppError> {
    let db = Database::connect(&settings.database.url, settings.database.max_connections)
        .await
        .map_err(AppError::Database)?;
    db.migrate().await.map_err(AppError::Migrate)?;
    Ok(db)
}

/// Make the database's clients match the config file: upsert every configured client and delete
/// config-managed clients that are no longer configured. Idempotent. Returns (changed, removed).
pub async fn reconcile_clients(
    store: &dyn Store,
    clients: &[Client],
) -> Result<(usize, usize), StoreError> {
    let mut changed = 0;
    for c in clients {
        if store.upsert_client(c).await? {
            changed += 1;
        }
    }
    let mut removed = 0;
    for existing in store.list_clients().await? {
        if existing.managed_by == ManagedBy::Config
            && !clients.iter().any(|c| c.client_id == existing.client_id)
            && store.delete_client(&existing.client_id).await?
        {
            removed += 1;
        }
    }
    Ok((changed, removed))
}

/// The provider and its ports: signing keys (created on first start), the password hasher
/// with its concurrency limit, the encryption key and the document fetcher.
async fn provider(
    settings: &Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    fetch: Arc<lanyard_web::fetch::Fetcher>,
) -> Result<Provider, AppError> {
    let cipher = cipher(settings)?;
    let keys = KeyManager::init(
        store.clone(),
        cipher.clone(),
        &settings.signing.algorithms,
        clock.now(),
    )
    .await
    .map_err(|e| AppError::Startup(format!("signing keys: {e}")))?;
    let concurrency = match settings.passwords.max_concurrent_hashes {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    };
    let passwords = PasswordHasherPool::new(settings.passwords.argon2, concurrency)
        .map_err(|e| AppError::Startup(e.to_string()))?;
    let ports = Ports {
        store,
        keys: Arc::new(keys),
        clock,
        passwords,
        cipher: Arc::new(cipher),
        fetch,
    };
    Ok(Provider::new(settings.provider_config(), ports))
}

/// Pairwise subjects depend on the salt: without it they would silently become user ids.
async fn check_pairwise_salt(settings: &Settings, store: &dyn Store) -> Result<(), AppError> {
    if settings.oauth.pairwise_salt.is_some() {
        return Ok(());
    }
    let clients = store.list_clients().await.map_err(AppError::Database)?;
    if clients.iter().any(|c| c.pairwise_sector.is_some()) {
        return Err(AppError::Startup(
            "clients with pairwise subjects are registered: set [oauth] pairwise_salt (the same value as before)".into(),
        ));
    }
    Ok(())
}

impl App {
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> Result<App, AppError> {
        let db = open_database(&settings).await?;
        let store = db.store();
        let (changed, removed) = reconcile_clients(store.as_ref(), &settings.clients)
            .await
            .map_err(AppError::Database)?;
        tracing::info!(
            clients = settings.clients.len(),
            changed,
            removed,
            "reconciled clients from the config file"
        );
        check_pairwise_salt(&settings, store.as_ref()).await?;
        let fetcher = Arc::new(lanyard_web::fetch::Fetcher::new(
            settings.oauth.fetch_private_addresses,
        ));
        let provider = provider(&settings, store.clone(), clock, fetcher.clone()).await?;
        let templates = Templates::new(&settings.ui.product_name)
            .map_err(|e| AppError::Startup(format!("templates: {e}")))?;
        let state = AppState {
            provider: Arc::new(provider),
            templates: Arc::new(templates),
            config: Arc::new(web_config(&settings)),
            metrics: Arc::new(Metrics::new(settings.logging.access)),
            token_limiter: Arc::new(lanyard_web::ratelimit::RateLimiter::new(
                settings.rate_limits.token_requests_per_minute,
            )),
            upstreams: Arc::new(
                lanyard_web::upstream::Upstreams::new(&settings.issuer_str())
                    .map_err(AppError::Startup)?,
            ),
            backchannel: Arc::new(lanyard_web::backchannel::Notifier::new(fetcher)),
            sessions: DbSessionStore::new(store),
            registration_limiter: Arc::new(lanyard_web::ratelimit::RateLimiter::new(
                REGISTRATIONS_PER_MINUTE,
            )),
        };
        Ok(App {
            state,
            db,
            settings: Arc::new(settings),
        })
    }

    pub fn router(&self) -> axum::Router {
        lanyard_web::router(self.state.clone())
    }

    /// The `[metrics] listen` listener's routes: `/metrics`, `/healthz`, `/readyz`.
    pub fn ops_router(&self) -> axum::Router {
        lanyard_web::router::ops_router(self.state.clone())
    }

    /// Housekeeping: purge expired rows (and audit events past `[audit] retention`) every 10
    /// minutes, and pick up keys rotated by the CLI or another replica every 30 seconds.
    pub fn spawn_background(&self) -> tokio::task::JoinHandle<()> {
        let provider = self.state.provider.clone();
        let audit_retention = dur(self.settings.audit.retention);
        let upstreams = self.state.upstreams.clone();
        tokio::spawn(async move {
            let mut reload = tokio::time::interval(StdDuration::from_secs(30));
            let mut purge = tokio::time::interval(StdDuration::from_secs(600));
            // Upstream discovery and JWKS: fetched at start (a failure only disables that
            // upstream's button until it answers) and refreshed every 15 minutes.
            let mut discovery = tokio::time::interval(StdDuration::from_secs(900));
            loop {
                tokio::select! {
                    _ = discovery.tick() => {
                        upstreams.refresh(&provider.config().upstreams).await;
                    }
                    _ = reload.tick() => {
                        if let Err(e) = provider.reload_keys().await {
                            tracing::warn!(error = %e, "could not reload signing keys");
                        }
                    }
                    _ = purge.tick() => {
                        let started = std::time::Instant::now();
                        let done = provider.housekeeping(audit_retention).await;
                        log_housekeeping(done, started.elapsed());
                    }
                }
            }
        })
    }
}

/// A purge that removed rows is worth an info line (with how long it took: batches pause between
/// each other, so a large backlog takes a while); an empty one only a debug line.
fn log_housekeeping(done: Housekeeping, took: StdDuration) {
    let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    match done.expired {
        Ok(r) if r.total() > 0 => tracing::info!(
            codes = r.codes,
            sessions = r.sessions,
            refresh_tokens = r.refresh_tokens,
            grants = r.grants,
            auth_failures = r.auth_failures,
            client_assertions = r.client_assertions,
            revoked_tokens = r.revoked_tokens,
            ms,
            "purged expired rows"
        ),
        Ok(_) => tracing::debug!(ms, "nothing expired to purge"),
        Err(e) => tracing::warn!(error = %e, "purge failed"),
    }
    match done.audit {
        Ok(n) if n > 0 => tracing::info!(n, "purged audit events past retention"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "audit purge failed"),
    }
    if let Err(e) = done.keys {
        tracing::warn!(error = %e, "could not purge retired keys");
    }
}
