//! What every admin command shares: errors that name the field at fault (exit 2) or say what
//! failed (exit 1), the database, the account operations of core (the same ones the account
//! page uses), and `lanyard migrate`.
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lanyard_config::Settings;
use lanyard_core::accounts::Accounts;
use lanyard_core::authn::password::PasswordHasherPool;
use lanyard_core::clock::{Clock, SystemClock};
use lanyard_core::model::User;
use lanyard_core::oidc::error::ProviderError;
use lanyard_core::store::{Store, StoreError};

use crate::app::{cipher, open_database};

#[derive(Debug)]
pub enum CliError {
    /// The admin's input was wrong (exit 2).
    Input(String),
    /// Something failed (exit 1).
    Failed(String),
}

pub fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Input(m),
            other => Self::Failed(other.to_string()),
        }
    }
}

impl From<ProviderError> for CliError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Store(s) => s.into(),
            other => Self::Failed(other.to_string()),
        }
    }
}

pub async fn store(settings: &Settings) -> Result<Arc<dyn Store>, CliError> {
    Ok(open_database(settings).await.map_err(failed)?.store())
}

/// The account operations, on the configured database.
pub async fn accounts(settings: &Settings) -> Result<Accounts, CliError> {
    let store = store(settings).await?;
    let cipher = Arc::new(cipher(settings).map_err(failed)?);
    let passwords = PasswordHasherPool::new(settings.passwords.argon2, 1).map_err(failed)?;
    Ok(
        Accounts::new(store, cipher, passwords, Arc::new(SystemClock))
            .with_mail(settings.email.is_some()),
    )
}

pub fn now() -> DateTime<Utc> {
    SystemClock.now()
}

/// The user named on the command line.
pub async fn find(accounts: &Accounts, username: &str) -> Result<User, CliError> {
    accounts
        .find(username)
        .await?
        .ok_or_else(|| CliError::Input(format!("user {username:?} does not exist")))
}

pub async fn migrate(settings: &Settings) -> Result<(), CliError> {
    let db = lanyard_store::Database::connect(&settings.database.url, 1)
        .await
        .map_err(failed)?;
    let applied = db.migrate().await.map_err(failed)?;
    if applied.is_empty() {
        println!("database is up to date ({})", db.backend());
    } else {
        println!("applied migrations {applied:?} ({})", db.backend());
    }
    Ok(())
}

/// "10m", "2h", "7d", "45s": at most ten years, like durations in the config file.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    let secs = n.checked_mul(unit_secs).filter(|s| *s <= 3650 * 86_400)?;
    Duration::try_seconds(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10m"), Some(Duration::minutes(10)));
        assert_eq!(parse_duration("7d"), Some(Duration::days(7)));
        assert_eq!(parse_duration("10x"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("99999999999999999d"), None, "no overflow");
        assert_eq!(parse_duration("3651d"), None);
    }
}
