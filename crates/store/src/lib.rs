//! Lanyard's storage: the `lanyard_core::store` traits on SQLite and on PostgreSQL.
//!
//! [`Database::connect`] picks the backend from the URL scheme, [`Database::migrate`] applies the
//! embedded, forward-only migrations (`migrations/sqlite`, `migrations/postgres`: same versions,
//! natively typed schemas), and [`Database::store`] hands out the `Arc<dyn Store>` the rest of
//! the application holds.
//!
//! One file per aggregate (`users`, `clients`, `grants`, `consents`, `assertions`, `keys`,
//! `sessions`, `mfa`, `throttle`, `groups`, `federation`, `audit`, `maintenance`), each with its
//! SQL as constants at the top and its trait implemented once for [`SqlStore`]; how one body
//! serves both backends is explained in `pool.rs`. Rows decode through row structs shared by both
//! (`rows`). There is no `Any` driver and no per-method `if sqlite { .. } else { .. }`. A contract
//! test suite (`tests/contract/`) holds both backends to the same behaviour.
use std::collections::BTreeSet;
use std::sync::Arc;

use lanyard_core::store::{Store, StoreError};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType, Migrator};

mod assertions;
mod audit;
mod clients;
mod consents;
mod email;
mod error;
mod federation;
mod grants;
mod groups;
mod keys;
mod maintenance;
mod mfa;
mod passkeys;
mod pool;
mod postgres;
mod rows;
mod sessions;
mod sqlite;
mod throttle;
mod users;

use pool::Pool;

/// Every store trait, on whichever database the pool reaches.
#[derive(Debug, Clone)]
pub(crate) struct SqlStore {
    pool: Pool,
}

/// A connection pool to the configured database.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
}

impl Database {
    /// Connects to `url`:
    /// - `sqlite://path/to/file.db` (file and parent directory are created if missing; WAL,
    ///   5 s busy timeout, foreign keys on, `synchronous=NORMAL`);
    /// - `sqlite::memory:` (a private in-memory database on exactly one connection);
    /// - `postgres://...` or `postgresql://...`.
    ///
    /// An unreachable database fails within about five seconds with a message naming host, port
    /// and database, never the password. Any other scheme is refused by name.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Database, StoreError> {
        let pool = match scheme(url).as_deref() {
            Some("sqlite") => Pool::Sqlite(sqlite::connect(url, max_connections).await?),
            Some("postgres" | "postgresql") => {
                Pool::Postgres(postgres::connect(url, max_connections).await?)
            }
            Some(other) => {
                return Err(StoreError::Unavailable(format!(
                    "unsupported database URL scheme \"{other}:\"; use sqlite://path/to/file.db, sqlite::memory: or postgres://"
                )));
            }
            None => {
                return Err(StoreError::Unavailable(
                    "the database URL has no scheme; use sqlite://path/to/file.db, sqlite::memory: or postgres://".to_string(),
                ));
            }
        };
        Ok(Database { pool })
    }

    /// Applies the migrations this binary embeds that the database lacks, and returns their
    /// versions (empty when it was up to date). On PostgreSQL this runs under sqlx's advisory
    /// migration lock, so replicas starting together apply each migration once. A database with a
    /// changed or unknown applied migration is refused (`Corrupt`).
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let applied = match &self.pool {
            Pool::Sqlite(pool) => run_migrations(pool, sqlite::MIGRATIONS).await?,
            Pool::Postgres(pool) => run_migrations(pool, postgres::MIGRATIONS).await?,
        };
        if !applied.is_empty() {
            tracing::info!(backend = self.backend(), versions = ?applied, "applied database migrations");
        }
        Ok(applied)
    }

    pub fn store(&self) -> Arc<dyn Store> {
        Arc::new(SqlStore {
            pool: self.pool.clone(),
        })
    }

    /// "sqlite" or "postgres".
    pub fn backend(&self) -> &'static str {
        self.pool.backend()
    }

    /// Closes every connection; waits for borrowed ones to come back.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// The URL scheme, lower-cased, if the URL starts with one (`sqlite::memory:` → `sqlite`).
/// Only a syntactically valid scheme is returned, so no other part of the URL leaks into errors.
fn scheme(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once(':')?;
    let valid = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && scheme.len() <= 32;
    valid.then(|| scheme.to_ascii_lowercase())
}

/// Runs `migrations` on one connection of `pool` under the backend's migration lock (an advisory
/// lock on PostgreSQL, nothing on SQLite) and returns the versions this call applied.
///
/// This is `Migrator::run` spelled out with the `Migrate` primitives, for two reasons: it tells
/// exactly which versions it applied, and its future stays `Send` (`Migrator::run` needs a
/// higher-ranked `Acquire` bound that makes a generic caller's future lose `Send`).
async fn run_migrations<DB>(
    pool: &sqlx::Pool<DB>,
    migrations: &[(i64, &'static str, &'static str)],
) -> Result<Vec<i64>, StoreError>
where
    DB: sqlx::Database,
    DB::Connection: Migrate,
{
    let migrations: Vec<Migration> = migrations
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                description.into(),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut conn = pool.acquire().await.map_err(error::map_err)?;
    conn.lock().await.map_err(error::map_migrate_err)?;
    let result = apply_missing(&mut *conn, &migrations).await;
    if conn.unlock().await.is_err() {
        // Never hand a connection that may still hold the migration lock back to the pool.
        conn.close_on_drop();
    }
    result.map_err(error::map_migrate_err)
}

async fn apply_missing<C: Migrate + ?Sized>(
    conn: &mut C,
    migrations: &[Migration],
) -> Result<Vec<i64>, MigrateError> {
    let table = Migrator::DEFAULT.table_name;
    conn.ensure_migrations_table(&table).await?;
    if let Some(version) = conn.dirty_version(&table).await? {
        return Err(MigrateError::Dirty(version));
    }
    let applied = conn.list_applied_migrations(&table).await?;
    for done in &applied {
        match migrations.iter().find(|m| m.version == done.version) {
            None => return Err(MigrateError::VersionMissing(done.version)),
            Some(m) if m.checksum != done.checksum => {
                return Err(MigrateError::VersionMismatch(m.version));
            }
            Some(_) => {}
        }
    }
    let done: BTreeSet<i64> = applied.iter().map(|m| m.version).collect();
    let mut newly = Vec::new();
    for m in migrations.iter().filter(|m| !done.contains(&m.version)) {
        conn.apply(&table, m).await?;
        newly.push(m.version);
    }
    Ok(newly)
}

/// Helpers for tests that need a database of their own.
pub mod testing {
    use lanyard_core::store::StoreError;
    use sqlx::{AssertSqlSafe, Connection, Executor};

    use crate::error::map_err;

    /// Connects to `base_url` (e.g. `postgres://postgres@127.0.0.1:5432/test`), creates a database
    /// with a unique random name (`lanyard_test_<uuid>`) and returns the URL of that database, so
    /// that each test runs in isolation. The databases are not dropped.
    pub async fn fresh_postgres_database(base_url: &str) -> Result<String, StoreError> {
        let options = crate::postgres::options(base_url)?;
        let target = crate::postgres::describe(&options);
        let mut conn = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            sqlx::PgConnection::connect_with(&options),
        )
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!("timed out connecting to PostgreSQL at {target}"))
        })?
        .map_err(|e| match map_err(e) {
            StoreError::Unavailable(m) | StoreError::Conflict(m) | StoreError::Corrupt(m) => {
                StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {m}"))
            }
        })?;
        let name = format!("lanyard_test_{}", uuid::Uuid::new_v4().simple());
        // The name is generated above from [a-z0-9_] only, so formatting it into SQL is safe;
        // CREATE DATABASE takes no bind parameters.
        conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE DATABASE \"{name}\""
        ))))
        .await
        .map_err(map_err)?;
        conn.close().await.map_err(map_err)?;
        Ok(with_database(base_url, &name))
    }

    /// Drops a database made by [`fresh_postgres_database`] (connecting through `base_url`),
    /// disconnecting anyone still using it. Refuses any name that function does not generate.
    pub async fn drop_postgres_database(
        base_url: &str,
        database_url: &str,
    ) -> Result<(), StoreError> {
        let name = crate::postgres::options(database_url)?
            .get_database()
            .unwrap_or_default()
            .to_string();
        let generated = name
            .strip_prefix("lanyard_test_")
            .is_some_and(|id| id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()));
        if !generated {
            return Err(StoreError::Conflict(format!(
                "refusing to drop database {name:?}: not a lanyard_test_ database"
            )));
        }
        let options = crate::postgres::options(base_url)?;
        let mut conn = sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(map_err)?;
        // Safe to format: checked above to be lanyard_test_ and 32 hex digits.
        conn.execute(sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        ))))
        .await
        .map_err(map_err)?;
        conn.close().await.map_err(map_err)?;
        Ok(())
    }

    /// `url` with its path (the database name) replaced by `database`; query string kept.
    pub(crate) fn with_database(url: &str, database: &str) -> String {
        let (main, query) = match url.split_once('?') {
            Some((main, query)) => (main, Some(query)),
            None => (url, None),
        };
        let authority_start = main.find("://").map_or(0, |i| i + 3);
        let base = match main[authority_start..].find('/') {
            Some(i) => &main[..authority_start + i],
            None => main,
        };
        match query {
            Some(q) => format!("{base}/{database}?{q}"),
            None => format!("{base}/{database}"),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::with_database;

        #[test]
        fn database_name_is_replaced() {
            assert_eq!(
                with_database("postgres://u@h:5432/test", "x"),
                "postgres://u@h:5432/x"
            );
            assert_eq!(
                with_database("postgres://u@h/test?sslmode=disable", "x"),
                "postgres://u@h/x?sslmode=disable"
            );
            assert_eq!(
                with_database("postgresql://u:p@h", "x"),
                "postgresql://u:p@h/x"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::scheme;

    #[test]
    fn embedded_migrations_match_the_folders() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        for (backend, embedded) in [
            ("sqlite", crate::sqlite::MIGRATIONS),
            ("postgres", crate::postgres::MIGRATIONS),
        ] {
            let mut files: Vec<String> = std::fs::read_dir(root.join(backend))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let expected: Vec<String> = embedded
                .iter()
                .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
                .collect();
            assert_eq!(
                files, expected,
                "{backend}: every file in migrations/{backend} must be embedded, in order"
            );
            for (name, (_, _, sql)) in files.iter().zip(embedded.iter()) {
                assert_eq!(
                    &std::fs::read_to_string(root.join(backend).join(name)).unwrap(),
                    sql
                );
            }
        }
        let versions = |m: &[(i64, &str, &str)]| {
            m.iter()
                .map(|(v, d, _)| (*v, d.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            versions(crate::sqlite::MIGRATIONS),
            versions(crate::postgres::MIGRATIONS)
        );
    }

    #[test]
    fn scheme_is_parsed_without_leaking_the_rest() {
        assert_eq!(scheme("sqlite::memory:").as_deref(), Some("sqlite"));
        assert_eq!(scheme("SQLite://x.db").as_deref(), Some("sqlite"));
        assert_eq!(scheme("postgres://u:p@h/db").as_deref(), Some("postgres"));
        assert_eq!(scheme("user pass@host:5432"), None);
        assert_eq!(scheme("no-scheme"), None);
    }
}
