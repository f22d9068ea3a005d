//! Reliability drills (issue "Hardening"): random input at every endpoint that parses it, two
//! replicas on one PostgreSQL with one killed mid-run, and a PostgreSQL restart under load.
//! Each prints its figures (run with `--no-capture` to see them).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use crate::harness::{RegistrationSettings, SECRET, TestApp, http_client};

/// Values an attacker might send to a form or query.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        "-?[0-9]{1,22}",
        prop::sample::select(vec![
            "code",
            "openid",
            "openid email offline_access",
            "none",
            "login",
            "S256",
            "plain",
            "web",
            "spa",
            "thirdparty",
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "http://127.0.0.1:9/cb",
            "form_post",
            "{\"userinfo\":{\"email\":null}}",
            "[]",
        ])
        .prop_map(str::to_string),
        jwt(),
    ]
}

/// JWS-shaped strings with random JSON header and payload.
fn jwt() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just(serde_json::json!({ "alg": "none" })),
        Just(serde_json::json!({ "alg": "RS256", "kid": "x", "typ": "at+jwt" })),
        Just(serde_json::json!({ "iss": "http://127.0.0.1", "exp": i64::MAX, "max_age": -1 })),
        Just(serde_json::json!({ "exp": "soon", "aud": [1, 2], "sub": null })),
        any::<i64>().prop_map(|n| serde_json::json!({ "exp": n, "iat": n, "nbf": n })),
        "[ -~]{0,20}".prop_map(serde_json::Value::from),
    ];
    (part.clone(), part, "[A-Za-z0-9_-]{0,64}").prop_map(|(h, p, s)| {
        let enc = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.{s}", enc(&h), enc(&p))
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "client_id",
            "redirect_uri",
            "response_type",
            "response_mode",
            "scope",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "prompt",
            "max_age",
            "login_hint",
            "acr_values",
            "claims",
            "id_token_hint",
            "request",
            "request_uri",
            "grant_type",
            "code",
            "code_verifier",
            "refresh_token",
            "client_secret",
            "client_assertion",
            "client_assertion_type",
            "token",
            "token_type_hint",
            "post_logout_redirect_uri",
            "flow",
            "resume",
            "csrf_token",
            "username",
            "password",
            "method",
            "decision",
            "confirm",
            "session",
            "access_token",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,10}",
    ]
}

/// (method, path, form or query pairs, Authorization header).
type Call = (
    &'static str,
    &'static str,
    Vec<(String, String)>,
    Option<String>,
);

fn call() -> impl Strategy<Value = Call> {
    let route = prop::sample::select(vec![
        ("GET", "/authorize"),
        ("POST", "/authorize"),
        ("POST", "/token"),
        ("POST", "/introspect"),
        ("POST", "/revoke"),
        ("GET", "/userinfo"),
        ("POST", "/userinfo"),
        ("GET", "/logout"),
        ("POST", "/logout"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/login/mfa"),
        ("POST", "/login/mfa"),
        ("GET", "/consent"),
        ("POST", "/consent"),
        ("GET", "/register/web"),
        ("GET", "/federation/up/callback"),
        ("POST", "/account/password"),
    ]);
    let auth = prop_oneof![
        Just(None),
        jwt().prop_map(|t| Some(format!("Bearer {t}"))),
        (text(), text()).prop_map(|(u, p)| {
            let raw = format!("{u}:{p}");
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            ))
        }),
        text().prop_map(Some),
    ];
    (route, vec((key(), text()), 0..10), auth).prop_map(|((m, p), pairs, auth)| (m, p, pairs, auth))
}

/// Random input at every endpoint that parses it, through the real server: no case may answer
/// 500 (the panic guard turns a panic into a 500, so this also proves none panics). Bounded:
/// 600 cases, plus 100 random registration documents.
#[tokio::test]
async fn random_input_never_gets_a_500() {
    let app = TestApp::spawn_with(|s| s.registration = RegistrationSettings::Open).await;
    let http = http_client();
    let mut runner = TestRunner::new(Config::with_cases(600));
    let strategy = call();
    let mut failures = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..600 {
        let (method, path, pairs, auth) = strategy.new_tree(&mut runner).unwrap().current();
        let mut req = if method == "GET" {
            http.get(app.url(path)).query(&pairs)
        } else {
            http.post(app.url(path)).form(&pairs)
        };
        if let Some(a) = auth
            .as_deref()
            .filter(|a| reqwest::header::HeaderValue::from_str(a).is_ok())
        {
            req = req.header("authorization", a);
        }
        let status = req.send().await.unwrap().status().as_u16();
        *statuses.entry(status).or_insert(0u32) += 1;
        if status >= 500 && status != 503 {
            failures.push(format!("{method} {path} {pairs:?} {auth:?} -> {status}"));
        }
    }
    // Registration documents: random JSON bodies.
    let documents = prop::collection::btree_map(key(), text(), 0..8);
    for _ in 0..100 {
        let doc = documents.new_tree(&mut runner).unwrap().current();
        let status = http
            .post(app.url("/register"))
            .header("content-type", "application/json")
            .body(serde_json::to_string(&doc).unwrap())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        *statuses.entry(status).or_insert(0u32) += 1;
        if status >= 500 {
            failures.push(format!("POST /register {doc:?} -> {status}"));
        }
    }
    println!("random input: 700 requests, statuses {statuses:?}");
    assert!(failures.is_empty(), "{failures:#?}");
    // Still healthy afterwards.
    let res = http
        .post(app.url("/token"))
        .basic_auth("web", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

use openidconnect::reqwest;

// ---- replicas ---------------------------------------------------------------------------------

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use crate::harness::{Browser, PASSWORD, Page, query_of, test_config};

/// The PostgreSQL leg's base URL, or None on the SQLite leg (replicas need a shared server).
fn postgres_base() -> Option<String> {
    std::env::var("LANYARD_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// A `lanyard serve` process of the binary the CLI tests use.
struct Replica {
    child: Child,
    url: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    /// Start a replica listening on `port`, for `issuer` (shared by every replica, as behind a
    /// load balancer), on `db_url`.
    async fn start(dir: &std::path::Path, issuer_port: u16, port: u16, db_url: &str) -> Self {
        let config = dir.join(format!("replica-{port}.toml"));
        std::fs::write(&config, test_config(issuer_port, db_url)).unwrap();
        let mut child = Command::new(crate::cli::binary())
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env_remove("LANYARD_TEST_DATABASE_URL")
            // Each replica listens on its own port, behind the shared issuer; no per-client
            // token budget (this drill is about integrity, not rate limits).
            .env("LANYARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("LANYARD_RATE_LIMITS__TOKEN_REQUESTS_PER_MINUTE", "0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn lanyard serve");
        let url = format!("http://127.0.0.1:{port}");
        let http = http_client();
        for _ in 0..150 {
            if let Ok(r) = http.get(format!("{url}/readyz")).send().await
                && r.status() == 200
            {
                return Self { child, url };
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("replica on {port} did not become ready");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pkce() -> (String, String) {
    let verifier = crate::harness::unique() + &crate::harness::unique();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// What a finished journey leaves behind, to check after the drill.
#[derive(Debug, Default)]
struct Outcome {
    refresh_token: Option<String>,
    session_cookie: Option<String>,
    consent_user: Option<String>,
    enrolled_user: Option<String>,
}

fn cookie(b: &Browser) -> String {
    b.cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether an error is the replica being gone (connection refused or reset), not an answer.
fn is_gone(e: &str) -> bool {
    e.contains("IncompleteMessage")
        || e.contains("SendRequest")
        || e.contains("connect")
        || e.contains("Connection")
        || e.contains("closed")
        || e.contains("reset")
}

async fn send(b: &mut Browser, url: &str, form: Option<&[(&str, &str)]>) -> Result<Page, String> {
    match form {
        Some(f) => b.try_post(url, f).await,
        None => b.try_get(url).await,
    }
    .map_err(|e| format!("{e:?}"))
}

async fn token(url: &str, form: &[(&str, &str)]) -> Result<serde_json::Value, String> {
    let res = http_client()
        .post(format!("{url}/token"))
        .basic_auth("web", Some(SECRET))
        .form(form)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let status = res.status();
    let body: serde_json::Value =
        serde_json::from_str(&res.text().await.map_err(|e| format!("{e:?}"))?)
            .map_err(|e| format!("{e}"))?;
    if status != 200 {
        return Err(format!("token {status}: {body}"));
    }
    Ok(body)
}

/// One sign-in spread over the replicas: authorize at `a`, the sign-in page at `b`, the password
/// at `a`, consent (third-party) at `b`, the code exchange at `b`, a refresh at `a`, userinfo at
/// `b`. With `enroll`, the user then adds an authenticator: the page at `a`, the code at `b`.
async fn journey(
    a: &str,
    b: &str,
    user: &str,
    third_party: bool,
    enroll: bool,
) -> Result<Outcome, String> {
    let mut br = Browser::new(a);
    let (verifier, challenge) = pkce();
    let client = if third_party { "thirdparty" } else { "web" };
    let url = format!(
        "{a}/authorize?response_type=code&client_id={client}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb\
         &scope=openid%20email&state=st&nonce=n&code_challenge={challenge}&code_challenge_method=S256"
    );
    let res = send(&mut br, &url, None).await?;
    let to = res
        .location()
        .ok_or_else(|| format!("authorize {}: {}", res.status, res.body))?;
    let page = send(&mut br, &format!("{b}{to}"), None).await?;
    let csrf = page
        .input("csrf_token")
        .ok_or("no csrf on the sign-in page")?;
    let flow = page.input("flow").ok_or("no flow on the sign-in page")?;
    let mut res = send(
        &mut br,
        &format!("{a}/login"),
        Some(&[
            ("username", user),
            ("password", PASSWORD),
            ("flow", &flow),
            ("csrf_token", &csrf),
        ]),
    )
    .await?;
    let consent_page = res.location().filter(|to| to.starts_with("/consent"));
    if let Some(to) = consent_page {
        // The first time this user meets the third-party client (later: remembered).
        let consent = send(&mut br, &format!("{b}{to}"), None).await?;
        let csrf = consent.input("csrf_token").ok_or("no csrf on consent")?;
        let flow = consent.input("flow").ok_or("no flow on consent")?;
        res = send(
            &mut br,
            &format!("{b}/consent"),
            Some(&[
                ("decision", "allow"),
                ("flow", &flow),
                ("csrf_token", &csrf),
            ]),
        )
        .await?;
    }
    let to = res
        .location()
        .ok_or_else(|| format!("no code: {} {}", res.status, res.body))?;
    let code = query_of(&to)
        .get("code")
        .cloned()
        .ok_or_else(|| format!("no code in {to}"))?;
    let mut outcome = Outcome {
        session_cookie: Some(cookie(&br)),
        consent_user: third_party.then(|| user.to_string()),
        ..Outcome::default()
    };
    if !third_party {
        let t = token(
            b,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9/cb"),
                ("code_verifier", &verifier),
            ],
        )
        .await?;
        let t = token(
            a,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t["refresh_token"].as_str().unwrap_or("")),
            ],
        )
        .await?;
        let info = http_client()
            .get(format!("{b}/userinfo"))
            .bearer_auth(t["access_token"].as_str().unwrap_or(""))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        if info.status() != 200 {
            return Err(format!("userinfo {}", info.status()));
        }
        outcome.refresh_token = t["refresh_token"].as_str().map(str::to_string);
    }
    if enroll {
        let page = send(&mut br, &format!("{a}/account/mfa/totp"), None).await?;
        if page.location().as_deref() == Some("/account#security") {
            // A retry after the kill: the first attempt's enrollment had committed.
            outcome.enrolled_user = Some(user.to_string());
            return Ok(outcome);
        }
        if page.status != 200 {
            return Err(format!("enroll page {}", page.status));
        }
        let key = crate::mfa::key_from_page(&page);
        let code = crate::harness::totp_code(&key, chrono::Utc::now());
        let csrf = page.input("csrf_token").ok_or("no csrf on enroll")?;
        let done = send(
            &mut br,
            &format!("{b}/account/mfa/totp"),
            Some(&[
                ("code", &code),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ]),
        )
        .await?;
        if done.status != 200 {
            return Err(format!("enroll {}: {}", done.status, done.body));
        }
        outcome.enrolled_user = Some(user.to_string());
        outcome.session_cookie = Some(cookie(&br));
        // Adding a factor revokes the user's grants (by design), this journey's included.
        outcome.refresh_token = None;
    }
    Ok(outcome)
}

/// Two replicas on one PostgreSQL: 240 sign-ins (each with a code exchange, a refresh and
/// userinfo, or a consent, or an authenticator enrollment) spread over both, with one replica
/// killed with SIGKILL half-way. The other keeps serving; journeys the kill interrupted are
/// retried there (as a load balancer would); afterwards no grant, session, enrollment or
/// consent is lost or half-written, and the lockout counted across both.
#[tokio::test]
async fn two_replicas_survive_one_being_killed() {
    let Some(base) = postgres_base() else {
        println!("skipped: runs on the PostgreSQL leg");
        return;
    };
    let db_url = lanyard_store::testing::fresh_postgres_database(&base)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let (ra, rb) = tokio::join!(
        Replica::start(dir.path(), pa, pa, &db_url),
        Replica::start(dir.path(), pa, pb, &db_url)
    );
    let (a, b) = (ra.url.clone(), rb.url.clone());
    let db = lanyard_store::Database::connect(&db_url, 2).await.unwrap();
    let store = db.store();
    let hash = lanyard_core::authn::password::hash_blocking(
        lanyard_core::authn::password::Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        PASSWORD,
    )
    .unwrap();
    let users: Vec<String> = (0..40).map(|i| format!("user{i}")).collect();
    for u in users.iter().chain(["locked".to_string()].iter()) {
        let mut user = lanyard_core::model::User::new(u, chrono::Utc::now());
        user.email = Some(format!("{u}@example.com"));
        user.email_verified = true;
        user.password_hash = Some(hash.clone());
        store.create_user(&user).await.unwrap();
    }

    // The lockout counts failures on both replicas.
    for (i, url) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let mut br = Browser::new(url);
        let page = br.get("/login").await;
        let res = br.submit_login(&page, "locked", "wrong").await;
        assert_eq!(res.status, 401, "failure {i}");
    }
    for url in [&a, &b] {
        let mut br = Browser::new(url);
        let page = br.get("/login").await;
        assert_eq!(
            br.submit_login(&page, "locked", PASSWORD).await.status,
            429,
            "{url}"
        );
    }

    let b_alive = Arc::new(AtomicBool::new(true));
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    const JOURNEYS: usize = 240;
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let (a, b, users) = (a.clone(), b.clone(), users.clone());
            let (b_alive, next, done) = (b_alive.clone(), next.clone(), done.clone());
            tokio::spawn(async move {
                let mut results = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= JOURNEYS {
                        break;
                    }
                    // Users 0..29 sign in (some to the third-party client); 30..39 enroll an
                    // authenticator once each (enrolling ends their other sessions).
                    let (user, third, enroll) = if i % 24 == 5 && i / 24 < 10 {
                        (users[30 + i / 24].clone(), false, true)
                    } else {
                        (users[i % 30].clone(), i % 3 == 0, false)
                    };
                    let (x, y) = if !b_alive.load(Ordering::SeqCst) {
                        (a.clone(), a.clone())
                    } else if (i + w) % 2 == 0 {
                        (a.clone(), b.clone())
                    } else {
                        (b.clone(), a.clone())
                    };
                    let mut first = journey(&x, &y, &user, third, enroll).await;
                    let mut retried = false;
                    if let Err(e) = &first
                        && is_gone(e)
                        && !b_alive.load(Ordering::SeqCst)
                    {
                        // Interrupted by the kill: a load balancer sends it to the survivor.
                        retried = true;
                        first = journey(&a, &a, &user, third, enroll).await;
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    results.push((i, retried, first));
                }
                results
            })
        })
        .collect();
    // Half-way through, the second replica dies without warning.
    while done.load(Ordering::SeqCst) < JOURNEYS / 2 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    b_alive.store(false, Ordering::SeqCst);
    let mut rb = rb;
    rb.child.kill().unwrap();
    rb.child.wait().unwrap();
    let killed_at = done.load(Ordering::SeqCst);

    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    let mut retried = 0;
    for w in workers {
        for (i, r, res) in w.await.unwrap() {
            retried += usize::from(r);
            match res {
                Ok(o) => outcomes.push(o),
                Err(e) => failures.push(format!("journey {i}: {e}")),
            }
        }
    }
    let elapsed = started.elapsed();
    println!(
        "replicas: {} journeys ({} logins, {} token requests) in {:.1}s, replica B killed after {killed_at}; \
         {retried} interrupted and retried on A; {} failures",
        JOURNEYS,
        JOURNEYS + retried,
        outcomes
            .iter()
            .filter(|o| o.refresh_token.is_some())
            .count()
            * 2,
        elapsed.as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");

    // Nothing lost: every grant still refreshes, every session still signs in, every consent
    // and enrollment is there, whole.
    let http = http_client();
    let enrolled: Vec<&String> = outcomes
        .iter()
        .filter_map(|o| o.enrolled_user.as_ref())
        .collect();
    for o in &outcomes {
        if let Some(rt) = &o.refresh_token {
            token(
                &a,
                &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            )
            .await
            .unwrap_or_else(|e| panic!("grant intact: {e}"));
        }
        if let Some(c) = &o.consent_user {
            let u = store.find_user_by_username(c).await.unwrap().unwrap();
            let consent = store.get_consent(u.id, "thirdparty").await.unwrap();
            assert!(consent.is_some_and(|c| c.scopes.contains(&"email".to_string())));
        }
        if let Some(cookie) = &o.session_cookie {
            let res = http
                .get(format!("{a}/account"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "session intact");
        }
    }
    for u in &users {
        let user = store.find_user_by_username(u).await.unwrap().unwrap();
        let totp = store.get_totp(user.id).await.unwrap();
        let codes = store.backup_codes_remaining(user.id).await.unwrap();
        assert_eq!(
            (totp.is_some(), codes),
            if totp.is_some() {
                (true, 10)
            } else {
                (false, 0)
            },
            "{u}: an enrollment is whole or absent"
        );
        assert_eq!(totp.is_some(), enrolled.contains(&u), "{u}");
    }
    db.close().await;
    drop(ra);
    lanyard_store::testing::drop_postgres_database(&base, &db_url)
        .await
        .ok();
}

// ---- database restart -------------------------------------------------------------------------

/// A PostgreSQL cluster of this test's own (initdb in a temp dir, its own port), so that it can
/// be stopped and started while other tests use the machine's server. Needs PostgreSQL's server
/// binaries (`.ci/run` installs them); run as root, the cluster runs as `postgres`.
struct PrivatePg {
    bin: std::path::PathBuf,
    data: std::path::PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivatePg {
    fn bin_dir() -> Option<std::path::PathBuf> {
        let mut versions: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        versions.sort();
        versions.pop()
    }

    fn is_root() -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
    }

    /// Run a server binary, as `postgres` when we are root (PostgreSQL refuses to run as root).
    fn run(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let path = self.bin.join(tool);
        let mut cmd = if Self::is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run a PostgreSQL tool")
    }

    fn create() -> Self {
        let bin = Self::bin_dir().expect("PostgreSQL server binaries in /usr/lib/postgresql");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if Self::is_root() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            assert!(
                Command::new("chown")
                    .args(["postgres:postgres"])
                    .arg(&data)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let pg = Self {
            bin,
            data,
            port: free_port(),
            _dir: dir,
        };
        let data = pg.data.to_str().unwrap().to_string();
        let out = pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start();
        pg
    }

    fn start(&self) {
        let data = self.data.to_str().unwrap();
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data} -c fsync=off",
            self.port
        );
        let log = format!("{data}/server.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D", data, "-o", &opts, "-l", &log, "-w", "-t", "30", "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stop as a crash would: no shutdown checkpoint, every connection cut.
    fn crash(&self) {
        let data = self.data.to_str().unwrap();
        let out = self.run("pg_ctl", &["-D", data, "-m", "immediate", "-w", "stop"]);
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let data = self.data.to_str().unwrap_or_default().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }
}

/// PostgreSQL crashes and restarts under load: while it is down, requests answer 503 (never a
/// 500 or a hang past the pool's timeout); nothing issued before is lost or corrupted; and the
/// service is back within 5 s of the database.
#[tokio::test]
async fn a_database_restart_under_load_is_503_then_recovers() {
    if postgres_base().is_none() {
        println!("skipped: runs on the PostgreSQL leg");
        return;
    }
    let pg = PrivatePg::create();
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_on(dir, pg.url("postgres"), |s| {
        s.rate_limits.token_requests_per_minute = 0;
    })
    .await;
    app.user("ada").await;
    let rp = crate::hardening::web_rp(&app).await;
    // Grants made before the outage, to find intact afterwards.
    let mut before = Vec::new();
    for _ in 0..5 {
        let mut b = app.browser();
        let s = rp.start(&["offline_access"], &[]);
        let code = rp.authorize(&app, &mut b, &s, "ada").await;
        before.push(rp.exchange(&code, s.verifier).await.unwrap());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let t0 = std::time::Instant::now();
    let log = Arc::new(std::sync::Mutex::new(Vec::<(f64, u16)>::new()));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, log, url) = (stop.clone(), log.clone(), app.url("/token"));
            tokio::spawn(async move {
                let http = http_client();
                while !stop.load(Ordering::Relaxed) {
                    let status = match http
                        .post(&url)
                        .basic_auth("web", Some(SECRET))
                        .form(&[("grant_type", "client_credentials")])
                        .timeout(std::time::Duration::from_secs(15))
                        .send()
                        .await
                    {
                        Ok(r) => r.status().as_u16(),
                        Err(_) => 0,
                    };
                    log.lock()
                        .unwrap()
                        .push((t0.elapsed().as_secs_f64(), status));
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let down_at = t0.elapsed().as_secs_f64();
    pg.crash();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    // While it is down, the browser side answers 503 too.
    let page = app.browser().get("/login").await;
    assert_eq!(page.status, 503, "{}", page.body);
    pg.start();
    let up_at = t0.elapsed().as_secs_f64();
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    let served = log.iter().filter(|(_, s)| *s == 200).count();
    let refused: Vec<u16> = log
        .iter()
        .filter(|(_, s)| *s != 200)
        .map(|(_, s)| *s)
        .collect();
    let back = log
        .iter()
        .find(|(t, s)| *t > up_at && *s == 200)
        .map(|(t, _)| t - up_at);
    println!(
        "database restart: {} requests, {served} served, {} refused (statuses {:?}), down at \
         {down_at:.1}s for {:.1}s, first success {:.2}s after the database was back",
        log.len(),
        refused.len(),
        refused.iter().collect::<std::collections::BTreeSet<_>>(),
        up_at - down_at,
        back.unwrap_or(f64::NAN)
    );
    assert!(
        refused.iter().all(|s| *s == 503),
        "only 503 while down: {refused:?}"
    );
    assert!(!refused.is_empty(), "the outage was seen");
    assert!(
        back.is_some_and(|d| d < 5.0),
        "back within 5 s of the database: {back:?}"
    );
    assert!(
        log.iter()
            .filter(|(t, _)| *t > up_at + 5.0)
            .all(|(_, s)| *s == 200),
        "everything served once recovered"
    );
    // Nothing from before the outage was lost or corrupted.
    for t in &before {
        let again = rp
            .refresh(
                openidconnect::OAuth2TokenResponse::refresh_token(t)
                    .unwrap()
                    .secret(),
            )
            .await;
        assert!(again.is_ok(), "grant intact: {again:?}");
    }
    assert!(
        app.store
            .find_user_by_username("ada")
            .await
            .unwrap()
            .is_some()
    );
}
