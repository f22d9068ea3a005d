//! `lanyard user import`: users from a JSON Lines file, with their password hashes (bcrypt or
//! argon2) so nobody has to reset a password when moving to Lanyard.
use lanyard_core::authn::password;
use lanyard_core::model::User;
use lanyard_core::store::{Store, StoreError};
use lanyard_core::types::Username;
use serde::Deserialize;

use super::admin::{CliError, failed, now};
use super::users::validate_email;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    username: String,
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
    name: Option<String>,
    password_hash: Option<String>,
}

/// Import a JSON Lines file. Every line is checked first; nothing is written if any line is bad.
pub async fn import(store: &dyn Store, path: &std::path::Path) -> Result<(), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    let mut users = Vec::new();
    let mut problems = Vec::new();
    let lines = text.lines().enumerate();
    for (i, line) in lines.filter(|(_, l)| !l.trim().is_empty()) {
        match parse_line(line) {
            Ok(u) => users.push((i + 1, u)),
            Err(m) => problems.push(format!("line {}: {m}", i + 1)),
        }
    }
    if !problems.is_empty() {
        return Err(CliError::Input(format!(
            "{} has {} problem(s); nothing imported:\n  {}",
            path.display(),
            problems.len(),
            problems.join("\n  ")
        )));
    }
    let (mut created, mut skipped) = (0, 0);
    for (n, u) in users {
        match store.create_user(&u).await {
            Ok(()) => created += 1,
            Err(StoreError::Conflict(_)) => {
                eprintln!(
                    "line {n}: username {:?} already exists; skipped",
                    u.username
                );
                skipped += 1;
            }
            Err(e) => return Err(failed(e)),
        }
    }
    println!("imported {created} user(s), skipped {skipped} existing");
    Ok(())
}

/// One line: a user, or what is wrong with it.
fn parse_line(line: &str) -> Result<User, String> {
    let parsed: ImportLine = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let username = Username::parse(&parsed.username)?;
    if parsed
        .password_hash
        .as_deref()
        .is_some_and(|h| !password::is_supported_hash(h))
    {
        return Err("password_hash: not a bcrypt ($2a$/$2b$/$2y$) or argon2 PHC hash".into());
    }
    let email = match parsed.email.as_deref().map(validate_email).transpose() {
        Ok(e) => e,
        Err(CliError::Input(m) | CliError::Failed(m)) => return Err(m.replace("--email", "email")),
    };
    let mut u = User::new(username.as_str(), now());
    u.email = email;
    u.email_verified = parsed.email_verified;
    u.name = parsed.name;
    u.password_hash = parsed.password_hash;
    Ok(u)
}
