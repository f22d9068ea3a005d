//! Contract suite: one set of behaviour tests for `lanyard_core::store::Store`, run against every
//! backend. SQLite (a temporary file) always runs; PostgreSQL runs when
//! `LANYARD_TEST_DATABASE_URL` is set (e.g. `postgres://postgres@127.0.0.1:5432/test`), each test
//! in a database of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lanyard_store::Database;

/// What every module of the suite uses.
mod prelude {
    pub(crate) use std::collections::BTreeSet;
    pub(crate) use std::sync::Arc;

    pub(crate) use chrono::{DateTime, Duration, Utc};
    pub(crate) use lanyard_core::model::*;
    pub(crate) use lanyard_core::oidc::claims::ClaimsRequest;
    pub(crate) use lanyard_core::store::{Store, StoreError};
    pub(crate) use lanyard_store::Database;
    pub(crate) use uuid::Uuid;

    pub(crate) use crate::fixtures::*;
    pub(crate) use crate::{PG_ENV, postgres_db, sqlite_db};
}

pub(crate) const PG_ENV: &str = "LANYARD_TEST_DATABASE_URL";

pub(crate) async fn sqlite_db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet: connect must create it.
    let url = format!("sqlite://{}/nested/lanyard.db", dir.path().display());
    let db = Database::connect(&url, 4).await.unwrap();
    assert_eq!(
        db.migrate().await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    );
    (dir, db)
}

/// A migrated database of its own for one test, or None (with a note) when PostgreSQL tests are
/// not configured. `finish` drops it when the test passed; a failed test leaves it to inspect.
pub(crate) async fn postgres_db(test: &str) -> Option<PgTestDb> {
    let Some(base) = std::env::var(PG_ENV).ok().filter(|v| !v.is_empty()) else {
        println!("{test}: skipped, {PG_ENV} is not set");
        return None;
    };
    let url = lanyard_store::testing::fresh_postgres_database(&base)
        .await
        .unwrap();
    let db = Database::connect(&url, 4).await.unwrap();
    assert_eq!(
        db.migrate().await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    );
    Some(PgTestDb { db, base, url })
}

pub(crate) struct PgTestDb {
    pub(crate) db: Database,
    base: String,
    url: String,
}

impl PgTestDb {
    async fn finish(self) {
        self.db.close().await;
        lanyard_store::testing::drop_postgres_database(&self.base, &self.url)
            .await
            .unwrap();
    }
}

/// Declares each contract test once per backend: `name => sqlite_name, postgres_name;`.
macro_rules! contract {
    ($($test:ident => $sqlite:ident, $postgres:ident;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $sqlite() {
                let (_dir, db) = sqlite_db().await;
                let store = db.store();
                assert_eq!(store.backend(), "sqlite");
                $test(store).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $postgres() {
                let Some(pg) = postgres_db(stringify!($postgres)).await else { return };
                let store = pg.db.store();
                assert_eq!(store.backend(), "postgres");
                $test(store).await;
                pg.finish().await;
            }
        )*
    };
}

mod assertions;
mod audit;
mod clients;
mod consents;
mod database;
mod email;
mod federation;
mod fixtures;
mod grants;
mod groups;
mod keys;
mod maintenance;
mod mfa;
mod passkeys;
mod reencryption;
mod sessions;
mod throttle;
mod users;
