//! Throttling of client authentication at every endpoint that authenticates clients (token,
//! introspection, revocation, registration read). Failed authentications (a wrong secret, a bad
//! or replayed assertion, an unknown client id) are counted in the database per client id and
//! per address, so every replica sees them, and the budget is checked *before* the credentials
//! are: a client id or address over its limit is refused without verifying anything until the
//! delay has passed (`ThrottlePolicy`: the same growing delays as sign-in).
//!
//! Unlike sign-in, a successful request is not recorded first and withdrawn: client secrets are
//! high-entropy, so the few guesses a parallel burst gets past the check cost an attacker
//! nothing useful, while every token request would pay four extra writes. Anyone who knows a
//! client id can keep it throttled by sending wrong secrets, the same price as per-account
//! sign-in throttling; the per-address limit makes that cost the attacker addresses.
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::authn::throttle::{client_ip_subject, client_subject};
use crate::oidc::error::ProviderResult;
use crate::provider::Provider;

/// A client authentication allowed to proceed; report its failure with
/// `Provider::client_auth_failed`.
#[derive(Debug)]
pub struct ClientGate {
    client_id: String,
    subjects: Vec<String>,
    prior_client_failures: u64,
}

impl Provider {
    /// Whether `client_id` from `ip` may try to authenticate now; `Err(until)` when either is
    /// throttled.
    pub(crate) async fn client_gate(
        &self,
        client_id: &str,
        ip: Option<&str>,
    ) -> ProviderResult<Result<ClientGate, DateTime<Utc>>> {
        let now = self.now();
        let p = &self.config.throttle;
        let since = now - p.window;
        let mut limits = vec![(
            client_subject(&self.cipher, client_id),
            p.client_max_failures,
        )];
        if let Some(ip) = ip {
            limits.push((client_ip_subject(ip), p.client_ip_max_failures));
        }
        let subjects: Vec<(&str, Option<i64>)> =
            limits.iter().map(|(s, _)| (s.as_str(), None)).collect();
        let counts = self
            .store
            .count_failures_each(&subjects, since, now)
            .await?;
        let prior_client_failures = counts.first().map_or(0, |c| c.count);
        let until = limits
            .iter()
            .zip(counts)
            .filter_map(|((_, max), failures)| p.locked_until(failures, *max, now))
            .max();
        if let Some(until) = until {
            tracing::info!(target: "audit", kind = "client_auth_throttled", ip, "client authentication refused: throttled");
            return Ok(Err(until));
        }
        Ok(Ok(ClientGate {
            client_id: client_id.chars().take(128).collect(),
            subjects: limits.into_iter().map(|(s, _)| s).collect(),
            prior_client_failures,
        }))
    }

    /// The authentication let through by `gate` failed: count it, and audit the failure that
    /// brings the client id to its limit.
    pub async fn client_auth_failed(
        &self,
        gate: ClientGate,
        ip: Option<&str>,
    ) -> ProviderResult<()> {
        let now = self.now();
        for subject in &gate.subjects {
            self.store.record_failure(subject, now).await?;
        }
        let p = &self.config.throttle;
        if p.client_max_failures > 0 && gate.prior_client_failures + 1 == p.client_max_failures {
            self.audit(
                "client_locked",
                None,
                Some(&gate.client_id),
                ip,
                json!({
                    "failures": p.client_max_failures,
                    "window_secs": p.window.num_seconds(),
                }),
            )
            .await?;
        }
        Ok(())
    }
}
