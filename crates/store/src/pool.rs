//! The one place the two backends differ.
//!
//! Every store method is written once, as ordinary code in the file of its aggregate
//! (`users.rs`, `grants.rs`, ...), inside [`with_pool!`]: the macro runs the body against
//! whichever pool this is, so the body is compiled once per backend against its concrete sqlx
//! pool type (native types, no `Any` driver) while being written, formatted and read once. The
//! SQL is shared: `$N` placeholders work on both (SQLite binds a repeated `$N` to the same
//! argument), and columns use each backend's native types (see the migrations). What really
//! differs is the two hooks of [`Backend`]: how a write transaction begins, and the lock around
//! first-start key creation.
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

/// The database behind a store.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    /// "sqlite" or "postgres".
    pub(crate) fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// A body's own result type, before the store maps its errors.
pub(crate) type Sql<T> = Result<T, sqlx::Error>;

/// Runs `$body` with `$pool` bound to the store's concrete pool; the body evaluates to a
/// [`Sql<T>`] and the result is mapped to the store's errors (`StoreResult<T>`). A body that
/// needs several statements is an `async { ... }.await` block.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::pool::Pool::Sqlite($pool) => $body,
            $crate::pool::Pool::Postgres($pool) => $body,
        }
        .map_err($crate::error::map_err)
    };
}
pub(crate) use with_pool;

/// Per-backend behaviour that SQL text alone cannot express.
pub(crate) trait Backend {
    type Db: sqlx::Database;

    /// A transaction that will write. On SQLite `BEGIN IMMEDIATE` takes the write lock up front
    /// (waiting up to `busy_timeout`), so a transaction that reads before it writes never fails
    /// with "database is locked" when it upgrades; PostgreSQL's READ COMMITTED needs nothing: the
    /// statements that must be single-use guard themselves (`WHERE used_at IS NULL`), which
    /// PostgreSQL re-checks after waiting on a row lock.
    async fn begin_write(&self) -> Sql<Transaction<'static, Self::Db>>;

    /// Serialises first-start signing-key creation across processes, until the transaction
    /// ends: `pg_advisory_xact_lock` on PostgreSQL; on SQLite `BEGIN IMMEDIATE` already does.
    async fn lock_signing_keys(tx: &mut Transaction<'static, Self::Db>) -> Sql<()>;
}

/// `pg_advisory_xact_lock` key for first-start signing-key creation ("lanyard" + "keys" in ASCII,
/// so it cannot collide with sqlx's migration lock by accident).
const SIGNING_KEYS_LOCK: i64 = 0x6c61_6e79_6172_6b79;

impl Backend for SqlitePool {
    type Db = Sqlite;

    async fn begin_write(&self) -> Sql<Transaction<'static, Sqlite>> {
        self.begin_with("BEGIN IMMEDIATE").await
    }

    async fn lock_signing_keys(_tx: &mut Transaction<'static, Sqlite>) -> Sql<()> {
        Ok(())
    }
}

impl Backend for PgPool {
    type Db = Postgres;

    async fn begin_write(&self) -> Sql<Transaction<'static, Postgres>> {
        self.begin().await
    }

    async fn lock_signing_keys(tx: &mut Transaction<'static, Postgres>) -> Sql<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SIGNING_KEYS_LOCK)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
