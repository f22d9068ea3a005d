//! OIDC Back-Channel Logout 1.0: when a browser session ends, POST a logout token to every
//! client that signed in through it and registered a `backchannel_logout_uri`. Sent from
//! background tasks with retries, so the user's logout never waits on a relying party; sent
//! through `Fetcher`, so a registered URI cannot aim the POST at a private address; and at most
//! `MAX_IN_FLIGHT` deliveries at a time.
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::fetch::Fetcher;

const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(5)];
const MAX_IN_FLIGHT: usize = 64;

pub struct Notifier {
    fetcher: Arc<Fetcher>,
    in_flight: Arc<Semaphore>,
}

impl Notifier {
    pub fn new(fetcher: Arc<Fetcher>) -> Self {
        Self {
            fetcher,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Deliver each (uri, logout_token) in the background.
    pub fn send(&self, deliveries: Vec<(String, String)>) {
        for (uri, token) in deliveries {
            let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                tracing::warn!(%uri, "back-channel logout dropped: too many deliveries in flight");
                continue;
            };
            let fetcher = self.fetcher.clone();
            tokio::spawn(async move {
                let _permit = permit;
                for attempt in 0..=RETRY_DELAYS.len() {
                    // §2.5: application/x-www-form-urlencoded with a logout_token parameter.
                    match fetcher
                        .post_form(&uri, &[("logout_token", token.as_str())])
                        .await
                    {
                        Ok(status) if (200..300).contains(&status) => return,
                        // §2.8: 400 means the RP could not process the token: do not retry.
                        Ok(400) => {
                            tracing::warn!(%uri, "back-channel logout refused by the relying party");
                            return;
                        }
                        Ok(status) => {
                            tracing::warn!(%uri, status, attempt, "back-channel logout failed")
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
