//! Scopes and the claims they release (OIDC Core 5.4), plus the plain-words descriptions shown on
//! the consent page.
use serde_json::{Map, Value, json};

use crate::model::User;

/// Scopes Lanyard understands. Others are rejected with `invalid_scope`.
pub const SUPPORTED: [&str; 7] = [
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "groups",
    "offline_access",
];

/// Claims Lanyard can release (discovery `claims_supported`).
pub const CLAIMS_SUPPORTED: [&str; 22] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
    "address",
    "phone_number",
    "phone_number_verified",
    "groups",
];

/// Parse a space-delimited scope string (RFC 6749 3.3). Order is kept, duplicates dropped.
pub fn parse(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in raw.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub fn has(scopes: &[String], s: &str) -> bool {
    scopes.iter().any(|x| x == s)
}

/// Title and description for the consent page; `None` for scopes that need no explanation.
pub fn describe(scope: &str) -> Option<(&'static str, &'static str)> {
    Some(match scope {
        "openid" => (
            "Know who you are",
            "Your account identifier, so the app can recognise you next time.",
        ),
        "profile" => ("Your profile", "Your name and username."),
        "email" => (
            "Your email address",
            "Your email address and whether it has been verified.",
        ),
        "address" => (
            "Your postal address",
            "The postal address saved in your account.",
        ),
        "phone" => (
            "Your phone number",
            "Your phone number and whether it has been verified.",
        ),
        "groups" => (
            "Your groups",
            "The names of the groups your account belongs to.",
        ),
        "offline_access" => (
            "Stay connected",
            "Keep access to this information when you are not using the app, until you revoke it.",
        ),
        _ => return None,
    })
}

/// The scope a user claim belongs to (OIDC Core 5.4); `None` for claims about the
/// authentication rather than the user.
pub fn claim_scope(claim: &str) -> Option<&'static str> {
    Some(match claim {
        "name" | "given_name" | "family_name" | "preferred_username" | "updated_at" => "profile",
        "email" | "email_verified" => "email",
        "address" => "address",
        "phone_number" | "phone_number_verified" => "phone",
        "groups" => "groups",
        _ => return None,
    })
}

/// All user claims Lanyard holds, keyed by claim name (OIDC Core 5.1); absent values omitted.
fn all_claims(user: &User, groups: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    };
    put("name", user.name.clone().map(Value::from));
    put("given_name", user.given_name.clone().map(Value::from));
    put("family_name", user.family_name.clone().map(Value::from));
    put("preferred_username", Some(user.username.clone().into()));
    put("updated_at", Some(user.updated_at.timestamp().into()));
    if let Some(email) = &user.email {
        put("email", Some(email.clone().into()));
        put("email_verified", Some(user.email_verified.into()));
    }
    put(
        "address",
        user.address.clone().map(|a| json!({ "formatted": a })),
    );
    if let Some(phone) = &user.phone_number {
        put("phone_number", Some(phone.clone().into()));
        put(
            "phone_number_verified",
            Some(user.phone_number_verified.into()),
        );
    }
    // Not a standard claim; the de-facto name Keycloak, Okta and Dex use.
    m.insert("groups".into(), groups.to_vec().into());
    m
}

/// Claims released for `scopes`, plus any individually `requested` through the `claims`
/// parameter (OIDC Core 5.5) whose scope the client may use. Requested claims were shown on the
/// consent page through their scope (`ClaimsRequest::scopes`), so releasing them is covered by
/// consent; the client check is repeated here so that a grant made before the client lost a
/// scope cannot release it.
pub fn user_claims<'a>(
    user: &User,
    groups: &[String],
    scopes: &[String],
    requested: impl Iterator<Item = &'a str>,
    client: &crate::model::Client,
) -> Map<String, Value> {
    let requested: Vec<&str> = requested
        .filter(|c| crate::oidc::claims::may_request(client, c))
        .collect();
    all_claims(user, groups)
        .into_iter()
        .filter(|(k, _)| {
            claim_scope(k).is_some_and(|s| has(scopes, s)) || requested.contains(&k.as_str())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn user() -> User {
        let mut u = User::new(
            "ada",
            DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        );
        u.email = Some("ada@example.com".into());
        u.email_verified = true;
        u.name = Some("Ada Lovelace".into());
        u.phone_number = Some("+44 20 7946 0000".into());
        u
    }

    #[test]
    fn parse_dedups_and_keeps_order() {
        assert_eq!(
            parse("openid  email openid profile"),
            vec!["openid", "email", "profile"]
        );
        assert!(parse("").is_empty());
    }

    fn client() -> crate::model::Client {
        let mut c = crate::oidc::authorize::request::tests_support::client();
        c.scopes = parse("openid profile email phone groups");
        c
    }

    #[test]
    fn claims_follow_scopes() {
        let u = user();
        let c = user_claims(&u, &[], &parse("openid email"), [].into_iter(), &client());
        assert_eq!(c.get("email"), Some(&Value::from("ada@example.com")));
        assert_eq!(c.get("email_verified"), Some(&Value::from(true)));
        assert!(!c.contains_key("name"));
        assert!(!c.contains_key("phone_number"));
        let c = user_claims(
            &u,
            &[],
            &parse("openid profile phone"),
            [].into_iter(),
            &client(),
        );
        assert_eq!(c.get("name"), Some(&Value::from("Ada Lovelace")));
        assert_eq!(c.get("preferred_username"), Some(&Value::from("ada")));
        assert!(c.contains_key("phone_number"));
        assert!(!c.contains_key("email"));
    }

    #[test]
    fn requested_claims_are_released_only_within_the_clients_scopes() {
        let c = user_claims(
            &user(),
            &[],
            &parse("openid"),
            ["name"].into_iter(),
            &client(),
        );
        assert_eq!(c.get("name"), Some(&Value::from("Ada Lovelace")));
        assert!(!c.contains_key("email"));
        let mut narrow = client();
        narrow.scopes = parse("openid");
        let c = user_claims(
            &user(),
            &[],
            &parse("openid"),
            ["name", "email"].into_iter(),
            &narrow,
        );
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn every_supported_scope_is_described() {
        for s in SUPPORTED {
            assert!(describe(s).is_some(), "{s}");
        }
    }

    #[test]
    fn groups_need_their_scope() {
        let g = vec!["admins".to_string()];
        let c = user_claims(
            &user(),
            &g,
            &parse("openid groups"),
            [].into_iter(),
            &client(),
        );
        assert_eq!(c.get("groups"), Some(&serde_json::json!(["admins"])));
        let c = user_claims(
            &user(),
            &g,
            &parse("openid profile"),
            [].into_iter(),
            &client(),
        );
        assert!(!c.contains_key("groups"));
    }
}
