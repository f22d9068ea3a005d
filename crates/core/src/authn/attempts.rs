//! Counting attempts against the throttle (DESIGN §3). Every password, code or
//! re-authentication attempt is recorded *before* it is judged, as pending; a failed one then
//! counts as a failure and a successful one is withdrawn. The attempts that may be judged at once
//! are the budget left (the limit minus the failures; one at a time once a lockout has passed):
//! pending attempts fill it, so a burst of parallel guesses cannot outrun the limit, and further
//! attempts *wait* for a slot rather than being refused. Concurrent correct logins of one
//! account therefore queue and all succeed, on every replica (the records are in the database;
//! a replica wakes its own waiters at once and checks for the others' every `RECHECK`).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::Notify;
use uuid::Uuid;

use super::throttle::{ip_subject, user_subject};
use crate::model::FailureCount;
use crate::oidc::error::{ProviderError, ProviderResult};
use crate::provider::Provider;
use crate::types::normalize_username;

/// Attempts of this replica that may wait for a slot at once; beyond, a new one is told the
/// service is busy (503) at once rather than queueing.
const MAX_WAITING: usize = 64;
/// How long an attempt may wait for a slot before the service says it is busy.
const MAX_WAIT: Duration = Duration::from_secs(3);
/// How often a waiting attempt looks again without being woken (another replica's attempts).
const RECHECK: Duration = Duration::from_millis(250);
/// A pending record older than this was abandoned (its process stopped mid-attempt).
const ABANDONED_AFTER: chrono::Duration = chrono::Duration::seconds(60);

/// An attempt in flight (see `Provider::begin_attempt`).
#[derive(Debug)]
pub struct Attempt {
    records: Vec<(String, i64)>,
    /// The account's failures before this attempt; `None` when it names no account.
    prior_user_failures: Option<u64>,
}

/// Wakes the attempts of this replica that wait for a slot of a subject when one frees.
#[derive(Debug, Default)]
pub(crate) struct AttemptSlots {
    waiting: Mutex<HashMap<String, Weak<Notify>>>,
    /// Attempts waiting now.
    queued: std::sync::atomic::AtomicUsize,
}

/// One waiting attempt, counted while it lives.
struct Queued<'a>(&'a AttemptSlots);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0
            .queued
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl AttemptSlots {
    /// Sign-in attempts of this replica waiting for a slot now.
    pub(crate) fn waiting(&self) -> usize {
        self.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn full(&self) -> bool {
        self.queued.load(std::sync::atomic::Ordering::Relaxed) >= MAX_WAITING
    }

    /// Join the queue, unless it is full.
    fn enqueue(&self) -> Option<Queued<'_>> {
        use std::sync::atomic::Ordering;
        let before = self.queued.fetch_add(1, Ordering::Relaxed);
        let ticket = Queued(self);
        (before < MAX_WAITING).then_some(ticket)
    }
}

impl AttemptSlots {
    fn notify_for(&self, subject: &str) -> Arc<Notify> {
        let mut map = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get(subject).and_then(Weak::upgrade) {
            return n;
        }
        if map.len() > 10_000 {
            map.retain(|_, w| w.strong_count() > 0);
        }
        let n = Arc::new(Notify::new());
        map.insert(subject.to_string(), Arc::downgrade(&n));
        n
    }

    /// A slot of `subject` freed: one waiter may take it.
    fn freed(&self, subject: &str) {
        let map = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get(subject).and_then(Weak::upgrade) {
            n.notify_one();
        }
    }
}

/// How many attempts of a subject may be judged at once, given its failures.
fn budget(failures: &FailureCount, max: u64) -> u64 {
    match failures.count >= max {
        // A lockout that has passed lets one attempt through at a time.
        true => 1,
        false => max - failures.count,
    }
}

/// What the records before an attempt say about it.
enum Verdict {
    Go { prior_user_failures: Option<u64> },
    Wait,
    Locked(DateTime<Utc>),
}

impl Provider {
    pub fn user_subject(&self, username: &str) -> String {
        user_subject(&self.cipher, &normalize_username(username))
    }

    /// Record an attempt for `username` from `ip`, then wait until it may be judged: refused
    /// (`Err(until)`) while either subject is locked; `ProviderError::Busy` when no slot frees
    /// within `MAX_WAIT`.
    /// The caller ends it with `attempt_succeeded` or `attempt_failed`.
    pub(crate) async fn begin_attempt(
        &self,
        username: &str,
        ip: Option<&str>,
    ) -> ProviderResult<Result<Attempt, DateTime<Utc>>> {
        let p = &self.config.throttle;
        let mut subjects = vec![(self.user_subject(username), p.max_failures)];
        if let Some(ip) = ip {
            subjects.push((ip_subject(ip), p.ip_max_failures));
        }
        self.begin_attempt_on(subjects, true).await
    }

    /// An attempt that names no account before it is judged (a passwordless passkey sign-in):
    /// counted against the client address alone, so a stream of bad assertions from one
    /// address is throttled like a stream of bad passwords.
    pub(crate) async fn begin_address_attempt(
        &self,
        ip: Option<&str>,
    ) -> ProviderResult<Result<Attempt, DateTime<Utc>>> {
        let subjects = ip
            .map(|ip| (ip_subject(ip), self.config.throttle.ip_max_failures))
            .into_iter()
            .collect();
        self.begin_attempt_on(subjects, false).await
    }

    /// Record the attempt under each `(subject, limit)` and wait until it may be judged.
    /// `for_user`: the first subject is an account's (its failures decide the lockout audit).
    async fn begin_attempt_on(
        &self,
        subjects: Vec<(String, u64)>,
        for_user: bool,
    ) -> ProviderResult<Result<Attempt, DateTime<Utc>>> {
        if self.slots.full() {
            // Already as many waiting as this replica queues: busy, before touching the
            // database (a flood of sign-ins must not slow every other request down).
            return Err(ProviderError::busy());
        }
        let mut records = Vec::with_capacity(subjects.len());
        for (subject, _) in &subjects {
            let id = self.store.record_attempt(subject, self.now()).await?;
            records.push((subject.clone(), id));
        }
        let wakeups: Vec<Arc<Notify>> = subjects
            .iter()
            .map(|(s, _)| self.slots.notify_for(s))
            .collect();
        let deadline = Instant::now() + MAX_WAIT;
        let mut ticket = None;
        loop {
            let waiting = wakeups.iter().map(|n| n.notified()).collect::<Vec<_>>();
            let until = match self.judge(&subjects, &records).await? {
                Verdict::Go {
                    prior_user_failures,
                } => {
                    return Ok(Ok(Attempt {
                        records,
                        prior_user_failures: prior_user_failures.filter(|_| for_user),
                    }));
                }
                Verdict::Locked(until) => until,
                Verdict::Wait if Instant::now() < deadline => {
                    if ticket.is_none() {
                        ticket = self.slots.enqueue();
                        if ticket.is_none() {
                            // The queue is full: busy now, not after a wait.
                            self.withdraw(&records).await?;
                            return Err(ProviderError::busy());
                        }
                    }
                    let woken = futures_any(waiting);
                    let _ = tokio::time::timeout(RECHECK, woken).await;
                    continue;
                }
                Verdict::Wait => {
                    // Waited long enough: this is load, not a verdict on the attempt.
                    self.withdraw(&records).await?;
                    return Err(ProviderError::busy());
                }
            };
            self.withdraw(&records).await?;
            return Ok(Err(until));
        }
    }

    async fn judge(
        &self,
        subjects: &[(String, u64)],
        records: &[(String, i64)],
    ) -> ProviderResult<Verdict> {
        let now = self.now();
        let p = &self.config.throttle;
        let (since, alive_since) = (now - p.window, now - ABANDONED_AFTER);
        let before: Vec<(&str, Option<i64>)> = records
            .iter()
            .map(|(s, id)| (s.as_str(), Some(*id)))
            .collect();
        let counts = self
            .store
            .count_failures_each(&before, since, alive_since)
            .await?;
        let prior_user_failures = counts.first().map(|c| c.count);
        let mut wait = false;
        let mut until = None;
        for ((_, max), prior) in subjects.iter().zip(counts) {
            until = until.max(p.locked_until(prior, *max, now));
            wait |= *max > 0 && prior.pending >= budget(&prior, *max);
        }
        Ok(match (until, wait) {
            (Some(until), _) => Verdict::Locked(until),
            (None, true) => Verdict::Wait,
            (None, false) => Verdict::Go {
                prior_user_failures,
            },
        })
    }

    /// Remove an attempt's records (it succeeded, or was refused before being judged).
    async fn withdraw(&self, records: &[(String, i64)]) -> ProviderResult<()> {
        for (subject, id) in records {
            self.store.delete_failure(*id).await?;
            self.slots.freed(subject);
        }
        Ok(())
    }

    /// The attempt could not be judged (the hashing queue is full, or the database failed): it
    /// is withdrawn, and `err` returned.
    pub(crate) async fn attempt_abandoned<T>(
        &self,
        attempt: Attempt,
        err: ProviderError,
    ) -> ProviderResult<T> {
        self.withdraw(&attempt.records).await?;
        Err(err)
    }

    /// The attempt succeeded: it is not a failure.
    pub(crate) async fn attempt_succeeded(&self, attempt: Attempt) -> ProviderResult<()> {
        self.withdraw(&attempt.records).await
    }

    /// The attempt failed: its records become failures, it is audited, and the attempt that
    /// brings the account to the limit is audited as a lockout.
    pub(crate) async fn attempt_failed(
        &self,
        attempt: Attempt,
        user_id: Option<Uuid>,
        ip: Option<&str>,
        method: &str,
        reason: &str,
    ) -> ProviderResult<()> {
        for (subject, id) in &attempt.records {
            self.store.settle_attempt(*id).await?;
            self.slots.freed(subject);
        }
        self.audit(
            "login_failed",
            user_id,
            None,
            ip,
            json!({ "method": method, "reason": reason }),
        )
        .await?;
        let p = &self.config.throttle;
        if p.max_failures > 0 && attempt.prior_user_failures.map(|n| n + 1) == Some(p.max_failures)
        {
            tracing::warn!(user_id = ?user_id, "account throttled after repeated failures");
            self.audit(
                "account_locked",
                user_id,
                None,
                ip,
                json!({ "failures": p.max_failures, "window_secs": p.window.num_seconds() }),
            )
            .await?;
        }
        Ok(())
    }

    /// An attempt refused because the username or address is throttled. Logged, not written to
    /// the audit table: refusals cost an attacker nothing (no hashing), so one row each would let
    /// anyone grow the database at will; the lockout itself was audited when it began.
    pub(crate) async fn attempt_refused(
        &self,
        user_id: Option<Uuid>,
        ip: Option<&str>,
        method: &str,
    ) -> ProviderResult<()> {
        tracing::info!(target: "audit", kind = "login_throttled", user_id = ?user_id, ip, method, "sign-in attempt refused: throttled");
        Ok(())
    }

    /// A completed sign-in resets the account's counter (not the address's).
    pub(crate) async fn clear_user_failures(&self, username: &str) -> ProviderResult<()> {
        self.store
            .clear_failures(&self.user_subject(username))
            .await?;
        Ok(())
    }
}

/// Resolves when any of `futures` does.
async fn futures_any<F: std::future::Future<Output = ()>>(futures: Vec<F>) {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        for f in futures.iter_mut() {
            if f.as_mut().poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}
