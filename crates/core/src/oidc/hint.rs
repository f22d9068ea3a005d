//! ID tokens read back (`id_token_hint`, OIDC Core 3.1.2.1 and RP-Initiated Logout 2), and
//! the claims every token Lanyard signs starts from.
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use crate::provider::Provider;

/// The parts of a verified `id_token_hint` that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    pub sub: String,
    pub client_id: String,
    pub sid: Option<String>,
}

impl Provider {
    /// Verify an ID token we issued, for `id_token_hint` (OIDC Core 3.1.2.1; RP-Initiated Logout 2).
    /// Expired hints are accepted: they identify, they do not authenticate.
    pub fn verify_id_token_hint(&self, token: &str) -> Option<IdTokenHint> {
        let (claims, typ, _) = self.keys.verify(token)?;
        if typ.as_deref().is_some_and(|t| t != "JWT")
            || claims.get("iss")?.as_str()? != self.config.issuer
            || claims.get("exp").and_then(Value::as_i64).is_none()
        {
            return None;
        }
        let client_id = match claims.get("aud")? {
            Value::String(s) => s.clone(),
            Value::Array(a) => a.first()?.as_str()?.to_string(),
            _ => return None,
        };
        Some(IdTokenHint {
            sub: claims.get("sub")?.as_str()?.to_string(),
            client_id,
            sid: claims
                .get("sid")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    pub(crate) fn base_claims(
        &self,
        sub: &str,
        aud: Value,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("iss".into(), self.config.issuer.clone().into());
        m.insert("sub".into(), sub.into());
        m.insert("aud".into(), aud);
        m.insert("iat".into(), now.timestamp().into());
        m.insert("exp".into(), (now + lifetime).timestamp().into());
        m
    }
}
