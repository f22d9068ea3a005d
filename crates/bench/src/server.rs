//! The server under test: a `lanyard serve` process on a fresh database, seeded through the CLI,
//! and what /proc says about its CPU time and memory.
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lanyard_core::authn::password::{Argon2Params, hash_blocking};

use crate::Args;

pub const CLIENT_ID: &str = "bench";
pub const CLIENT_SECRET: &str = "bench-client-secret-0123456789abcdef";
pub const REDIRECT: &str = "http://127.0.0.1:9/cb";
pub const PASSWORD: &str = "correct horse battery staple";
/// Users seeded for the login scenarios (`bench-0` ...).
pub const USERS: usize = 400;

pub struct Server {
    pub issuer: String,
    pub backend: &'static str,
    pub startup: Duration,
    child: Child,
    lanyard: std::path::PathBuf,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(args: &Args) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let (db, backend) = match &args.postgres {
            Some(base) => (
                lanyard_store::testing::fresh_postgres_database(base)
                    .await
                    .map_err(|e| anyhow::anyhow!("postgres: {e}"))?,
                "PostgreSQL",
            ),
            None => (
                format!("sqlite://{}/lanyard.db", dir.path().display()),
                "SQLite",
            ),
        };
        let config = dir.path().join("lanyard.toml");
        std::fs::write(&config, config_text(port, &db))?;
        seed(&args.lanyard, &config, dir.path())?;
        if args.scale > 0 {
            crate::scale::seed(&db, args.scale).await?;
        }
        let issuer = format!("http://127.0.0.1:{port}");
        let (child, startup) = spawn(&args.lanyard, &config, &issuer).await?;
        Ok(Self {
            issuer,
            backend,
            startup,
            child,
            lanyard: args.lanyard.clone(),
            config,
            _dir: dir,
        })
    }

    /// Stop and start again on the same database (keys and users exist): the time to the
    /// first answer of an ordinary restart.
    pub async fn restart(&mut self) -> anyhow::Result<Duration> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, startup) = spawn(&self.lanyard, &self.config, &self.issuer).await?;
        self.child = child;
        Ok(startup)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    pub fn peak_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Forget the peak so far, so a scenario's peak is its own (Linux `clear_refs` 5).
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// The server's CPU time so far (user + system).
    pub fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may contain spaces) in parentheses.
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<u64>().ok()))
            .sum();
        // USER_HZ is 100 on Linux.
        Duration::from_millis(ticks * 10)
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `lanyard serve` and wait for its first discovery answer.
async fn spawn(
    lanyard: &std::path::Path,
    config: &std::path::Path,
    issuer: &str,
) -> anyhow::Result<(Child, Duration)> {
    let started = Instant::now();
    let child = Command::new(lanyard)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("RUST_LOG", "warn,lanyard::app=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start lanyard serve")?;
    let http = crate::load::client();
    let url = format!("{issuer}/.well-known/openid-configuration");
    loop {
        if let Ok(res) = http.get(&url).send().await
            && res.status().is_success()
        {
            return Ok((child, started.elapsed()));
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("lanyard did not answer within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Production defaults (OWASP argon2id, lockout on) except what a load test must change: no
/// per-client token budget.
fn config_text(port: u16, db: &str) -> String {
    let secret_sha = sha256_hex(CLIENT_SECRET);
    format!(
        r#"issuer = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"

[database]
url = "{db}"

[encryption]
key_id = "bench"
key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

[rate_limits]
token_requests_per_minute = 0

[[clients]]
client_id = "{CLIENT_ID}"
name = "Bench"
secret_sha256 = "{secret_sha}"
redirect_uris = ["{REDIRECT}"]
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
scopes = ["openid", "profile", "email"]
trusted = true
id_token_signed_response_alg = "ES256"
"#
    )
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `USERS` users sharing one precomputed argon2id hash of `PASSWORD` (OWASP parameters).
fn seed(
    lanyard: &std::path::Path,
    config: &std::path::Path,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let hash = hash_blocking(Argon2Params::default(), PASSWORD)?;
    let lines: String = (0..USERS)
        .map(|i| {
            serde_json::json!({ "username": format!("bench-{i}"), "password_hash": hash })
                .to_string()
                + "\n"
        })
        .collect();
    let file = dir.join("users.jsonl");
    std::fs::write(&file, lines)?;
    let out = Command::new(lanyard)
        .arg("--config")
        .arg(config)
        .args(["user", "import"])
        .arg(&file)
        .output()?;
    if !out.status.success() {
        bail!(
            "seeding users failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
