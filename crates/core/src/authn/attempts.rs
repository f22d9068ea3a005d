//! Counting attempts against the throttle (DESIGN §3): every password, code or
//! re-authentication attempt is recorded as a failure *before* it is judged, and withdrawn when
//! it succeeds, so a burst of parallel guesses cannot all pass the check before any failure is
//! written.
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::throttle::{ip_subject, user_subject};
use crate::oidc::error::ProviderResult;
use crate::provider::Provider;
use crate::types::normalize_username;

/// An attempt recorded as failed until judged (see `Provider::begin_attempt`).
#[derive(Debug)]
pub struct Attempt {
    ids: Vec<i64>,
    prior_user_failures: u64,
}

impl Provider {
    pub fn user_subject(&self, username: &str) -> String {
        user_subject(&self.cipher, &normalize_username(username))
    }

    /// Record an attempt for `username` from `ip` *before* judging it, then refuse it if the
    /// failures recorded before it throttle either subject. Recording first means parallel
    /// attempts see each other: a burst cannot slip past the limit between check and record.
    /// A refused attempt is withdrawn (waiting is not failing); the caller withdraws a
    /// successful one with `attempt_succeeded` and keeps a failed one with `attempt_failed`.
    pub(crate) async fn begin_attempt(
        &self,
        username: &str,
        ip: Option<&str>,
    ) -> ProviderResult<Result<Attempt, DateTime<Utc>>> {
        let now = self.now();
        let p = &self.config.throttle;
        let since = now - p.window;
        let mut subjects = vec![(self.user_subject(username), p.max_failures)];
        if let Some(ip) = ip {
            subjects.push((ip_subject(ip), p.ip_max_failures));
        }
        let mut ids = Vec::with_capacity(subjects.len());
        let mut until = None;
        let mut prior_user_failures = 0;
        for (i, (subject, max)) in subjects.iter().enumerate() {
            let id = self.store.record_failure(subject, now).await?;
            ids.push(id);
            let prior = self.store.count_failures(subject, since, Some(id)).await?;
            if i == 0 {
                prior_user_failures = prior.count;
            }
            until = until.max(p.locked_until(prior, *max, now));
        }
        if let Some(until) = until {
            for id in ids {
                self.store.delete_failure(id).await?;
            }
            return Ok(Err(until));
        }
        Ok(Ok(Attempt {
            ids,
            prior_user_failures,
        }))
    }

    /// The attempt succeeded: it is not a failure.
    pub(crate) async fn attempt_succeeded(&self, attempt: Attempt) -> ProviderResult<()> {
        for id in attempt.ids {
            self.store.delete_failure(id).await?;
        }
        Ok(())
    }

    /// The attempt failed: its records stay, it is audited, and the attempt that brings the
    /// account to the limit is audited as a lockout.
    pub(crate) async fn attempt_failed(
        &self,
        attempt: Attempt,
        user_id: Option<Uuid>,
        ip: Option<&str>,
        method: &str,
        reason: &str,
    ) -> ProviderResult<()> {
        self.audit(
            "login_failed",
            user_id,
            None,
            ip,
            json!({ "method": method, "reason": reason }),
        )
        .await?;
        let p = &self.config.throttle;
        if p.max_failures > 0 && attempt.prior_user_failures + 1 == p.max_failures {
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
