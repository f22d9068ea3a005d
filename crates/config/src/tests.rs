//! Loading end to end: defaults, overrides, secret references, key-file creation, redaction,
//! and the shipped config files. `problems` has the failure cases.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lanyard_core::authn::password::Argon2Params;
use lanyard_core::model::{AuthMethod, GrantType, SigningAlg};
use lanyard_core::secret::sha256;

use super::*;

mod problems;
mod properties;

const KEY: [u8; 32] = [7; 32];
const CLIENT_SECRET: &str = "web-secret-0123456789";

fn key_b64() -> String {
    STANDARD.encode(KEY)
}

/// The smallest valid file: an issuer and a key.
pub(super) fn minimal() -> String {
    format!(
        "issuer = \"https://id.example.com/\"\n[encryption]\nkey = \"{}\"\n",
        key_b64()
    )
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_ok(toml: &str, env: &[(&str, &str)]) -> Settings {
    load_from_str(toml, &vars(env), Path::new("."))
        .unwrap_or_else(|e| panic!("expected a valid config:\n{e}"))
}

fn problems(toml: &str, env: &[(&str, &str)]) -> Vec<String> {
    let errors = load_from_str(toml, &vars(env), Path::new(".")).expect_err("expected problems");
    errors.0.iter().map(ToString::to_string).collect()
}

/// Every expected `path: message-prefix` is reported, and nothing else.
fn assert_problems(actual: &[String], expected: &[&str]) {
    for e in expected {
        assert!(
            actual.iter().any(|a| a.starts_with(e)),
            "missing {e:?} in:\n{}",
            actual.join("\n")
        );
    }
    for a in actual {
        assert!(
            expected.iter().any(|e| a.starts_with(e)),
            "unexpected {a:?}"
        );
    }
}

#[test]
fn defaults() {
    let s = load_ok(&minimal(), &[]);
    assert_eq!(s.issuer_str(), "https://id.example.com");
    assert!(s.is_https());
    assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(
        (s.database.url.as_str(), s.database.max_connections),
        ("sqlite://data/lanyard.db", 10)
    );
    assert_eq!(
        (
            s.encryption.key_id.as_str(),
            s.encryption.key.expose().as_slice()
        ),
        ("k1", &KEY[..])
    );
    assert!(s.encryption.old_keys.is_empty());
    assert_eq!(s.sessions.cookie_name, "lanyard_session");
    assert_eq!(s.sessions.idle_timeout, Duration::from_secs(30 * 60));
    assert_eq!(s.sessions.absolute_lifetime, Duration::from_secs(10 * 3600));
    assert_eq!(s.sessions.login_flow_timeout, Duration::from_secs(5 * 60));
    assert_eq!(s.tokens.code_lifetime, Duration::from_secs(60));
    assert_eq!(s.tokens.access_token_lifetime, Duration::from_secs(600));
    assert_eq!(s.tokens.id_token_lifetime, Duration::from_secs(600));
    assert_eq!(
        s.tokens.refresh_token_lifetime,
        Duration::from_secs(30 * 86_400)
    );
    assert_eq!(s.tokens.refresh_reuse_grace, Duration::ZERO);
    assert_eq!(s.audit.retention, Duration::from_secs(90 * 86_400));
    assert_eq!(
        (s.metrics.listen, s.metrics.token.is_none()),
        (None, true),
        "no metrics endpoint unless configured"
    );
    assert_eq!(
        (
            s.lockout.client_max_failures,
            s.lockout.client_ip_max_failures
        ),
        (20, 100)
    );
    assert_eq!(s.passwords.argon2, Argon2Params::default());
    assert!(
        s.passwords.max_concurrent_hashes >= 1,
        "0 means the number of CPUs"
    );
    assert_eq!(s.signing.algorithms, SigningAlg::ALL.to_vec());
    assert_eq!(s.signing.jwks_max_age, Duration::from_secs(300));
    assert!(!s.oauth.require_pkce_for_all);
    assert_eq!(s.ui.product_name, "Lanyard");
    assert_eq!(
        (s.logging.format, s.logging.level.as_str()),
        (LogFormat::Text, "info")
    );
    assert!(s.clients.is_empty());
    let p = s.provider_config();
    assert_eq!(p.issuer, "https://id.example.com");
    assert_eq!(p.code_lifetime, chrono::Duration::seconds(60));
}

#[test]
fn client_defaults_and_hashing() {
    let toml = format!(
        "{}\n[[clients]]\nclient_id = \"web\"\nsecret = \"{CLIENT_SECRET}\"\nredirect_uris = [\"https://web.example/cb\"]\n\
         [[clients]]\nclient_id = \"batch\"\nsecret_sha256 = \"{}\"\ngrant_types = [\"client_credentials\"]\n",
        minimal(),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
    let s = load_ok(&toml, &[]);
    let web = &s.clients[0];
    assert_eq!((web.client_id.as_str(), web.name.as_str()), ("web", "web"));
    assert_eq!(
        web.secret_hash.as_deref(),
        Some(&sha256(CLIENT_SECRET.as_bytes())[..])
    );
    assert_eq!(
        web.grant_types,
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    );
    assert_eq!(web.auth_method, AuthMethod::ClientSecretBasic);
    assert_eq!(web.scopes, vec!["openid", "profile", "email"]);
    assert!(!web.trusted && !web.require_pkce);
    assert_eq!(web.id_token_alg, SigningAlg::RS256);
    assert_eq!(web.managed_by, lanyard_core::model::ManagedBy::Config);
    let batch = &s.clients[1];
    assert_eq!(batch.secret_hash.as_deref(), Some(&sha256(b"test")[..]));
    assert!(batch.redirect_uris.is_empty());
}

#[test]
fn environment_overrides_win_over_the_file() {
    let toml = format!(
        "listen = \"127.0.0.1:1\"\n{}\n[database]\nmax_connections = 5\n",
        minimal()
    );
    let s = load_ok(
        &toml,
        &[
            ("LANYARD_ISSUER", "https://override.example/"),
            ("LANYARD_LISTEN", "0.0.0.0:9000"),
            ("LANYARD_DATABASE__MAX_CONNECTIONS", "42"),
            ("LANYARD_DATABASE__URL", "postgres://lanyard@db/lanyard"),
            ("LANYARD_OAUTH__REQUIRE_PKCE_FOR_ALL", "true"),
            ("LANYARD_SIGNING__ALGORITHMS", r#"["RS256"]"#),
            ("LANYARD_SESSIONS__IDLE_TIMEOUT", "1h"),
            ("LANYARD_PASSWORDS__ARGON2_MEMORY_KIB", "65536"),
            ("LANYARD_UI__PRODUCT_NAME", r#""2024""#),
            ("LANYARD_MFA__REQUIRE_FOR_ALL", "true"),
            ("LANYARD_LOCKOUT__CLIENT_MAX_FAILURES", "7"),
            ("LANYARD_RATE_LIMITS__TOKEN_REQUESTS_PER_MINUTE", "9"),
            ("LANYARD_REGISTRATION__MODE", "open"),
            ("LANYARD_AUDIT__RETENTION", "30d"),
            ("LANYARD_METRICS__LISTEN", "127.0.0.1:9464"),
            // Not overrides: the config path, and names outside the config's top-level keys.
            ("LANYARD_CONFIG", "/etc/lanyard/lanyard.toml"),
            ("LANYARD_TEST_DATABASE_URL", "postgres://elsewhere"),
        ],
    );
    assert_eq!(s.issuer_str(), "https://override.example");
    assert_eq!(s.listen, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(
        (s.database.max_connections, s.database.url.as_str()),
        (42, "postgres://lanyard@db/lanyard")
    );
    assert!(s.oauth.require_pkce_for_all);
    assert_eq!(s.signing.algorithms, vec![SigningAlg::RS256]);
    assert_eq!(s.sessions.idle_timeout, Duration::from_secs(3600));
    assert_eq!(s.passwords.argon2.memory_kib, 65_536);
    assert_eq!(s.ui.product_name, "2024");
    assert!(s.mfa.require_for_all);
    assert_eq!(s.lockout.client_max_failures, 7);
    assert_eq!(s.rate_limits.token_requests_per_minute, 9);
    assert_eq!(s.registration, crate::RegistrationSettings::Open);
    assert_eq!(s.audit.retention, Duration::from_secs(30 * 86_400));
    assert_eq!(s.metrics.listen, Some("127.0.0.1:9464".parse().unwrap()));
}

#[test]
fn secrets_from_env_and_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/key"), format!("{}\n", key_b64())).unwrap();
    std::fs::write(
        dir.path().join("secrets/web"),
        format!("{CLIENT_SECRET}\r\n"),
    )
    .unwrap();
    let old_hex = "00".repeat(31) + "ff";
    let toml = r#"
issuer = "http://127.0.0.1:8080"
[database]
url = { env = "DB_URL" }
[encryption]
key_id = "k2"
key = { file = "secrets/key" }
[[encryption.old_keys]]
key_id = "k1"
key = { env = "OLD_KEY" }
[[clients]]
client_id = "web"
secret = { file = "secrets/web" }
redirect_uris = ["http://127.0.0.1:9/cb"]
[[clients]]
client_id = "api"
secret = { env = "API_SECRET" }
grant_types = ["client_credentials"]
"#;
    let env = vars(&[
        ("OLD_KEY", &old_hex),
        ("API_SECRET", "api-secret-0123456789"),
        ("DB_URL", "sqlite::memory:"),
    ]);
    let s = load_from_str(toml, &env, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.encryption.key.expose().as_slice(), &KEY[..]);
    let mut old = vec![0u8; 31];
    old.push(0xff);
    assert_eq!(s.encryption.old_keys, vec![("k1".to_string(), old)]);
    assert_eq!(s.database.url, "sqlite::memory:");
    assert_eq!(
        s.clients[0].secret_hash.as_deref(),
        Some(&sha256(CLIENT_SECRET.as_bytes())[..]),
        "newline trimmed"
    );
    assert_eq!(
        s.clients[1].secret_hash.as_deref(),
        Some(&sha256(b"api-secret-0123456789")[..])
    );

    // A missing file names the key and the file; a missing variable names the key and the variable.
    let toml = toml.replace("secrets/web", "secrets/nope");
    let actual: Vec<String> = load_from_str(&toml, &env[1..], dir.path())
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_problems(
        &actual,
        &[
            "clients[0].secret: cannot read ",
            "encryption.old_keys[0].key: environment variable OLD_KEY is not set",
        ],
    );
    assert!(actual[0].contains("secrets/nope") || actual[1].contains("secrets/nope"));
}

#[test]
fn create_true_writes_a_private_key_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "issuer = \"http://localhost:8080\"\n[encryption]\nkey = { file = \"state/enc.key\", create = true }\n";
    let path = dir.path().join("state/enc.key");

    // Nothing is written while the file has other problems.
    let broken = format!("listen = \"nowhere\"\n{toml}");
    assert!(load_from_str(&broken, &[], dir.path()).is_err());
    assert!(!path.exists());

    let first = load_from_str(toml, &[], dir.path()).unwrap();
    let on_disk = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        STANDARD.decode(on_disk.trim()).unwrap(),
        first.encryption.key.expose().clone()
    );
    assert_eq!(first.encryption.key.expose().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let second = load_from_str(toml, &[], dir.path()).unwrap();
    assert_eq!(
        second.encryption.key, first.encryption.key,
        "the second load reuses the file"
    );
    // No temporary files are left behind.
    assert_eq!(
        std::fs::read_dir(dir.path().join("state")).unwrap().count(),
        1
    );
    // create is only for encryption.key.
    let other = "[[clients]]\nclient_id = \"a\"\nsecret = { file = \"s\", create = true }\ngrant_types = [\"client_credentials\"]\n";
    assert_problems(
        &problems(&format!("{toml}{other}"), &[]),
        &["clients[0].secret.create: create = true is only supported"],
    );
}

#[test]
fn debug_output_never_shows_secrets() {
    let toml = format!(
        "{}old_keys = [{{ key_id = \"k0\", key = \"{}\" }}]\n[database]\nurl = \"postgres://lanyard:hunter2@db/lanyard\"\n\
         [[clients]]\nclient_id = \"web\"\nsecret = \"{CLIENT_SECRET}\"\nredirect_uris = [\"https://web.example/cb\"]\n",
        minimal(),
        "ab".repeat(32)
    );
    let s = load_ok(&toml, &[]);
    let debug = format!("{s:?}");
    for secret in [
        key_b64().as_str(),
        "7, 7, 7",
        "171, 171",
        "hunter2",
        CLIENT_SECRET,
    ] {
        assert!(!debug.contains(secret), "{secret:?} leaked in {debug}");
    }
    assert!(
        debug.contains("[redacted]")
            && debug.contains("k0")
            && debug.contains("postgres://lanyard:redacted@db/lanyard")
    );

    // Nor do problem messages about a secret repeat it.
    let errors = problems(
        "issuer = \"https://a\"\n[encryption]\nkey = \"hunter2-is-my-key\"\n",
        &[],
    );
    assert!(errors.iter().all(|e| !e.contains("hunter2")), "{errors:?}");
}

#[test]
fn shipped_example_loads() {
    let env = [
        ("LANYARD_ENCRYPTION_KEY", key_b64()),
        ("LANYARD_OLD_ENCRYPTION_KEY", "11".repeat(32)),
        (
            "DATABASE_URL",
            "postgres://lanyard:pw@db/lanyard".to_string(),
        ),
        ("WIKI_CLIENT_SECRET", "wiki-secret-0123456789".to_string()),
        ("OKTA_CLIENT_SECRET", "okta".to_string()),
        ("AUTH0_CLIENT_SECRET", "auth0".to_string()),
        ("KEYCLOAK_CLIENT_SECRET", "kc".to_string()),
        ("LANYARD_REGISTRATION_TOKEN", "register-me".to_string()),
        ("LANYARD_PAIRWISE_SALT", "a-long-pairwise-salt".to_string()),
        ("LANYARD_METRICS_TOKEN", "a-metrics-token-0123".to_string()),
    ];
    let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let example = include_str!("../../../config/example.toml");
    // As shipped, the one thing an operator must replace stops it: the placeholder hash.
    let errors = load_from_str(example, &env, Path::new("."))
        .expect_err("the placeholder must not validate")
        .to_string();
    assert!(
        errors.contains("clients[2].secret_sha256: must be 64 hex digits"),
        "{errors}"
    );
    assert_eq!(errors.matches("clients[").count(), 1, "{errors}");
    let filled = example.replace("REPLACE-with-the-sha256-of-your-secret", &"ab".repeat(32));
    let s = load_from_str(&filled, &env, Path::new("."))
        .unwrap_or_else(|e| panic!("config/example.toml:\n{e}"));
    assert_eq!(
        s.audit.retention,
        std::time::Duration::from_secs(90 * 86_400)
    );
    assert_eq!(s.metrics.listen, Some("127.0.0.1:9464".parse().unwrap()));
    assert!(s.metrics.token.is_some());
    assert_eq!(s.lockout.client_max_failures, 20);
    assert_eq!(s.issuer_str(), "https://id.example.com");
    assert_eq!(s.encryption.key_id, "k2");
    assert_eq!(s.encryption.old_keys.len(), 1);
    assert_eq!(s.logging.format, LogFormat::Json);
    let ids: Vec<&str> = s.clients.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(ids, ["wiki", "com.example.desktop", "billing-batch"]);
    assert!(s.clients[1].is_public() && s.clients[1].secret_hash.is_none());
    let issuers: Vec<&str> = s.upstreams.iter().map(|u| u.issuer.as_str()).collect();
    assert_eq!(
        issuers,
        [
            "https://dev-123456.okta.com/oauth2/default",
            "https://example.eu.auth0.com/",
            "https://sso.example.com/realms/staff"
        ]
    );
}

#[test]
fn shipped_dev_config_loads_and_creates_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("config");
    std::fs::create_dir(&config_dir).unwrap();
    let path = config_dir.join("lanyard.toml");
    std::fs::write(&path, include_str!("../../../config/lanyard.toml")).unwrap();
    let s = load(&path).unwrap_or_else(|e| panic!("config/lanyard.toml:\n{e}"));
    assert!(
        dir.path().join("data/encryption.key").exists(),
        "the key lands in ./data"
    );
    assert_eq!(s.issuer_str(), "http://localhost:8080");
    assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(s.database.url, "sqlite://data/lanyard.db");
    let demo = &s.clients[0];
    assert_eq!(
        (demo.client_id.as_str(), demo.name.as_str()),
        ("demo", "Demo app")
    );
    assert_eq!(
        demo.secret_hash.as_deref(),
        Some(&sha256(b"demo-secret-change-me")[..])
    );
    assert_eq!(
        demo.scopes,
        vec!["openid", "profile", "email", "offline_access"]
    );
    let again = load(&path).unwrap();
    assert_eq!(again.encryption.key, s.encryption.key);
}
