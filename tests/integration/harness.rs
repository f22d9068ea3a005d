//! The test harness: `TestApp` runs the real application on 127.0.0.1:0 with a fresh database
//! (a SQLite file in a temp dir, or a fresh PostgreSQL database when LANYARD_TEST_DATABASE_URL
//! is set) and a fixed clock; `Browser` is a cookie-keeping HTTP client that never follows
//! redirects; `TestRp` is a relying party built on the `openidconnect` crate.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use lanyard::App;
use lanyard_core::authn::password::{Argon2Params, hash_blocking};
use lanyard_core::clock::FixedClock;
use lanyard_core::federation::{ClaimMapping, LinkBy, Upstream, UpstreamKind};
use lanyard_core::model::{Client, GrantType, User};
use lanyard_core::secret::{Secret, sha256};

pub use lanyard_config::{RegistrationSettings, Settings};
use lanyard_core::store::Store;
use openidconnect::reqwest;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

pub const PASSWORD: &str = "correct horse battery staple";
pub const SECRET: &str = "s3cret-for-tests-only-0123456789abcdef";

/// Clients every test app has. Secrets are literals: this is a test config.
const CLIENTS: &str = r#"
[[clients]]
client_id = "web"
name = "Web App"
secret = "SECRET"
redirect_uris = ["http://127.0.0.1:9/cb"]
post_logout_redirect_uris = ["http://127.0.0.1:9/bye"]
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
auth_method = "client_secret_basic"
scopes = ["openid", "profile", "email", "address", "phone", "offline_access"]
trusted = true
id_token_signed_response_alg = "RS256"

[[clients]]
client_id = "post"
name = "Post App"
secret = "SECRET"
redirect_uris = ["http://127.0.0.1:9/cb"]
grant_types = ["authorization_code", "refresh_token"]
auth_method = "client_secret_post"
scopes = ["openid", "profile", "email"]
trusted = true
id_token_signed_response_alg = "ES256"

[[clients]]
client_id = "spa"
name = "Single Page App"
redirect_uris = ["http://127.0.0.1:9/cb"]
post_logout_redirect_uris = ["http://127.0.0.1:9/bye"]
grant_types = ["authorization_code", "refresh_token"]
auth_method = "none"
scopes = ["openid", "profile", "email", "offline_access"]
trusted = true
id_token_signed_response_alg = "EdDSA"

[[clients]]
client_id = "thirdparty"
name = "Third Party Notes"
secret = "SECRET"
redirect_uris = ["http://127.0.0.1:9/cb"]
grant_types = ["authorization_code"]
auth_method = "client_secret_basic"
scopes = ["openid", "profile", "email"]
trusted = false
"#;

pub fn test_config(port: u16, db_url: &str) -> String {
    let clients = CLIENTS.replace("SECRET", SECRET);
    format!(
        r#"
issuer = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"

[database]
url = "{db_url}"
max_connections = 5

[encryption]
key_id = "test"
key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

[oauth]
# Test relying parties serve their keys and request objects on loopback addresses.
fetch_private_addresses = true

[passwords]
argon2_memory_kib = 1024
argon2_iterations = 1
argon2_parallelism = 1

{clients}
"#
    )
}

pub struct TestApp {
    pub issuer: String,
    pub clock: FixedClock,
    pub app: App,
    pub store: Arc<dyn Store>,
    /// The database this app runs on (an `sqlite://` file or a PostgreSQL database).
    pub db_url: String,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A database URL for a new test app: a fresh PostgreSQL database when the env var is set.
pub async fn fresh_db_url(dir: &std::path::Path) -> String {
    match std::env::var("LANYARD_TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => lanyard_store::testing::fresh_postgres_database(&base)
            .await
            .expect("create test database"),
        _ => format!("sqlite://{}/lanyard.db", dir.display()),
    }
}

/// A confidential client shaped like the test config's: `client_secret_basic` with `SECRET`,
/// trusted, redirecting to `http://127.0.0.1:9/cb`, code and refresh grants, openid profile
/// email. Tests change what they need on the value.
pub fn client(id: &str) -> Client {
    Client {
        secret_hash: Some(sha256(SECRET.as_bytes()).to_vec()),
        redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ["openid", "profile", "email"].map(String::from).to_vec(),
        trusted: true,
        ..Client::new(id, id)
    }
}

/// An OpenID upstream at `issuer` where this app is the client `client_id` with `SECRET`.
pub fn upstream(name: &str, display_name: &str, issuer: &str, client_id: &str) -> Upstream {
    Upstream {
        name: name.into(),
        display_name: display_name.into(),
        kind: UpstreamKind::Oidc,
        issuer: issuer.into(),
        client_id: client_id.into(),
        client_secret: Secret::new(SECRET.into()),
        scopes: ["openid", "profile", "email"].map(String::from).to_vec(),
        mapping: ClaimMapping::default(),
        link_by: LinkBy::None,
        jit: false,
        trust_upstream_mfa: Vec::new(),
        logout_upstream: false,
    }
}

/// The configured client `id`, to change in an edit.
pub fn client_mut<'a>(s: &'a mut Settings, id: &str) -> &'a mut Client {
    s.clients
        .iter_mut()
        .find(|c| c.client_id == id)
        .unwrap_or_else(|| panic!("no client {id} in the test config"))
}

/// No change to the standard test settings.
pub fn standard(_: &mut Settings) {}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(standard).await
    }

    /// Start with the standard test settings changed by `edit` (values, not TOML text).
    pub async fn spawn_with(edit: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_url = fresh_db_url(dir.path()).await;
        Self::spawn_on(dir, db_url, edit).await
    }

    pub async fn spawn_on(
        dir: tempfile::TempDir,
        db_url: String,
        edit: impl FnOnce(&mut Settings),
    ) -> Self {
        Self::spawn_on_listener(dir, db_url, reserve_port().await, edit).await
    }

    /// Start on an already bound listener (so its address could go into another app's config
    /// first, as when two instances federate with each other), with a fresh database.
    pub async fn spawn_listening(
        listener: tokio::net::TcpListener,
        edit: impl FnOnce(&mut Settings),
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_url = fresh_db_url(dir.path()).await;
        Self::spawn_on_listener(dir, db_url, listener, edit).await
    }

    async fn spawn_on_listener(
        dir: tempfile::TempDir,
        db_url: String,
        listener: tokio::net::TcpListener,
        edit: impl FnOnce(&mut Settings),
    ) -> Self {
        let addr = listener.local_addr().expect("addr");
        let toml = test_config(addr.port(), &db_url);
        let db_url_kept = db_url.clone();
        let mut settings = lanyard_config::load_from_str(&toml, &[], dir.path())
            .unwrap_or_else(|e| panic!("test config: {e}"));
        edit(&mut settings);
        let clock = FixedClock::new(Utc::now());
        let app = App::build(settings, Arc::new(clock.clone()))
            .await
            .expect("app builds");
        let router = app
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let store = app.db.store();
        Self {
            issuer: format!("http://127.0.0.1:{}", addr.port()),
            clock,
            app,
            store,
            db_url: db_url_kept,
            _dir: dir,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// A user with the standard test password, created straight in the store.
    pub async fn user(&self, username: &str) -> User {
        let mut u = User::new(username, Utc::now());
        u.email = Some(format!("{username}@example.com"));
        u.email_verified = true;
        u.name = Some(format!("{username} Example"));
        u.password_hash = Some(
            hash_blocking(
                Argon2Params {
                    memory_kib: 1024,
                    iterations: 1,
                    parallelism: 1,
                },
                PASSWORD,
            )
            .expect("hash"),
        );
        self.store.create_user(&u).await.expect("create user");
        u
    }

    pub fn browser(&self) -> Browser {
        Browser::new(&self.issuer)
    }

    pub fn http(&self) -> reqwest::Client {
        http_client()
    }
}

/// Whether userinfo accepts `access_token`.
pub async fn userinfo_ok(app: &TestApp, access_token: &str) -> bool {
    http_client()
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

/// A unique value for jti and nonce claims in tests.
pub fn unique() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A listener on a free loopback port.
pub async fn reserve_port() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
}

pub fn http_client() -> reqwest::Client {
    reqwest::ClientBuilder::new()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// A response, read fully.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The destination of the "Continue to <host>" link on the page Lanyard shows before it
    /// sends an error (or a signed-out user) to a self-registered client.
    pub fn continue_link(&self) -> Option<String> {
        let at = self.body.find(">Continue to ")?;
        let tag = &self.body[self.body[..at].rfind("<a ")?..at];
        let v = tag.find("href=\"")? + 6;
        let end = tag[v..].find('"')?;
        Some(html_unescape(&tag[v..v + end]))
    }

    /// The value of a hidden or text input named `name` in the HTML.
    pub fn input(&self, name: &str) -> Option<String> {
        let needle = format!("name=\"{name}\"");
        let at = self.body.find(&needle)?;
        let tag_start = self.body[..at].rfind('<')?;
        let tag_end = at + self.body[at..].find('>')?;
        let tag = &self.body[tag_start..tag_end];
        let v = tag.find("value=\"")? + 7;
        let end = tag[v..].find('"')?;
        Some(html_unescape(&tag[v..v + end]))
    }
}

pub fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// A browser: keeps cookies per name, follows nothing by itself.
pub struct Browser {
    base: String,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    pub last_set_cookie: Vec<String>,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            http: http_client(),
            cookies: BTreeMap::new(),
            last_set_cookie: vec![],
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{}", self.base, url)
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, res: reqwest::Response) -> Page {
        self.last_set_cookie.clear();
        for sc in res.headers().get_all(SET_COOKIE) {
            let sc = sc.to_str().unwrap_or_default().to_string();
            self.last_set_cookie.push(sc.clone());
            let pair = sc.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                let expired = sc.to_ascii_lowercase().contains("max-age=0") || v.is_empty();
                if expired {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        self.try_get(url).await.expect("GET")
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        self.try_post(url, form).await.expect("POST")
    }

    /// `get` for drills that must see a server going away.
    pub async fn try_get(&mut self, url: &str) -> Result<Page, reqwest::Error> {
        let res = self
            .http
            .get(self.absolute(url))
            .header("cookie", self.cookie_header())
            .send()
            .await?;
        Ok(self.finish(res).await)
    }

    pub async fn try_post(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<Page, reqwest::Error> {
        let res = self
            .http
            .post(self.absolute(url))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await?;
        Ok(self.finish(res).await)
    }

    /// Follow redirects on our own origin until a page renders or we are sent elsewhere.
    pub async fn follow(&mut self, mut page: Page) -> Page {
        for _ in 0..10 {
            match page.location() {
                Some(loc) if loc.starts_with('/') || loc.starts_with(&self.base) => {
                    page = self.get(&loc).await
                }
                _ => return page,
            }
        }
        page
    }

    /// Sign in on a login page (already rendered), returning the response to the POST.
    pub async fn submit_login(
        &mut self,
        login_page: &Page,
        username: &str,
        password: &str,
    ) -> Page {
        assert_eq!(
            login_page.status, 200,
            "expected the login page: {}",
            login_page.body
        );
        let csrf = login_page
            .input("csrf_token")
            .expect("csrf field on login page");
        let flow = login_page.input("flow").unwrap_or_default();
        self.post(
            "/login",
            &[
                ("username", username),
                ("password", password),
                ("flow", &flow),
                ("csrf_token", &csrf),
            ],
        )
        .await
    }

    /// Log in through /login directly (no relying party).
    pub async fn login(&mut self, username: &str) -> Page {
        let page = self.get("/login").await;
        self.submit_login(&page, username, PASSWORD).await
    }

    /// Log in through /login with the password, then the current TOTP code for `key`; returns
    /// the response to the code's POST.
    pub async fn login_with_totp(&mut self, app: &TestApp, username: &str, key: &[u8]) -> Page {
        let res = self.login(username).await;
        assert_eq!(
            res.location().as_deref(),
            Some("/login/mfa"),
            "the password step leads to the code: {}",
            res.body
        );
        let page = self.get("/login/mfa").await;
        let csrf = page.input("csrf_token").expect("csrf on the code page");
        let code = totp_code(key, lanyard_core::clock::Clock::now(&app.clock));
        self.post("/login/mfa", &[("code", &code), ("csrf_token", &csrf)])
            .await
    }
}

/// What an authenticator app computes (totp-rs, standard parameters).
pub fn totp_code(key: &[u8], at: chrono::DateTime<Utc>) -> String {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(key.to_vec())
        .build()
        .expect("totp")
        .generate(at.timestamp() as u64)
        .to_string()
}

/// RFC 6749 5.2: `res` is a JSON error with `status` and `error`, and is not cached (5.1).
pub async fn assert_oauth_error(res: reqwest::Response, status: u16, error: &str) {
    assert_eq!(
        res.status().as_u16(),
        status,
        "status of the {error} answer"
    );
    let cache = res
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = res.json_value().await;
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(
        cache.as_deref(),
        Some("no-store"),
        "error answers are not cached"
    );
}

/// Split a redirect to the client into its query parameters.
pub fn query_of(location: &str) -> BTreeMap<String, String> {
    let url = url::Url::parse(location).unwrap_or_else(|e| panic!("bad location {location}: {e}"));
    url.query_pairs().into_owned().collect()
}

/// The JSON payload of a JWT, unverified (for claims the RP library does not model).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("jwt payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    serde_json::from_slice(&bytes).expect("json")
}

pub fn jwt_header(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let h = jwt.split('.').next().expect("jwt header");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(h)
            .expect("b64"),
    )
    .expect("json")
}

/// Read a response body as JSON (the RP library's reqwest is built without its json feature).
pub trait JsonBody {
    fn json_value(self) -> impl std::future::Future<Output = serde_json::Value>;
}

impl JsonBody for reqwest::Response {
    async fn json_value(self) -> serde_json::Value {
        let text = self.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}
