//! Property test of the config loader (issue "Hardening", reliability drills): any value of any
//! type at any known key, in the file or from the environment, is either accepted or reported
//! as a problem with its key path; the loader never panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use proptest::collection::vec;
use proptest::prelude::*;

use super::minimal;
use crate::load_from_str;

/// Every key of every section (clients and upstreams as array entries).
const KEYS: &[(&str, &[&str])] = &[
    ("database", &["url", "max_connections"]),
    (
        "sessions",
        &[
            "cookie_name",
            "idle_timeout",
            "absolute_lifetime",
            "login_flow_timeout",
        ],
    ),
    (
        "tokens",
        &[
            "code_lifetime",
            "access_token_lifetime",
            "id_token_lifetime",
            "refresh_token_lifetime",
            "refresh_reuse_grace",
        ],
    ),
    (
        "passwords",
        &[
            "argon2_memory_kib",
            "argon2_iterations",
            "argon2_parallelism",
            "max_concurrent_hashes",
        ],
    ),
    ("signing", &["algorithms", "jwks_max_age"]),
    (
        "oauth",
        &[
            "require_pkce_for_all",
            "fetch_private_addresses",
            "allow_unsigned_request_objects",
            "pairwise_salt",
        ],
    ),
    (
        "mfa",
        &["require_for_all", "require_for_groups", "totp_issuer"],
    ),
    (
        "lockout",
        &[
            "max_failures",
            "window",
            "base_delay",
            "max_delay",
            "ip_max_failures",
            "client_max_failures",
            "client_ip_max_failures",
        ],
    ),
    ("rate_limits", &["token_requests_per_minute"]),
    ("registration", &["mode", "initial_access_token"]),
    ("audit", &["retention"]),
    ("metrics", &["listen", "token"]),
    ("ui", &["product_name"]),
    ("logging", &["format", "level"]),
    (
        "clients",
        &[
            "client_id",
            "name",
            "secret",
            "secret_sha256",
            "auth_method",
            "redirect_uris",
            "post_logout_redirect_uris",
            "grant_types",
            "scopes",
            "trusted",
            "id_token_signed_response_alg",
            "require_pkce",
            "require_mfa",
            "backchannel_logout_uri",
        ],
    ),
    (
        "upstreams",
        &[
            "name",
            "display_name",
            "kind",
            "issuer",
            "domain",
            "org_url",
            "client_id",
            "client_secret",
            "scopes",
            "claims",
            "link_by",
            "jit",
            "trust_upstream_mfa",
        ],
    ),
];

/// A TOML value of any shape, biased toward near-misses of what the keys expect.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[ -~]{0,30}".prop_map(|s| toml::Value::String(s).to_string()),
        prop::sample::select(vec![
            "\"0s\"",
            "\"60s\"",
            "\"99999999999999999999d\"",
            "\"-5m\"",
            "\"10x\"",
            "\"\"",
            "[\"RS256\", \"HS256\"]",
            "[]",
            "[1, \"a\"]",
            "{ env = \"NOPE\" }",
            "{ file = \"/nonexistent\" }",
            "{ file = \"x\", create = true }",
            "\"https://app.example/cb\\n\"",
            "[\"https://APP.example/cb\"]",
            "\"127.0.0.1:99999\"",
            "\"open\"",
            "\"token\"",
            "\"none\"",
            "1e400",
            "nan",
            "{ a = { b = [1] } }",
        ])
        .prop_map(str::to_string),
    ]
}

fn entry() -> impl Strategy<Value = (usize, usize, String)> {
    (0..KEYS.len(), 0..16usize, value())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_value_at_any_key_is_accepted_or_reported(
        entries in vec(entry(), 0..8),
        env in vec(entry(), 0..3),
    ) {
        let mut doc = minimal();
        let mut tables = String::new();
        for (section, key, value) in &entries {
            let (name, keys) = KEYS[*section];
            let key = keys[key % keys.len()];
            if name == "clients" || name == "upstreams" {
                tables.push_str(&format!("\n[[{name}]]\n{key} = {value}\n"));
            } else {
                doc.push_str(&format!("\n[{name}]\n{key} = {value}\n"));
            }
        }
        doc.push_str(&tables);
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(section, key, value)| {
                let (name, keys) = KEYS[*section];
                let key = keys[key % keys.len()];
                (format!("LANYARD_{}__{}", name.to_uppercase(), key.to_uppercase()), value.clone())
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        // A duplicated table is a TOML error, reported like any other; never a panic.
        match load_from_str(&doc, &env, dir.path()) {
            Ok(_) => {}
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
}
