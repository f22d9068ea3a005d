//! Password hashing and verification.
//!
//! argon2id with OWASP parameters by default (m = 19456 KiB, t = 2, p = 1). Hashing is CPU-bound
//! and memory-hungry, so it runs on the blocking pool behind a semaphore sized to the core count:
//! a burst of logins queues instead of starving the async runtime or exhausting memory.
//! Unknown users are checked against a dummy hash so response time does not reveal who exists.
//! bcrypt hashes from imported user bases are verified and flagged for upgrade to argon2id.
use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP Password Storage Cheat Sheet, argon2id option 2.
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("hashing worker stopped")]
    Worker,
}

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, and the stored hash should be replaced with this new argon2id hash (bcrypt import,
    /// or argon2 parameters weaker than the configured ones).
    YesRehash(String),
}

#[derive(Clone, Debug)]
pub struct PasswordHasherPool {
    params: Argon2Params,
    permits: Arc<Semaphore>,
    dummy: Arc<String>,
}

impl PasswordHasherPool {
    pub fn new(params: Argon2Params, concurrency: usize) -> Result<Self, PasswordError> {
        let argon = argon(params)?;
        let dummy = argon
            .hash_password(b"lanyard-dummy-password-for-timing")
            .map_err(|e| PasswordError::Hash(e.to_string()))?
            .to_string();
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(dummy),
        })
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    pub async fn hash(&self, password: Secret<String>) -> Result<String, PasswordError> {
        let params = self.params;
        self.run(move || hash_blocking(params, password.expose()))
            .await?
    }

    /// Verify `password` against `stored`; with `stored = None` (unknown user, or a user without a
    /// local password) the dummy hash is checked so the work done is the same, and the answer is No.
    pub async fn verify(
        &self,
        password: Secret<String>,
        stored: Option<String>,
    ) -> Result<Verified, PasswordError> {
        let params = self.params;
        let dummy = self.dummy.clone();
        self.run(move || match stored {
            Some(hash) => verify_blocking(params, password.expose(), &hash),
            None => {
                let _ = verify_blocking(params, password.expose(), &dummy);
                Ok(Verified::No)
            }
        })
        .await?
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Worker)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|_| PasswordError::Worker)
    }
}

fn argon(params: Argon2Params) -> Result<Argon2<'static>, PasswordError> {
    let p = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    )
    .map_err(|e| PasswordError::Params(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
}

pub fn hash_blocking(params: Argon2Params, password: &str) -> Result<String, PasswordError> {
    Ok(argon(params)?
        .hash_password(password.as_bytes())
        .map_err(|e| PasswordError::Hash(e.to_string()))?
        .to_string())
}

pub fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

pub fn verify_blocking(
    params: Argon2Params,
    password: &str,
    stored: &str,
) -> Result<Verified, PasswordError> {
    if is_bcrypt(stored) {
        return Ok(match bcrypt::verify(password, stored) {
            Ok(true) => Verified::YesRehash(hash_blocking(params, password)?),
            _ => Verified::No,
        });
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Ok(Verified::No);
    };
    let argon = argon(params)?;
    if argon.verify_password(password.as_bytes(), stored).is_err() {
        return Ok(Verified::No);
    }
    let weaker = parsed.algorithm.as_str() != "argon2id"
        || Params::try_from(&parsed).map(|p| {
            p.m_cost() < params.memory_kib
                || p.t_cost() < params.iterations
                || p.p_cost() < params.parallelism
        }) != Ok(false);
    if weaker {
        Ok(Verified::YesRehash(hash_blocking(params, password)?))
    } else {
        Ok(Verified::Yes)
    }
}

/// A stored hash is acceptable input for import/CLI: argon2 PHC or bcrypt.
pub fn is_supported_hash(hash: &str) -> bool {
    is_bcrypt(hash) && hash.len() == 60
        || PasswordHash::new(hash)
            .map(|h| h.algorithm.as_str().starts_with("argon2"))
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Argon2Params = Argon2Params {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn hash_and_verify() {
        let pool = PasswordHasherPool::new(FAST, 2).unwrap();
        let h = pool
            .hash(Secret::new("correct horse".into()))
            .await
            .unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(
            pool.verify(Secret::new("correct horse".into()), Some(h.clone()))
                .await
                .unwrap(),
            Verified::Yes
        );
        assert_eq!(
            pool.verify(Secret::new("wrong".into()), Some(h))
                .await
                .unwrap(),
            Verified::No
        );
        assert_eq!(
            pool.verify(Secret::new("x".into()), None).await.unwrap(),
            Verified::No
        );
    }

    #[test]
    fn bcrypt_is_verified_and_upgraded() {
        let stored = bcrypt::hash("s3cret", 4).unwrap();
        assert!(is_bcrypt(&stored) && is_supported_hash(&stored));
        match verify_blocking(FAST, "s3cret", &stored).unwrap() {
            Verified::YesRehash(new) => assert!(new.starts_with("$argon2id$")),
            other => panic!("expected rehash, got {other:?}"),
        }
        assert_eq!(
            verify_blocking(FAST, "nope", &stored).unwrap(),
            Verified::No
        );
    }

    #[test]
    fn weaker_argon_params_are_upgraded() {
        let weak = hash_blocking(
            Argon2Params {
                memory_kib: 512,
                iterations: 1,
                parallelism: 1,
            },
            "pw",
        )
        .unwrap();
        assert!(matches!(
            verify_blocking(FAST, "pw", &weak).unwrap(),
            Verified::YesRehash(_)
        ));
    }

    #[test]
    fn garbage_hash_is_a_no_not_an_error() {
        assert_eq!(
            verify_blocking(FAST, "pw", "not-a-hash").unwrap(),
            Verified::No
        );
        assert!(!is_supported_hash("plain"));
    }
}
