//! The `lanyard` binary as an admin uses it: exit codes, stdin passwords, errors naming fields.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::harness::{TestApp, fresh_db_url, standard, test_config};

/// The binary in the same target directory as this test. `scripts/test` builds it first
/// (`cargo build -p lanyard`): cargo builds a binary for integration tests of its own package only.
pub(crate) fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("lanyard");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test, or `cargo build -p lanyard` before the tests",
        bin.display()
    );
    bin
}

struct Cli {
    config: PathBuf,
    db_url: String,
    _dir: tempfile::TempDir,
}

impl Cli {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = fresh_db_url(dir.path()).await;
        let config = dir.path().join("lanyard.toml");
        std::fs::write(&config, test_config(1, &db)).unwrap();
        Self {
            config,
            db_url: db,
            _dir: dir,
        }
    }

    /// Replace the config file's text (e.g. to rotate the encryption key).
    fn rewrite_config(&self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        std::fs::write(&self.config, edit(text)).unwrap();
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(binary())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("LANYARD_TEST_DATABASE_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lanyard");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn user_lifecycle_through_the_cli() {
    let cli = Cli::new().await;
    let o = cli.run(
        &[
            "user",
            "add",
            "Alice",
            "--email",
            "alice@example.com",
            "--name",
            "Alice A",
        ],
        "a long password\n",
    );
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("created user alice"));
    assert!(!out(&o).contains("a long password"));

    let o = cli.run(&["user", "add", "alice"], "another password\n");
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("already taken"));
    let o = cli.run(&["user", "add", "bob"], "short\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("password"), "names the field: {}", out(&o));
    let o = cli.run(&["user", "add", "bad name"], "a long password\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("username"));
    let o = cli.run(
        &["user", "add", "carol", "--email", "nope"],
        "a long password\n",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("--email"));

    let o = cli.run(&["user", "list", "--json"], "");
    let users: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["email"], "alice@example.com");

    assert!(
        cli.run(&["user", "set-password", "alice"], "a brand new password\n")
            .status
            .success()
    );
    assert!(cli.run(&["user", "disable", "alice"], "").status.success());
    let o = cli.run(&["user", "list"], "");
    assert!(out(&o).contains("disabled"));
    assert!(cli.run(&["user", "enable", "alice"], "").status.success());
    let o = cli.run(&["user", "disable", "nobody"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("does not exist"));

    let o = cli.run(&["audit", "--user", "alice", "--json"], "");
    assert!(o.status.success());
    let kinds: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            "user_enabled",
            "user_disabled",
            "password_changed",
            "user_created"
        ]
    );

    let o = cli.run(&["user", "delete", "alice"], "");
    assert_eq!(
        o.status.code(),
        Some(2),
        "refuses without --yes off a terminal"
    );
    assert!(
        cli.run(&["user", "delete", "alice", "--yes"], "")
            .status
            .success()
    );
    let o = cli.run(&["user", "list", "--json"], "");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[tokio::test]
async fn import_checks_every_line_before_writing_anything() {
    let cli = Cli::new().await;
    let file = cli.config.with_file_name("users.jsonl");
    let bcrypt_hash = bcrypt::hash("imported pw", 4).unwrap();
    std::fs::write(
        &file,
        format!(
            "{{\"username\":\"dave\",\"email\":\"dave@example.com\",\"password_hash\":\"{bcrypt_hash}\"}}\n\
             {{\"username\":\"erin\",\"password_hash\":\"plaintext\"}}\n\
             {{\"username\":\"frank\",\"colour\":\"blue\"}}\n"
        ),
    )
    .unwrap();
    let o = cli.run(&["user", "import", file.to_str().unwrap()], "");
    assert_eq!(o.status.code(), Some(2));
    let text = out(&o);
    assert!(text.contains("line 2: password_hash"), "{text}");
    assert!(text.contains("line 3"), "{text}");
    assert!(text.contains("nothing imported"));
    let o = cli.run(&["user", "list", "--json"], "");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        serde_json::json!([])
    );

    std::fs::write(&file, format!("{{\"username\":\"dave\",\"email\":\"dave@example.com\",\"password_hash\":\"{bcrypt_hash}\"}}\n")).unwrap();
    let o = cli.run(&["user", "import", file.to_str().unwrap()], "");
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("imported 1 user(s)"));
    let o = cli.run(&["user", "import", file.to_str().unwrap()], "");
    assert!(out(&o).contains("skipped 1 existing"));
}

#[tokio::test]
async fn config_check_lists_every_problem_and_serve_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "issuer = \"http://id.example.com\"\nlisten = \"nowhere\"\n[database]\nurl = \"sqlite://x.db\"\nsize = 3\n[encryption]\nkey = \"short\"\n",
    )
    .unwrap();
    for cmd in [&["config", "check"][..], &["serve"][..]] {
        let o = Command::new(binary())
            .arg("--config")
            .arg(&bad)
            .args(cmd)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{cmd:?}");
        let text = out(&o);
        for path in ["issuer:", "listen:", "database.size:", "encryption.key:"] {
            assert!(text.contains(path), "{cmd:?} must report {path}: {text}");
        }
    }
    let cli = Cli::new().await;
    let o = cli.run(&["config", "check"], "");
    assert!(o.status.success(), "{}", out(&o));
}

#[tokio::test]
async fn keys_rotate_and_list_and_migrate() {
    let cli = Cli::new().await;
    let o = cli.run(&["migrate"], "");
    assert!(o.status.success(), "{}", out(&o));
    let o = cli.run(
        &["keys", "rotate", "--alg", "ES256", "--publish-ahead", "15m"],
        "",
    );
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("published es256-"));
    let o = cli.run(&["keys", "list"], "");
    let text = out(&o);
    assert!(text.contains("next") && text.contains("ES256"), "{text}");
    let o = cli.run(&["keys", "rotate", "--alg", "HS256"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("--alg"));
}

#[tokio::test]
async fn serve_with_an_unreachable_database_exits_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lanyard.toml");
    std::fs::write(
        &config,
        test_config(1, "postgres://lanyard:hunter2@127.0.0.1:1/lanyard"),
    )
    .unwrap();
    let o = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let text = out(&o);
    assert!(text.contains("cannot open the database"), "{text}");
    assert!(
        !text.contains("hunter2"),
        "the password is not printed: {text}"
    );
}

#[tokio::test]
async fn groups_through_the_cli() {
    let cli = Cli::new().await;
    let o = cli.run(
        &["user", "add", "root", "--group", "admins", "--group", "ops"],
        "a long password\n",
    );
    assert!(o.status.success(), "{}", out(&o));
    let o = cli.run(
        &["user", "add", "eve", "--group", "bad group"],
        "a long password\n",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("group \"bad group\""), "{}", out(&o));
    let o = cli.run(&["group", "list"], "");
    let listing = out(&o);
    assert!(
        listing.contains("admins") && listing.contains("ops"),
        "{listing}"
    );
    let o = cli.run(&["group", "members", "admins"], "");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "root");
    let o = cli.run(&["group", "add", "admins", "nobody"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("does not exist"));
    assert!(
        cli.run(&["group", "remove", "ops", "root"], "")
            .status
            .success()
    );
    let o = cli.run(&["group", "remove", "ops", "root"], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(out(&o).contains("not in group"));
    let o = cli.run(&["user", "show", "root"], "");
    assert!(out(&o).contains("groups          admins"), "{}", out(&o));
}

#[tokio::test]
async fn unlock_reset_mfa_and_rotate_encryption_through_the_cli() {
    let cli = Cli::new().await;
    // A running instance on the same database: Ada enrolls TOTP through the pages, then
    // fails her password five times.
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_on(dir, cli.db_url.clone(), standard).await;
    let ada = app.user("ada").await;
    let mut b = app.browser();
    b.login("ada").await;
    crate::mfa::enroll(&app, &mut b).await;
    let mut attacker = app.browser();
    for _ in 0..5 {
        let page = attacker.get("/login").await;
        attacker.submit_login(&page, "ada", "wrong").await;
    }
    let page = attacker.get("/login").await;
    assert_eq!(
        attacker
            .submit_login(&page, "ada", crate::harness::PASSWORD)
            .await
            .status,
        429
    );
    // A linked upstream identity is listed too.
    let now = chrono::Utc::now();
    app.store
        .link_identity(&lanyard_core::model::FederatedIdentity {
            upstream: "okta".into(),
            subject: "00u1ada".into(),
            user_id: ada.id,
            email: Some("ada@example.com".into()),
            created_at: now,
            last_login_at: now,
        })
        .await
        .unwrap();
    let o = cli.run(&["user", "show", "ada"], "");
    assert!(out(&o).contains("two-step        on since"), "{}", out(&o));
    assert!(
        out(&o).contains("linked          okta (sub 00u1ada, ada@example.com)"),
        "{}",
        out(&o)
    );
    assert!(out(&o).contains("failed logins   5"), "{}", out(&o));

    let o = cli.run(&["user", "unlock", "ada"], "");
    assert!(
        out(&o).contains("unlocked ada (5 failed attempt(s) forgotten)"),
        "{}",
        out(&o)
    );
    let page = attacker.get("/login").await;
    let res = attacker
        .submit_login(&page, "ada", crate::harness::PASSWORD)
        .await;
    assert!(
        res.location().unwrap().starts_with("/login/mfa"),
        "{:?}",
        res.location()
    );

    // Rotate the data-encryption key: new key first, old one kept for reading.
    let new_key = "ISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A=";
    cli.rewrite_config(|c| {
        c.replace(
            "key_id = \"test\"\nkey = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"",
            &format!(
                "key_id = \"k2\"\nkey = \"{new_key}\"\n\n[[encryption.old_keys]]\nkey_id = \"test\"\nkey = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\""
            ),
        )
    });
    let o = cli.run(&["keys", "rotate-encryption"], "");
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        out(&o).contains("re-encrypted 1 TOTP secret(s) and 3 signing key(s) under key id \"k2\""),
        "{}",
        out(&o)
    );
    // Everything now reads with the new key alone.
    cli.rewrite_config(|c| {
        let cut = c.find("[[encryption.old_keys]]").unwrap();
        let end = c[cut..].find("\n\n").map(|i| cut + i).unwrap_or(c.len());
        format!("{}{}", &c[..cut], &c[end..])
    });
    let o = cli.run(&["keys", "rotate-encryption"], "");
    assert!(o.status.success(), "{}", out(&o));

    // A passkey too: `user show` lists it, and the reset removes it with the rest.
    app.store
        .add_passkey(&lanyard_core::model::PasskeyCredential {
            id: uuid::Uuid::now_v7(),
            user_id: ada.id,
            credential_id: b"ada-key".to_vec(),
            name: "Yellow key".into(),
            credential: "{}".into(),
            counter: 0,
            backup_eligible: false,
            backup_state: false,
            aaguid: None,
            created_at: chrono::Utc::now(),
            last_used_at: None,
        })
        .await
        .unwrap();
    let o = cli.run(&["user", "show", "ada"], "");
    assert!(
        out(&o).contains("passkey         Yellow key (this device only), added ")
            && out(&o).contains("last used never"),
        "{}",
        out(&o)
    );

    // Lost phone: the admin resets the second factor; sessions end.
    let o = cli.run(&["user", "reset-mfa", "ada"], "");
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        out(&o).contains("two-step verification reset for ada"),
        "{}",
        out(&o)
    );
    assert!(app.store.get_totp(ada.id).await.unwrap().is_none());
    assert_eq!(app.store.backup_codes_remaining(ada.id).await.unwrap(), 0);
    assert_eq!(app.store.list_passkeys(ada.id).await.unwrap(), vec![]);
    assert_eq!(
        b.get("/account").await.location().as_deref(),
        Some("/login")
    );
    let o = cli.run(&["user", "reset-mfa", "ada"], "");
    assert!(out(&o).contains("nothing to reset"));
    let o = cli.run(
        &["audit", "--user", "ada", "--type", "mfa_reset", "--json"],
        "",
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        1,
        "{}",
        out(&o)
    );
}
