//! The `claims` request parameter (OIDC Core 5.5), parsed once at the authorization endpoint
//! into what this client may receive.
//!
//! A claim requested individually is released only when its scope is one the client may use:
//! asking for `email` through `claims` is asking for part of the `email` scope, and a client
//! not allowed that scope gets neither. What remains is shown on the consent page through its
//! scopes (`ClaimsRequest::scopes`), so releasing it is covered by consent.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::Client;
use crate::oidc::scopes;

/// The members of a `claims` request Lanyard acts on. Serialized as the same JSON shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    /// Claims asked for in the ID token, with their OIDC Core 5.5.1 requests.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub id_token: Map<String, Value>,
    /// Claims asked for from the userinfo endpoint.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub userinfo: Map<String, Value>,
}

/// Where a requested claim is to be released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    IdToken,
    Userinfo,
}

impl ClaimsRequest {
    /// Parse the parameter's JSON for `client`. `None`: nothing left to act on. Members other
    /// than `id_token` and `userinfo` are ignored (5.5); claims of scopes the client may not
    /// use are dropped.
    pub fn parse(raw: &str, client: &Client) -> Result<Option<Self>, &'static str> {
        let Ok(Value::Object(top)) = serde_json::from_str::<Value>(raw) else {
            return Err("claims must be a JSON object");
        };
        let member = |name: &str| -> Result<Map<String, Value>, &'static str> {
            match top.get(name) {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(m)) => Ok(m
                    .iter()
                    .filter(|(claim, _)| may_request(client, claim))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()),
                Some(_) => Err("claims members must be JSON objects"),
            }
        };
        let req = Self {
            id_token: member("id_token")?,
            userinfo: member("userinfo")?,
        };
        Ok((!req.id_token.is_empty() || !req.userinfo.is_empty()).then_some(req))
    }

    /// The claim names requested for `target`.
    pub fn names(&self, target: Target) -> impl Iterator<Item = &str> {
        match target {
            Target::IdToken => self.id_token.keys(),
            Target::Userinfo => self.userinfo.keys(),
        }
        .map(String::as_str)
    }

    /// Whether `claim` is requested anywhere.
    pub fn asks_for(&self, claim: &str) -> bool {
        self.id_token.contains_key(claim) || self.userinfo.contains_key(claim)
    }

    /// The scopes whose consent covers the requested claims.
    pub fn scopes(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for name in self.id_token.keys().chain(self.userinfo.keys()) {
            if let Some(s) = scopes::claim_scope(name).filter(|s| !out.contains(s)) {
                out.push(s);
            }
        }
        out
    }

    /// Stored form (the same JSON shape as the parameter).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Read a stored form back; anything unreadable requests nothing.
    pub fn from_json(stored: &str) -> Option<Self> {
        serde_json::from_str(stored).ok()
    }
}

/// A user claim may be requested only if its scope is one the client may use; claims that
/// belong to no scope (`acr`, `auth_time`, ...) carry nothing about the user.
pub fn may_request(client: &Client, claim: &str) -> bool {
    scopes::claim_scope(claim).is_none_or(|s| client.allows_scope(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(scopes: &[&str]) -> Client {
        let mut c = crate::oidc::authorize::request::tests_support::client();
        c.scopes = scopes.iter().map(|s| s.to_string()).collect();
        c
    }

    #[test]
    fn claims_outside_the_clients_scopes_are_dropped() {
        let raw = r#"{"id_token":{"email":null,"name":{"essential":true},"acr":null},
                      "userinfo":{"groups":null,"email_verified":null},"other":{"x":1}}"#;
        let req = ClaimsRequest::parse(raw, &client(&["openid"]))
            .unwrap()
            .unwrap();
        assert_eq!(req.names(Target::IdToken).collect::<Vec<_>>(), vec!["acr"]);
        assert_eq!(req.names(Target::Userinfo).count(), 0);
        assert!(req.scopes().is_empty());
        let req = ClaimsRequest::parse(raw, &client(&["openid", "email"]))
            .unwrap()
            .unwrap();
        assert!(req.asks_for("email") && req.asks_for("email_verified"));
        assert!(!req.asks_for("name") && !req.asks_for("groups"));
        assert_eq!(req.scopes(), vec!["email"]);
        assert_eq!(ClaimsRequest::from_json(&req.to_json()), Some(req));
    }

    #[test]
    fn malformed_requests_are_errors_and_empty_ones_nothing() {
        let c = client(&["openid"]);
        assert!(ClaimsRequest::parse("[1]", &c).is_err());
        assert!(ClaimsRequest::parse("not json", &c).is_err());
        assert!(ClaimsRequest::parse(r#"{"userinfo":[1]}"#, &c).is_err());
        assert_eq!(ClaimsRequest::parse("{}", &c), Ok(None));
        assert_eq!(
            ClaimsRequest::parse(r#"{"userinfo":{"email":null}}"#, &c),
            Ok(None)
        );
    }
}
