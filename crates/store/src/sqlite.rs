//! SQLite backend: one file (or `sqlite::memory:`), for a single Lanyard instance.
use std::str::FromStr;
use std::time::Duration;

use lanyard_core::store::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::map_err;

/// Embedded migrations, `(version, description, sql)`; `migrations/sqlite` holds the same files.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "mfa",
        include_str!("../../../migrations/sqlite/0002_mfa.sql"),
    ),
    (
        3,
        "federation",
        include_str!("../../../migrations/sqlite/0003_federation.sql"),
    ),
    (
        4,
        "session_index",
        include_str!("../../../migrations/sqlite/0004_session_index.sql"),
    ),
    (
        5,
        "client_assertions",
        include_str!("../../../migrations/sqlite/0005_client_assertions.sql"),
    ),
    (
        6,
        "hardening",
        include_str!("../../../migrations/sqlite/0006_hardening.sql"),
    ),
    (
        7,
        "attempts",
        include_str!("../../../migrations/sqlite/0007_attempts.sql"),
    ),
    (
        8,
        "revoked_tokens",
        include_str!("../../../migrations/sqlite/0008_revoked_tokens.sql"),
    ),
    (
        9,
        "passkeys",
        include_str!("../../../migrations/sqlite/0009_passkeys.sql"),
    ),
    (
        10,
        "email",
        include_str!("../../../migrations/sqlite/0010_email.sql"),
    ),
];

#[cfg(unix)]
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(|_| ())
}

#[cfg(not(unix))]
fn create_private(_path: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

/// Opens (creating if needed) the database behind an `sqlite:` URL.
pub(crate) async fn connect(url: &str, max_connections: u32) -> Result<SqlitePool, StoreError> {
    let memory = url.contains(":memory:") || url.contains("mode=memory");
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("invalid SQLite database URL: {e}")))?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .synchronous(SqliteSynchronous::Normal);
    let options = if memory {
        options
    } else {
        options.journal_mode(SqliteJournalMode::Wal)
    };
    let path = options.get_filename().to_path_buf();
    if !memory && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create directory {} for the SQLite database: {e}",
                dir.display()
            ))
        })?;
    }
    // The database holds password hashes and encrypted secrets: create it readable by the owner
    // only. SQLite gives its -wal and -shm files the same permissions as the database file.
    if !memory && !path.exists() {
        create_private(&path).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create the SQLite database {}: {e}",
                path.display()
            ))
        })?;
    }
    let pool = if memory {
        // Every connection to `sqlite::memory:` would otherwise see its own empty database, and
        // the database disappears with its last connection: keep exactly one, forever.
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(max_connections.max(1))
    };
    pool.acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|e| {
            let what = if memory {
                "in-memory SQLite database".to_string()
            } else {
                format!("SQLite database {}", path.display())
            };
            match map_err(e) {
                StoreError::Unavailable(m) | StoreError::Conflict(m) | StoreError::Corrupt(m) => {
                    StoreError::Unavailable(format!("cannot open {what}: {m}"))
                }
            }
        })
}
