//! Contract: database-level behaviour.
use crate::prelude::*;

#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_database_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let db = Database::connect(&format!("sqlite://{}", path.display()), 2)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

#[tokio::test]
async fn sqlite_migrate_is_idempotent() {
    let (dir, db) = sqlite_db().await;
    assert_eq!(db.migrate().await.unwrap(), Vec::<i64>::new());
    assert_eq!(db.backend(), "sqlite");
    db.close().await;
    // Reopening the file finds the schema in place.
    let url = format!("sqlite://{}/nested/lanyard.db", dir.path().display());
    let again = Database::connect(&url, 2).await.unwrap();
    assert_eq!(again.migrate().await.unwrap(), Vec::<i64>::new());
    again.store().ping().await.unwrap();
}

#[tokio::test]
async fn postgres_migrate_is_idempotent() {
    let Some(pg) = postgres_db("postgres_migrate_is_idempotent").await else {
        return;
    };
    assert_eq!(pg.db.migrate().await.unwrap(), Vec::<i64>::new());
    assert_eq!(pg.db.backend(), "postgres");
    // Several replicas migrating one fresh database at once: each migration is applied once.
    let base = pg.base.clone();
    let fresh = lanyard_store::testing::fresh_postgres_database(&base)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let url = fresh.clone();
        tasks.push(tokio::spawn(async move {
            let db = Database::connect(&url, 2).await.unwrap();
            let applied = db.migrate().await.unwrap();
            db.close().await;
            applied
        }));
    }
    let mut applied = Vec::new();
    for t in tasks {
        applied.extend(t.await.unwrap());
    }
    assert_eq!(applied, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    lanyard_store::testing::drop_postgres_database(&base, &fresh)
        .await
        .unwrap();
    // Only generated test databases can be dropped.
    assert!(
        lanyard_store::testing::drop_postgres_database(&base, &base)
            .await
            .is_err()
    );
    pg.finish().await;
}

/// sqlx's own migrator holding only `migrations`: what created a database of an earlier release.
pub(crate) fn old_migrator(
    migrations: &[(i64, &'static str, &'static str)],
) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    Migrator::with_migrations(
        migrations
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
            .collect(),
    )
}

/// Migration 1 only: the first release.
pub(crate) fn v1_migrator(sql: &'static str) -> sqlx::migrate::Migrator {
    old_migrator(&[(1, "init", sql)])
}

/// A client row as the previous release wrote it: its metadata has no `require_mfa`.
pub(crate) async fn insert_v1_client<DB>(pool: &sqlx::Pool<DB>)
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    sqlx::types::Json<serde_json::Value>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut metadata = serde_json::to_value(client("legacy")).unwrap();
    metadata
        .as_object_mut()
        .unwrap()
        .remove("require_mfa")
        .unwrap();
    sqlx::query("INSERT INTO clients (client_id, secret_hash, metadata) VALUES ($1, NULL, $2)")
        .bind("legacy")
        .bind(sqlx::types::Json(metadata))
        .execute(pool)
        .await
        .unwrap();
}

/// A user row as releases before migration 6 wrote it (no session epoch column yet).
pub(crate) async fn insert_old_user<DB>(pool: &sqlx::Pool<DB>, u: &User)
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<&'q str>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Uuid: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO users (id, username, email, email_verified, password_hash, disabled, \
         phone_number_verified, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(u.id)
    .bind(u.username.as_str())
    .bind(u.email.as_deref())
    .bind(u.email_verified)
    .bind(u.password_hash.as_deref())
    .bind(u.disabled)
    .bind(u.phone_number_verified)
    .bind(u.created_at)
    .bind(u.updated_at)
    .execute(pool)
    .await
    .unwrap();
}

/// After upgrading a v1 database: the old rows are intact and the new tables work.
pub(crate) async fn upgraded_database_works(store: Arc<dyn Store>, old_user: &User) {
    assert_eq!(
        store.get_user(old_user.id).await.unwrap().as_ref(),
        Some(old_user)
    );
    let legacy = store.get_client("legacy").await.unwrap().unwrap();
    assert!(!legacy.require_mfa);
    assert_eq!(
        legacy,
        Client {
            secret_hash: None,
            ..client("legacy")
        }
    );
    store
        .enable_totp(&totp(old_user.id), &hashes(2))
        .await
        .unwrap();
    assert!(store.accept_totp_step(old_user.id, 1).await.unwrap());
    assert!(store.add_to_group(old_user.id, "admins").await.unwrap());
    store.record_failure("user:old", t0()).await.unwrap();
    assert_eq!(
        store
            .count_failures("user:old", t0(), None, t0() - Duration::days(3650))
            .await
            .unwrap()
            .count,
        1
    );
    federation_works_after_upgrade(&store, old_user).await;
    assert!(store.delete_user(old_user.id).await.unwrap());
    assert_eq!(store.list_groups().await.unwrap(), vec![]);
    assert_eq!(store.list_totp().await.unwrap(), vec![]);
    assert_eq!(store.get_identity("corp", "old-1").await.unwrap(), None);
}

/// Migration 3 on a database with users: the email index covers them, identities link to them.
pub(crate) async fn federation_works_after_upgrade(store: &Arc<dyn Store>, old_user: &User) {
    let email = old_user.email.as_deref().unwrap();
    assert_eq!(
        store
            .find_users_by_email(&email.to_ascii_uppercase())
            .await
            .unwrap(),
        vec![old_user.clone()]
    );
    let linked = identity("corp", "old-1", old_user.id);
    store.link_identity(&linked).await.unwrap();
    assert_eq!(
        store.list_identities(old_user.id).await.unwrap(),
        vec![linked]
    );
}

/// A user as an earlier release wrote it, with a mixed-case email.
pub(crate) fn old_user() -> User {
    User {
        email: Some("Old@Example.com".into()),
        ..User::new("old", t0())
    }
}

#[tokio::test]
async fn sqlite_v1_database_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/v1.db", dir.path().display());
    let old_user = old_user();
    {
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        v1_migrator(include_str!("../../../../migrations/sqlite/0001_init.sql"))
            .run(&pool)
            .await
            .unwrap();
        insert_old_user(&pool, &old_user).await;
        insert_v1_client(&pool).await;
        pool.close().await;
    }
    let db = Database::connect(&url, 2).await.unwrap();
    assert_eq!(
        db.migrate().await.unwrap(),
        vec![2, 3, 4, 5, 6, 7, 8, 9, 10]
    );
    assert_eq!(db.migrate().await.unwrap(), Vec::<i64>::new());
    upgraded_database_works(db.store(), &old_user).await;
}

#[tokio::test]
async fn postgres_v1_database_is_upgraded() {
    let Some(base) = std::env::var(PG_ENV).ok().filter(|v| !v.is_empty()) else {
        println!("postgres_v1_database_is_upgraded: skipped, {PG_ENV} is not set");
        return;
    };
    let url = lanyard_store::testing::fresh_postgres_database(&base)
        .await
        .unwrap();
    let old_user = old_user();
    {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        v1_migrator(include_str!(
            "../../../../migrations/postgres/0001_init.sql"
        ))
        .run(&pool)
        .await
        .unwrap();
        insert_old_user(&pool, &old_user).await;
        insert_v1_client(&pool).await;
        pool.close().await;
    }
    let db = Database::connect(&url, 2).await.unwrap();
    assert_eq!(
        db.migrate().await.unwrap(),
        vec![2, 3, 4, 5, 6, 7, 8, 9, 10]
    );
    assert_eq!(db.migrate().await.unwrap(), Vec::<i64>::new());
    upgraded_database_works(db.store(), &old_user).await;
    db.close().await;
    lanyard_store::testing::drop_postgres_database(&base, &url)
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_v2_database_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/v2.db", dir.path().display());
    let old_user = old_user();
    {
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        old_migrator(&[
            (
                1,
                "init",
                include_str!("../../../../migrations/sqlite/0001_init.sql"),
            ),
            (
                2,
                "mfa",
                include_str!("../../../../migrations/sqlite/0002_mfa.sql"),
            ),
        ])
        .run(&pool)
        .await
        .unwrap();
        insert_old_user(&pool, &old_user).await;
        pool.close().await;
    }
    let db = Database::connect(&url, 2).await.unwrap();
    assert_eq!(db.migrate().await.unwrap(), vec![3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(db.migrate().await.unwrap(), Vec::<i64>::new());
    let store = db.store();
    assert_eq!(
        store.get_user(old_user.id).await.unwrap(),
        Some(old_user.clone())
    );
    federation_works_after_upgrade(&store, &old_user).await;
    assert!(store.delete_user(old_user.id).await.unwrap());
    assert_eq!(store.get_identity("corp", "old-1").await.unwrap(), None);
}

#[tokio::test]
async fn postgres_v2_database_is_upgraded() {
    let Some(base) = std::env::var(PG_ENV).ok().filter(|v| !v.is_empty()) else {
        println!("postgres_v2_database_is_upgraded: skipped, {PG_ENV} is not set");
        return;
    };
    let url = lanyard_store::testing::fresh_postgres_database(&base)
        .await
        .unwrap();
    let old_user = old_user();
    {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        old_migrator(&[
            (
                1,
                "init",
                include_str!("../../../../migrations/postgres/0001_init.sql"),
            ),
            (
                2,
                "mfa",
                include_str!("../../../../migrations/postgres/0002_mfa.sql"),
            ),
        ])
        .run(&pool)
        .await
        .unwrap();
        insert_old_user(&pool, &old_user).await;
        pool.close().await;
    }
    let db = Database::connect(&url, 2).await.unwrap();
    assert_eq!(db.migrate().await.unwrap(), vec![3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(db.migrate().await.unwrap(), Vec::<i64>::new());
    let store = db.store();
    assert_eq!(
        store.get_user(old_user.id).await.unwrap(),
        Some(old_user.clone())
    );
    federation_works_after_upgrade(&store, &old_user).await;
    assert!(store.delete_user(old_user.id).await.unwrap());
    assert_eq!(store.get_identity("corp", "old-1").await.unwrap(), None);
    db.close().await;
    lanyard_store::testing::drop_postgres_database(&base, &url)
        .await
        .unwrap();
}

#[tokio::test]
async fn sqlite_in_memory_database_works() {
    // max_connections is forced to 1, so every query sees the same database.
    let db = Database::connect("sqlite::memory:", 8).await.unwrap();
    assert_eq!(
        db.migrate().await.unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    );
    let store = db.store();
    let u = new_user(&store, "alice").await;
    assert_eq!(store.get_user(u.id).await.unwrap(), Some(u));
    let g = grant(None, t0() + Duration::hours(1));
    store
        .create_grant(&g, Some(&refresh(g.id, t0() + Duration::hours(1))))
        .await
        .unwrap();
    assert!(store.grant_is_active(g.id, t0()).await.unwrap());
}

#[tokio::test]
pub(crate) async fn unsupported_scheme_is_named_without_the_password() {
    let err = Database::connect("mysql://admin:hunter2@db.example/lanyard", 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("mysql"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = Database::connect("admin:hunter2@db.example", 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
pub(crate) async fn unreachable_postgres_fails_fast_without_the_password() {
    let started = std::time::Instant::now();
    let err = Database::connect("postgres://lanyard:hunter2@127.0.0.1:1/lanyard", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("127.0.0.1:1"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

#[test]
pub(crate) fn migration_folders_match() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let names = |backend: &str| -> BTreeSet<String> {
        std::fs::read_dir(root.join(backend))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let sqlite = names("sqlite");
    let postgres = names("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres must hold the same file names"
    );
    for name in &sqlite {
        let (version, rest) = name.split_once('_').unwrap();
        assert!(
            version.len() == 4 && version.chars().all(|c| c.is_ascii_digit()),
            "{name}: expected NNNN_description.sql"
        );
        assert!(rest.ends_with(".sql"), "{name}");
    }
}
