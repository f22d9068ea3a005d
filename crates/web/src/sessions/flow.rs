//! Sign-ins in progress, kept per browser (several tabs may be signing in to several apps).
use chrono::{DateTime, Utc};
use lanyard_core::oidc::authorize::AuthorizeRequest;
use lanyard_core::secret::random_token;
use serde::{Deserialize, Serialize};

use super::Browser;
use crate::error::WebError;

const FLOWS_KEY: &str = "flows";
/// Pending sign-ins kept per browser.
const MAX_FLOWS: usize = 8;

/// A sign-in in progress: the validated authorization request (or none, for the account page)
/// and what the user has done for it so far.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Flow {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub request: Option<AuthorizeRequest>,
    /// The user authenticated during this flow (satisfies prompt=login and max_age).
    pub fresh_login: bool,
    /// The user approved the consent page during this flow.
    pub consented: bool,
}

impl Flow {
    pub fn new(request: Option<AuthorizeRequest>, now: DateTime<Utc>) -> Self {
        Self {
            id: random_token(),
            created_at: now,
            request,
            fresh_login: false,
            consented: false,
        }
    }

    /// The flow sealed (encrypted and authenticated) for a URL: carried to the sign-in page
    /// instead of being stored for a browser that has no session yet.
    pub fn seal(&self, provider: &lanyard_core::Provider) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        lanyard_core::secret::b64url(&provider.seal(FLOW_SEAL, &json))
    }

    /// A sealed flow back, unless it was tampered with or is older than `lifetime`.
    pub fn unseal(
        provider: &lanyard_core::Provider,
        sealed: &str,
        lifetime: chrono::Duration,
    ) -> Option<Self> {
        let bytes = lanyard_core::secret::b64url_decode(sealed)?;
        let flow: Self = serde_json::from_slice(&provider.unseal(FLOW_SEAL, &bytes)?).ok()?;
        (flow.created_at + lifetime > provider.now()).then_some(flow)
    }
}

/// Associated data of sealed flows.
const FLOW_SEAL: &str = "lanyard flow";

impl Browser {
    async fn flows(&self) -> Result<Vec<Flow>, WebError> {
        Ok(self.get::<Vec<Flow>>(FLOWS_KEY).await?.unwrap_or_default())
    }

    pub async fn flow(
        &self,
        id: &str,
        now: DateTime<Utc>,
        lifetime: chrono::Duration,
    ) -> Result<Option<Flow>, WebError> {
        Ok(self
            .flows()
            .await?
            .into_iter()
            .find(|f| f.id == id && f.created_at + lifetime > now))
    }

    pub async fn put_flow(&self, flow: &Flow) -> Result<(), WebError> {
        let mut flows = self.flows().await?;
        flows.retain(|f| f.id != flow.id);
        flows.push(flow.clone());
        if flows.len() > MAX_FLOWS {
            let excess = flows.len() - MAX_FLOWS;
            flows.drain(..excess);
        }
        self.0.insert(FLOWS_KEY, flows).await?;
        Ok(())
    }

    pub async fn remove_flow(&self, id: &str) -> Result<(), WebError> {
        let mut flows = self.flows().await?;
        flows.retain(|f| f.id != id);
        if flows.is_empty() {
            self.0.remove_value(FLOWS_KEY).await?;
        } else {
            self.0.insert(FLOWS_KEY, flows).await?;
        }
        Ok(())
    }
}
