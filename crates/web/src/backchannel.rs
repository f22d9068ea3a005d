//! OIDC Back-Channel Logout 1.0: when a browser session ends, POST a logout token to every
//! client that signed in through it and registered a `backchannel_logout_uri`. Sent from a
//! background task with retries, so the user's logout never waits on a relying party.
use std::time::Duration;

use openidconnect::reqwest;

pub struct Notifier {
    http: reqwest::Client,
}

/// Attempts per relying party, and the pause before each retry.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];

impl Notifier {
    pub fn new() -> Result<Self, String> {
        let http = reqwest::ClientBuilder::new()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("HTTP client for back-channel logout: {e}"))?;
        Ok(Self { http })
    }

    /// Deliver each (uri, logout_token) in the background.
    pub fn send(&self, deliveries: Vec<(String, String)>) {
        for (uri, token) in deliveries {
            let http = self.http.clone();
            tokio::spawn(async move {
                for attempt in 0..=RETRY_DELAYS.len() {
                    // §2.5: application/x-www-form-urlencoded with a logout_token parameter.
                    let res = http
                        .post(&uri)
                        .form(&[("logout_token", token.as_str())])
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().is_success() => return,
                        // §2.8: 400 means the RP could not process the token: do not retry.
                        Ok(r) if r.status().as_u16() == 400 => {
                            tracing::warn!(%uri, "back-channel logout refused by the relying party");
                            return;
                        }
                        Ok(r) => {
                            tracing::warn!(%uri, status = r.status().as_u16(), attempt, "back-channel logout failed")
                        }
                        Err(e) => {
                            tracing::warn!(%uri, error = %e, attempt, "back-channel logout failed")
                        }
                    }
                    if let Some(delay) = RETRY_DELAYS.get(attempt) {
                        tokio::time::sleep(*delay).await;
                    }
                }
            });
        }
    }
}
