//! PostgreSQL backend: for several Lanyard replicas sharing one database.
use std::str::FromStr;
use std::time::Duration;

use lanyard_core::store::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

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
    (
        7,
        "attempts",
        include_str!("../../../migrations/postgres/0007_attempts.sql"),
    ),
    (
        8,
        "revoked_tokens",
        include_str!("../../../migrations/postgres/0008_revoked_tokens.sql"),
    ),
    (
        9,
        "passkeys",
        include_str!("../../../migrations/postgres/0009_passkeys.sql"),
    ),
    (
        10,
        "email",
        include_str!("../../../migrations/postgres/0010_email.sql"),
    ),
];

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
