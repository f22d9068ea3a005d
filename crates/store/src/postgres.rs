//! PostgreSQL backend: for several Lanyard replicas sharing one database.
use std::str::FromStr;
use std::time::Duration;

use lanyard_core::store::StoreError;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::error::map_err;

/// Embedded migrations, `(version, description, sql)`; `migrations/postgres` holds the same files.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "mfa",
        include_str!("../../../migrations/postgres/0002_mfa.sql"),
    ),
    (
        3,
        "federation",
        include_str!("../../../migrations/postgres/0003_federation.sql"),
    ),
    (
        4,
        "session_index",
        include_str!("../../../migrations/postgres/0004_session_index.sql"),
    ),
    (
        5,
        "client_assertions",
        include_str!("../../../migrations/postgres/0005_client_assertions.sql"),
    ),
    (
        6,
        "hardening",
        include_str!("../../../migrations/postgres/0006_hardening.sql"),
    ),
];

/// `pg_advisory_xact_lock` key serialising first-start signing-key creation across replicas
/// ("lanyard" + "keys" in ASCII, so it cannot collide with sqlx's migration lock by accident).
const SIGNING_KEYS_LOCK: i64 = 0x6c61_6e79_6172_6b79;

/// Implements every store trait on a PostgreSQL pool (see `store_impl` for the shared bodies).
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    const BACKEND: &'static str = "postgres";

    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// READ COMMITTED; the statements that must be single-use guard themselves with
    /// `WHERE used_at IS NULL`, which PostgreSQL re-checks after waiting on a row lock.
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// Held until the transaction ends, so two replicas starting at once insert one key per alg.
    async fn lock_signing_keys(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SIGNING_KEYS_LOCK)
            .execute(conn)
            .await?;
        Ok(())
    }
}

crate::store_impl::impl_store!(PgStore);

/// Parses a `postgres://` URL; the error never repeats the URL (it may hold a password).
pub(crate) fn options(url: &str) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL database URL: {e}")))
}

/// `host:port/database` of the options, for error messages (no user name or password).
pub(crate) fn describe(o: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        o.get_host(),
        o.get_port(),
        o.get_database().unwrap_or(o.get_username())
    )
}

pub(crate) async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    let options = options(url)?.application_name("lanyard");
    let target = describe(&options);
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::Unavailable(m) | StoreError::Conflict(m) | StoreError::Corrupt(m) => {
                StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {m}"))
            }
        })
}
