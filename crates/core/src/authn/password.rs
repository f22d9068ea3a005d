//! Password hashing and verification.
//!
//! argon2id with OWASP parameters by default (m = 19456 KiB, t = 2, p = 1). Hashing is CPU-bound
//! and memory-hungry, so it runs on its own threads (one per core by default), each reusing one
//! block of argon2 memory, fed by a bounded queue: a burst of logins queues, and beyond the queue
//! is told to come back, instead of starving the async runtime or growing memory.
//! Unknown users are checked against a dummy hash so response time does not reveal who exists.
//! bcrypt hashes from imported user bases are verified and flagged for upgrade to argon2id.
use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;

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
    /// More hashes are waiting than the queue holds: come back later.
    #[error("too many password checks are waiting")]
    Busy,
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

/// Password checks waiting per hashing thread before new ones are refused (`Busy`): at about
/// 50 hashes a second per thread with the OWASP parameters, a wait of well under a second.
pub const QUEUE_PER_WORKER: usize = 32;

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// A hashing thread's argon2 working memory, allocated once and reused for every hash: the
/// process holds `workers × m_cost` KiB for hashing, whatever the load.
pub struct Memory(Vec<Block>);

impl Memory {
    fn for_params(params: &Params) -> Self {
        Self(vec![Block::new(); params.block_count()])
    }

    /// Blocks for `params`: this thread's own when they fit (the configured parameters, or
    /// weaker ones of an older hash), otherwise a one-off allocation.
    fn blocks(&mut self, params: &Params) -> BlocksRef<'_> {
        let n = params.block_count();
        match self.0.get_mut(..n) {
            Some(own) => BlocksRef::Own(own),
            None => BlocksRef::OneOff(vec![Block::new(); n]),
        }
    }
}

enum BlocksRef<'a> {
    Own(&'a mut [Block]),
    OneOff(Vec<Block>),
}

impl AsMut<[Block]> for BlocksRef<'_> {
    fn as_mut(&mut self) -> &mut [Block] {
        match self {
            Self::Own(b) => b,
            Self::OneOff(v) => v,
        }
    }
}

/// argon2id on a fixed set of threads (one per core by default) fed by a bounded queue.
/// Hashing is CPU-bound and memory-hungry: it must neither starve the async runtime nor grow
/// memory with load, and a burst beyond the queue is told to come back (`Busy`, a 503 upstream)
/// instead of waiting without bound.
#[derive(Clone)]
pub struct PasswordHasherPool {
    params: Argon2Params,
    jobs: std::sync::mpsc::SyncSender<Job>,
    dummy: Arc<String>,
    workers: usize,
    /// Hashes queued or running (a gauge for `/metrics`).
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

impl std::fmt::Debug for PasswordHasherPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasherPool")
            .field("params", &self.params)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl PasswordHasherPool {
    pub fn new(params: Argon2Params, workers: usize) -> Result<Self, PasswordError> {
        let workers = workers.max(1);
        let argon_params = argon(params)?.params().clone();
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(workers * QUEUE_PER_WORKER);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..workers {
            let queue = queue.clone();
            let argon_params = argon_params.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&queue, &argon_params))
                .map_err(|e| PasswordError::Hash(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self {
            params,
            jobs,
            dummy: Arc::new(dummy_hash(params)),
            workers,
            in_flight: Default::default(),
        })
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// Hashes queued or running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn hash(&self, password: Secret<String>) -> Result<String, PasswordError> {
        let params = self.params;
        self.run(move |memory| hash_with(params, password.expose().as_bytes(), memory))
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
        self.run(move |memory| match stored {
            Some(hash) => verify_with(params, password.expose(), &hash, memory),
            None => {
                let _ = verify_with(params, password.expose(), &dummy, memory);
                Ok(Verified::No)
            }
        })
        .await?
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        use std::sync::atomic::Ordering;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let in_flight = self.in_flight.clone();
        in_flight.fetch_add(1, Ordering::Relaxed);
        let done = in_flight.clone();
        let job: Job = Box::new(move |memory| {
            let _ = tx.send(f(memory));
            done.fetch_sub(1, Ordering::Relaxed);
        });
        self.jobs.try_send(job).map_err(|e| {
            in_flight.fetch_sub(1, Ordering::Relaxed);
            match e {
                std::sync::mpsc::TrySendError::Full(_) => PasswordError::Busy,
                std::sync::mpsc::TrySendError::Disconnected(_) => PasswordError::Worker,
            }
        })?;
        rx.await.map_err(|_| PasswordError::Worker)
    }
}

/// A hashing thread: its memory is allocated at its first hash and released after `IDLE`
/// without work, so an idle server holds none of it.
fn worker(queue: &std::sync::Mutex<std::sync::mpsc::Receiver<Job>>, params: &Params) {
    use std::sync::mpsc::RecvTimeoutError;
    // The lowest priority (nice 19): a request that hashes nothing (discovery, tokens) is
    // served before the next slice of a hash, so a flood of sign-ins cannot slow it down. When
    // nothing else runs, hashing still gets the whole CPU.
    if let Err(e) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        tracing::debug!(error = ?e, "hashing thread priority unchanged");
    }
    let mut memory: Option<Memory> = None;
    loop {
        let job = {
            let rx = queue.lock().unwrap_or_else(|e| e.into_inner());
            rx.recv_timeout(IDLE)
        };
        match job {
            Ok(job) => job(memory.get_or_insert_with(|| Memory::for_params(params))),
            Err(RecvTimeoutError::Timeout) => memory = None,
            Err(RecvTimeoutError::Disconnected) => return, // every pool handle dropped
        }
    }
}

/// How long a hashing thread keeps its memory without work.
const IDLE: std::time::Duration = std::time::Duration::from_secs(30);

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

/// What an unknown user's password is checked against, so that the work (and the time) is the
/// same as for a known one: a PHC string with the configured parameters and a random salt and
/// output. Nothing hashes to it; making it costs nothing at start.
fn dummy_hash(params: Argon2Params) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD_NO_PAD.encode(b);
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        b64(&crate::secret::random_bytes::<16>()),
        b64(&crate::secret::random_bytes::<32>())
    )
}

/// Hash with fresh memory (the CLI and tools; the server hashes through `PasswordHasherPool`).
pub fn hash_blocking(params: Argon2Params, password: &str) -> Result<String, PasswordError> {
    let mut memory = Memory::for_params(argon(params)?.params());
    hash_with(params, password.as_bytes(), &mut memory)
}

/// A PHC string for `password` under `params` with a random salt, hashed on `memory`.
fn hash_with(
    params: Argon2Params,
    password: &[u8],
    memory: &mut Memory,
) -> Result<String, PasswordError> {
    let argon = argon(params)?;
    let salt = crate::secret::random_bytes::<16>();
    let mut out = [0u8; 32];
    argon
        .hash_password_into_with_memory(password, &salt, &mut out, memory.blocks(argon.params()))
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD_NO_PAD.encode(b);
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        b64(&salt),
        b64(&out)
    ))
}

pub fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

/// Verify with fresh memory (tests and tools; the server verifies through the pool).
pub fn verify_blocking(
    params: Argon2Params,
    password: &str,
    stored: &str,
) -> Result<Verified, PasswordError> {
    let mut memory = Memory::for_params(argon(params)?.params());
    verify_with(params, password, stored, &mut memory)
}

fn verify_with(
    params: Argon2Params,
    password: &str,
    stored: &str,
    memory: &mut Memory,
) -> Result<Verified, PasswordError> {
    let rehash = |memory: &mut Memory| hash_with(params, password.as_bytes(), memory);
    if is_bcrypt(stored) {
        return Ok(match bcrypt::verify(password, stored) {
            Ok(true) => Verified::YesRehash(rehash(memory)?),
            _ => Verified::No,
        });
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Ok(Verified::No);
    };
    if !matches_argon2(&parsed, password.as_bytes(), memory) {
        return Ok(Verified::No);
    }
    let weaker = parsed.algorithm.as_str() != "argon2id"
        || Params::try_from(&parsed).map(|p| {
            p.m_cost() < params.memory_kib
                || p.t_cost() < params.iterations
                || p.p_cost() < params.parallelism
        }) != Ok(false);
    if weaker {
        Ok(Verified::YesRehash(rehash(memory)?))
    } else {
        Ok(Verified::Yes)
    }
}

/// Whether `password` hashes to the stored argon2 PHC hash, compared in constant time.
fn matches_argon2(hash: &PasswordHash, password: &[u8], memory: &mut Memory) -> bool {
    let (Ok(algorithm), Some(salt), Some(expected)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        hash.salt.as_ref(),
        hash.hash.as_ref(),
    ) else {
        return false;
    };
    let version = hash
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .unwrap_or(Version::V0x13);
    let Ok(mut params) = Params::try_from(hash) else {
        return false;
    };
    let mut builder = argon2::ParamsBuilder::new();
    builder
        .m_cost(params.m_cost())
        .t_cost(params.t_cost())
        .p_cost(params.p_cost())
        .output_len(expected.len());
    if let Ok(p) = builder.build() {
        params = p;
    }
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let blocks = memory.blocks(argon.params());
    argon
        .hash_password_into_with_memory(password, salt.as_ref(), &mut out, blocks)
        .is_ok()
        && crate::secret::ct_eq(&out, expected.as_bytes())
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
    fn hashes_are_standard_phc_strings_the_argon2_crate_accepts() {
        use argon2::password_hash::PasswordVerifier;
        let h = hash_blocking(FAST, "correct horse").unwrap();
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(
            argon(FAST)
                .unwrap()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            argon(FAST)
                .unwrap()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
        // And the other way round: a hash made by the crate verifies here.
        use argon2::password_hash::PasswordHasher;
        let theirs = argon(FAST)
            .unwrap()
            .hash_password(b"pw")
            .unwrap()
            .to_string();
        assert_eq!(verify_blocking(FAST, "pw", &theirs).unwrap(), Verified::Yes);
        assert_eq!(verify_blocking(FAST, "no", &theirs).unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn a_full_queue_is_busy_not_a_wait_without_bound() {
        let slow = Argon2Params {
            memory_kib: 8 * 1024,
            iterations: 3,
            parallelism: 1,
        };
        let pool = PasswordHasherPool::new(slow, 1).unwrap();
        let checks: Vec<_> = (0..QUEUE_PER_WORKER + 8)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.verify(Secret::new("pw".into()), None).await })
            })
            .collect();
        let mut busy = 0;
        for c in checks {
            match c.await.unwrap() {
                Ok(Verified::No) => {}
                Err(PasswordError::Busy) => busy += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(busy >= 1, "beyond the queue, checks are refused");
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
