//! Logout tokens (OIDC Back-Channel Logout 1.0 2.4).
use serde_json::{Value, json};
use uuid::Uuid;

use crate::oidc::error::ProviderResult;
use crate::provider::Provider;
use crate::secret::random_token;

impl Provider {
    /// OIDC Back-Channel Logout 1.0 §2.4: a logout token for each client the session `sid`
    /// signed in to that registered a `backchannel_logout_uri`. Returns (uri, token) pairs.
    pub async fn logout_tokens(
        &self,
        user_id: Uuid,
        sid: &str,
    ) -> ProviderResult<Vec<(String, String)>> {
        let now = self.now();
        let mut out = Vec::new();
        for client_id in self.store.clients_for_sid(sid).await? {
            let Some(client) = self.client(&client_id).await? else {
                continue;
            };
            let Some(uri) = client.backchannel_logout_uri.clone() else {
                continue;
            };
            let mut c = self.base_claims(
                &self.subject(&client, user_id),
                Value::from(client.client_id.clone()),
                chrono::Duration::minutes(2),
                now,
            );
            c.insert("jti".into(), random_token().into());
            c.insert("sid".into(), self.client_sid(&client, sid).into());
            // §2.4: events names the back-channel logout event; a logout token has no nonce.
            c.insert(
                "events".into(),
                json!({ "http://schemas.openid.net/event/backchannel-logout": {} }),
            );
            // §2.4: typ logout+jwt keeps it from being mistaken for an ID token.
            let (jwt, _) = self.keys.sign(client.id_token_alg, "logout+jwt", c, now)?;
            out.push((uri, jwt));
        }
        Ok(out)
    }
}
