//! The one mapping from sqlx errors to the store's error vocabulary.
use lanyard_core::store::StoreError;

/// Unique and foreign-key violations are `Conflict`; anything that failed to decode is `Corrupt`;
/// everything else (I/O, TLS, pool timeouts, lock timeouts, other server errors) is `Unavailable`.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                StoreError::Conflict(db.message().to_string())
            } else if db.is_foreign_key_violation() {
                StoreError::Conflict(format!("referenced row does not exist: {}", db.message()))
            } else {
                match db.code() {
                    Some(code) => {
                        StoreError::Unavailable(format!("database error {code}: {}", db.message()))
                    }
                    None => StoreError::Unavailable(format!("database error: {}", db.message())),
                }
            }
        }
        e @ (sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::RowNotFound) => StoreError::Corrupt(e.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// Migration errors: SQL failures keep their mapping; a database whose applied migrations do not
/// match this binary's (edited, missing or half-applied migration) is `Corrupt`.
pub(crate) fn map_migrate_err(e: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError;
    let (inner, context) = match e {
        MigrateError::Execute(inner) => (inner, "migrations failed".to_string()),
        MigrateError::ExecuteMigration(inner, version) => {
            (inner, format!("migration {version} failed"))
        }
        other => return StoreError::Corrupt(format!("migrations: {other}")),
    };
    match map_err(inner) {
        StoreError::Conflict(m) => StoreError::Conflict(format!("{context}: {m}")),
        StoreError::Unavailable(m) => StoreError::Unavailable(format!("{context}: {m}")),
        StoreError::Corrupt(m) => StoreError::Corrupt(format!("{context}: {m}")),
    }
}
