//! Every kind of problem, reported together, each with its key path.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::path::Path;

use super::{assert_problems, minimal, problems};
use crate::load_from_str;

#[test]
fn every_problem_is_reported_with_its_path() {
    let toml = r#"
issuer = "http://id.example.com/"
listen = "localhost"
colour = "blue"

[database]
url = "mysql://db/lanyard"
max_conections = 5

[encryption]
key = "AAAA"
[[encryption.old_keys]]
key_id = "k0"
key = { env = "OLD_KEY" }
kid = "x"

[sessions]
idle_timeout = "0s"
absolute_lifetime = "forever"
login_flow_timeout = 300

[tokens]
code_lifetime = "5m"

[passwords]
argon2_iterations = "two"

[signing]
algorithms = ["ES256", "HS256"]

[logging]
format = "xml"

[[clients]]
client_id = "spa"
auth_method = "none"
secret = "0123456789abcdef0123"
redirect_uris = ["http://app.example/cb", "https://app.example/cb#frag"]
grant_types = ["authorization_code", "client_credentials"]
redirect_uri = "https://app.example/cb"

[[clients]]
client_id = "web"
redirect_uris = ["https://web.example/cb"]
id_token_signed_response_alg = "EdDSA"
scopes = ["openid", "admin"]

[[clients]]
client_id = "web"
secret = "another-secret-0123456789"
redirect_uris = ["https://web.example/cb"]

[[clients]]
client_id = "bad id!"
secret = { env = "MISSING_SECRET" }
"#;
    let actual = problems(toml, &[]);
    assert_problems(
        &actual,
        &[
            "colour: unknown key",
            "database.max_conections: unknown key",
            "encryption.old_keys[0].kid: unknown key",
            "clients[0].redirect_uri: unknown key",
            "issuer: must be https, or http on localhost",
            "listen: must be an IP address and port",
            "database.url: must start with sqlite:",
            "encryption.key: must be exactly 32 bytes, got 3",
            "encryption.old_keys[0].key: environment variable OLD_KEY is not set",
            "sessions.idle_timeout: must be longer than zero",
            "sessions.absolute_lifetime: must be a whole number followed by s, m, h or d",
            "sessions.login_flow_timeout: invalid type: integer `300`, expected a duration string",
            "tokens.code_lifetime: must be at most 60s",
            "passwords.argon2_iterations: invalid type: string \"two\", expected u32",
            "signing.algorithms[1]: unknown algorithm \"HS256\"",
            "signing.algorithms: must include RS256",
            "logging.format: unknown variant `xml`, expected `text` or `json`",
            "clients[0].secret: not allowed for a public client",
            "clients[0].grant_types[1]: client_credentials needs a confidential client",
            "clients[0].redirect_uris[0]: must be https, or http on a loopback host",
            "clients[0].redirect_uris[1]: must not contain a fragment",
            "clients[1].secret: required unless auth_method = \"none\"",
            "clients[1].scopes[1]: unknown scope \"admin\"",
            "clients[1].id_token_signed_response_alg: EdDSA is not enabled in signing.algorithms",
            "clients[2].client_id: duplicate client_id \"web\" (also clients[1])",
            "clients[3].client_id: must be 1-128 characters",
            "clients[3].secret: environment variable MISSING_SECRET is not set",
            "clients[3].redirect_uris: required when grant_types includes authorization_code",
        ],
    );
    // The whole list renders one problem per line.
    let rendered = load_from_str(toml, &[], Path::new("."))
        .unwrap_err()
        .to_string();
    assert_eq!(rendered.lines().count(), actual.len());
}

#[test]
fn more_problems_issuer_secrets_and_shapes() {
    assert_problems(
        &problems("[encryption]\nkey = \"x\"\n", &[]),
        &["issuer: required", "encryption.key: is neither"],
    );
    assert_problems(
        &problems("issuer = \"https://a.example\"\n", &[]),
        &["encryption.key: required"],
    );
    let toml = format!(
        "{}\n[[clients]]\nclient_id = \"a\"\nsecret = \"short\"\nredirect_uris = [\"https://a.example/cb\"]\n\
         [[clients]]\nclient_id = \"b\"\nsecret = \"long-enough-secret-123\"\nsecret_sha256 = \"ab\"\n\
         redirect_uris = [\"com.example.app:/cb\"]\n[[clients]]\nclient_id = \"c\"\nsecret_sha256 = \"xyz\"\n\
         grant_types = []\n[ui]\nproduct_name = 5\n",
        minimal()
    );
    assert_problems(
        &problems(&toml, &[]),
        &[
            "clients[0].secret: must be at least 16 characters",
            "clients[1].secret_sha256: set either secret or secret_sha256, not both",
            "clients[1].redirect_uris[0]: must be https, or http on a loopback host (custom schemes",
            "clients[2].secret_sha256: must be 64 hex digits",
            "clients[2].grant_types: must list at least one grant type",
            "ui.product_name: invalid type: integer `5`, expected a string",
        ],
    );
    // Exact-match URIs must be written as a browser sends them back (issue "Hardening" 6).
    let toml = format!(
        "{}\n[[clients]]\nclient_id = \"a\"\nsecret = \"long-enough-secret-123\"\n\
         redirect_uris = [\"https://a.example/cb\\n\", \"https://a.example/c\\tb\", \"https://A.example/cb\"]\n\
         post_logout_redirect_uris = [\"https://a.example/x/../bye\"]\n",
        minimal()
    );
    assert_problems(
        &problems(&toml, &[]),
        &[
            "clients[0].redirect_uris[0]: must not contain spaces or control characters",
            "clients[0].redirect_uris[1]: must not contain spaces or control characters",
            "clients[0].redirect_uris[2]: is not in normal form; write it as \"https://a.example/cb\"",
            "clients[0].post_logout_redirect_uris[0]: is not in normal form; write it as \"https://a.example/bye\"",
        ],
    );
    assert_problems(
        &problems(
            "issuer = \"https://a\"\nclients = 5\ndatabase = \"x\"\n[encryption]\nkey = \"AAAA\"",
            &[],
        ),
        &[
            "clients: must be an array of tables",
            "database: must be a table",
            "encryption.key: must be exactly 32 bytes",
        ],
    );
}

#[test]
fn syntax_errors_are_placed_by_line_and_column() {
    let errors =
        load_from_str("issuer = \"https://a\"\nlisten = \n", &[], Path::new(".")).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert!(errors.0[0].path.starts_with("line 2, column "), "{errors}");
}

#[test]
fn bad_overrides_are_reported_with_their_variable() {
    let toml = format!(
        "{}\n[[clients]]\nclient_id = \"a\"\nauth_method = \"none\"\ngrant_types = [\"refresh_token\"]\n",
        minimal()
    );
    let actual = problems(
        &toml,
        &[
            ("LANYARD_DATABASE__URLL", "sqlite://x"),
            ("LANYARD_TOKENS__CODE_LIFETIME", "10m"),
            ("LANYARD_CLIENTS__0__SECRET", "x"),
            ("LANYARD_ISSUER__HOST", "x"),
            ("LANYARD_LISTEN", "nowhere"),
        ],
    );
    assert_problems(
        &actual,
        &[
            "database.urll: unknown key (from LANYARD_DATABASE__URLL)",
            "tokens.code_lifetime: must be at most 60s (from LANYARD_TOKENS__CODE_LIFETIME)",
            "clients: LANYARD_CLIENTS__0__SECRET: [[clients]] cannot be overridden",
            "issuer: LANYARD_ISSUER__HOST cannot override inside `issuer`, which is not a table",
            "listen: must be an IP address and port",
        ],
    );
    assert!(actual.iter().any(|a| a.ends_with("(from LANYARD_LISTEN)")));
}

#[test]
fn a_mistyped_value_is_one_problem_not_two() {
    let toml = "issuer = 5\n[encryption]\nkey = 5\n[[clients]]\nclient_id = 5\nsecret = [1]\ngrant_types = [\"client_credentials\"]\n";
    assert_problems(
        &problems(toml, &[]),
        &[
            "issuer: invalid type: integer `5`, expected a string",
            "encryption.key: must be a string, { env = \"NAME\" } or { file = \"path\" }",
            "clients[0].client_id: invalid type: integer `5`, expected a string",
            "clients[0].secret: must be a string, { env = \"NAME\" } or { file = \"path\" }",
        ],
    );
}

#[test]
fn mfa_lockout_and_rate_limit_sections_are_checked() {
    let toml = format!(
        "{}\n[mfa]\nrequire_for_all = \"yes\"\nrequire_for_groups = [\"admins\", \"bad group\"]\ntotp_issuer = \"a:b\"\nrequire = true\n\n[lockout]\nmax_failures = -1\nwindow = \"2d\"\nbase_delay = \"10m\"\nmax_delay = \"1m\"\n\n[rate_limits]\ntoken_requests_per_minute = \"many\"\n\n[[clients]]\nclient_id = \"a\"\nauth_method = \"none\"\nredirect_uris = [\"http://127.0.0.1/cb\"]\nrequire_mfa = 1\nscopes = [\"openid\", \"groups\", \"roles\"]\n",
        minimal()
    );
    assert_problems(
        &problems(&toml, &[]),
        &[
            "mfa.require_for_all: invalid type",
            "mfa.require_for_groups[1]: \"bad group\" is not a group name",
            "mfa.totp_issuer: must be 1-64 characters without ':'",
            "mfa.require: unknown key",
            "lockout.max_failures: invalid value",
            "lockout.window: must be at most",
            "lockout.max_delay: must not be shorter than lockout.base_delay",
            "rate_limits.token_requests_per_minute: invalid type",
            "clients[0].require_mfa: invalid type",
            "clients[0].scopes[2]: unknown scope \"roles\"",
        ],
    );
}

#[test]
fn mfa_defaults_follow_the_issuer() {
    let s = load_from_str(&minimal(), &[], Path::new(".")).unwrap();
    assert_eq!(s.mfa.totp_issuer, "id.example.com");
    assert!(!s.mfa.require_for_all);
    assert_eq!(s.lockout.max_failures, 5);
    assert_eq!(s.lockout.window.as_secs(), 900);
    assert_eq!(s.rate_limits.token_requests_per_minute, 600);
    let p = s.provider_config();
    assert_eq!(p.throttle.base_delay, chrono::Duration::seconds(30));
}

#[test]
fn upstream_entries_are_checked() {
    let toml = format!(
        "{}
[[upstreams]]
name = \"Bad Name\"
kind = \"saml\"
issuer = \"http://idp.example.com\"
client_id = \"a\"
link_by = \"email\"
jit = \"yes\"
color = \"blue\"

[[upstreams]]
name = \"auth0\"
kind = \"auth0\"
issuer = \"https://x.auth0.com/\"
client_id = \"a\"
client_secret = \"b\"
scopes = [\"profile\"]

[[upstreams]]
name = \"okta\"
kind = \"okta\"
client_id = \"a\"
client_secret = {{ env = \"NOPE_NOT_SET\" }}
claims = {{ subject = \"\" }}

[[upstreams]]
name = \"keycloak\"
issuer = \"https://login.example.com/realms/main\"
client_id = \"a\"
client_secret = \"b\"

[[upstreams]]
name = \"keycloak\"
issuer = \"https://login.example.com/realms/other\"
client_id = \"a\"
client_secret = \"b\"
",
        minimal()
    );
    assert_problems(
        &problems(&toml, &[]),
        &[
            "upstreams[0].name: must be 1-32 characters of a-z 0-9 -",
            "upstreams[0].kind: unknown kind \"saml\"",
            "upstreams[0].issuer: must be https",
            "upstreams[0].client_secret: required",
            "upstreams[0].link_by: unknown value \"email\"",
            "upstreams[0].jit: invalid type",
            "upstreams[0].color: unknown key",
            "upstreams[1].issuer: not used with kind = \"auth0\"",
            "upstreams[1].domain: required for kind = \"auth0\"",
            "upstreams[1].scopes: must include \"openid\"",
            "upstreams[2].org_url: required for kind = \"okta\"",
            "upstreams[2].client_secret: environment variable NOPE_NOT_SET",
            "upstreams[2].claims.subject: must name a claim",
            "upstreams[4].name: duplicate name \"keycloak\"",
        ],
    );
}

#[test]
fn webauthn_defaults_to_the_issuers_host_and_origin() {
    let s = load_from_str(&minimal(), &[], Path::new(".")).unwrap();
    assert_eq!(
        s.webauthn,
        crate::WebauthnSettings::On {
            rp_id: "id.example.com".into(),
            rp_name: "Lanyard".into(),
            origins: vec![url::Url::parse("https://id.example.com").unwrap()],
        }
    );
}

#[test]
fn webauthn_is_off_with_a_reason_on_an_ip_issuer() {
    let toml = minimal().replace("https://id.example.com", "http://127.0.0.1:8080");
    let s = load_from_str(&toml, &[], Path::new(".")).unwrap();
    let crate::WebauthnSettings::Off { reason } = s.webauthn else {
        panic!("passkeys cannot be on for an IP issuer");
    };
    assert!(reason.contains("127.0.0.1 is an IP address"), "{reason}");
    assert!(reason.contains("localhost"), "{reason}");
    // localhost is a domain a browser treats as secure: passkeys work there.
    let local = minimal().replace("https://id.example.com", "http://localhost:8080");
    let s = load_from_str(&local, &[], Path::new(".")).unwrap();
    assert!(
        matches!(s.webauthn, crate::WebauthnSettings::On { ref rp_id, .. } if rp_id == "localhost")
    );
}

#[test]
fn webauthn_section_is_checked() {
    let toml = format!(
        "{}\n[webauthn]\nrp_id = \"other.org\"\nrp_name = \"\"\norigins = [\"http://id.example.com\", \"https://evil.com\", \"https://id.example.com/login\", \"https://a.id.example.com\"]\nrp = 1\n",
        minimal()
    );
    assert_problems(
        &problems(&toml, &[]),
        &[
            "webauthn.rp_name: must be 1-64 characters",
            "webauthn.rp: unknown key",
            "webauthn.origins[0]: must be https (or http://localhost)",
            "webauthn.origins[1]: its host must be \"other.org\" or a subdomain of it",
            "webauthn.origins[2]: must be an origin",
            "webauthn.origins[3]: its host must be \"other.org\"",
            "webauthn.rp_id: \"other.org\" must be the issuer's host or a parent domain of it",
        ],
    );
    let ip = format!("{}\n[webauthn]\nrp_id = \"10.0.0.1\"\n", minimal());
    assert_problems(
        &problems(&ip, &[]),
        &[
            "webauthn.rp_id: \"10.0.0.1\" is an IP address",
            "webauthn.rp_id: \"10.0.0.1\" must be the issuer's host",
        ],
    );
    // A parent domain is allowed, with origins on subdomains of it.
    let parent = format!(
        "{}\n[webauthn]\nrp_id = \"example.com\"\norigins = [\"https://id.example.com\", \"https://app.example.com:8443\"]\n",
        minimal()
    );
    let s = load_from_str(&parent, &[], Path::new(".")).unwrap();
    let crate::WebauthnSettings::On { rp_id, origins, .. } = s.webauthn else {
        panic!("on");
    };
    assert_eq!(rp_id, "example.com");
    assert_eq!(origins.len(), 2);
}
