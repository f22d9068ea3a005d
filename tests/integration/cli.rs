//! The `lanyard` binary as an admin uses it: exit codes, stdin passwords, errors naming fields.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::harness::{fresh_db_url, test_config};

/// The binary in the same target directory as this test. `scripts/test` builds it first
/// (`cargo build -p lanyard`): cargo builds a binary for integration tests of its own package only.
fn binary() -> PathBuf {
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
    _dir: tempfile::TempDir,
}

impl Cli {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = fresh_db_url(dir.path()).await;
        let config = dir.path().join("lanyard.toml");
        std::fs::write(&config, test_config(1, &db)).unwrap();
        Self { config, _dir: dir }
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
