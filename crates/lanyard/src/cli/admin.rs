//! Admin commands: migrate, user management, keys, audit. Errors name the field at fault.
use std::io::{BufRead, IsTerminal, Read, Write};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use lanyard_config::Settings;
use lanyard_core::authn::password::{self, PasswordHasherPool};
use lanyard_core::authn::throttle::user_subject;
use lanyard_core::clock::{Clock, SystemClock};
use lanyard_core::model::{AuditFilter, SigningAlg, User};
use lanyard_core::oidc::keys;
use lanyard_core::provider::normalize_username;
use lanyard_core::secret::Secret;
use lanyard_core::store::{Store, StoreError};
use serde::Deserialize;

use super::{GroupCommand, KeysCommand, UserCommand};
use crate::app::{cipher, open_database};

#[derive(Debug)]
pub enum CliError {
    /// The admin's input was wrong (exit 2).
    Input(String),
    /// Something failed (exit 1).
    Failed(String),
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

fn store_err(e: StoreError) -> CliError {
    match e {
        StoreError::Conflict(m) => CliError::Input(m),
        other => CliError::Failed(other.to_string()),
    }
}

async fn store(settings: &Settings) -> Result<Arc<dyn Store>, CliError> {
    Ok(open_database(settings).await.map_err(failed)?.store())
}

fn now() -> DateTime<Utc> {
    SystemClock.now()
}

pub async fn migrate(settings: &Settings) -> Result<(), CliError> {
    let db = lanyard_store::Database::connect(&settings.database.url, 1)
        .await
        .map_err(failed)?;
    let applied = db.migrate().await.map_err(failed)?;
    if applied.is_empty() {
        println!("database is up to date ({})", db.backend());
    } else {
        println!("applied migrations {applied:?} ({})", db.backend());
    }
    Ok(())
}

/// Usernames: 1-64 characters of a-z 0-9 . _ - @ after lower-casing.
pub fn validate_username(raw: &str) -> Result<String, CliError> {
    let u = normalize_username(raw);
    let ok = !u.is_empty()
        && u.len() <= 64
        && u.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(c));
    if ok {
        Ok(u)
    } else {
        Err(CliError::Input(format!(
            "username {raw:?}: use 1-64 characters from a-z, 0-9, '.', '_', '-' and '@'"
        )))
    }
}

fn validate_email(e: &str) -> Result<String, CliError> {
    let e = e.trim();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !e.contains(char::is_whitespace)
        });
    if ok {
        Ok(e.to_string())
    } else {
        Err(CliError::Input(format!(
            "--email {e:?}: not an email address"
        )))
    }
}

/// Read a password from standard input: one line, without echo when it is a terminal.
fn read_password() -> Result<Secret<String>, CliError> {
    let stdin = std::io::stdin();
    let mut line = String::new();
    if stdin.is_terminal() {
        eprint!("Password: ");
        let _ = std::io::stderr().flush();
        let _ = std::process::Command::new("stty")
            .arg("-echo")
            .stdin(std::process::Stdio::inherit())
            .status();
        let res = stdin.lock().read_line(&mut line);
        let _ = std::process::Command::new("stty")
            .arg("echo")
            .stdin(std::process::Stdio::inherit())
            .status();
        eprintln!();
        res.map_err(failed)?;
    } else {
        stdin.lock().read_to_string(&mut line).map_err(failed)?;
    }
    let pw = line.strip_suffix('\n').unwrap_or(&line);
    let pw = pw.strip_suffix('\r').unwrap_or(pw).to_string();
    if pw.chars().count() < 8 {
        return Err(CliError::Input(
            "password (stdin): must be at least 8 characters".into(),
        ));
    }
    if pw.len() > 1024 {
        return Err(CliError::Input(
            "password (stdin): must be at most 1024 bytes".into(),
        ));
    }
    Ok(Secret::new(pw))
}

fn hasher(settings: &Settings) -> Result<PasswordHasherPool, CliError> {
    PasswordHasherPool::new(settings.passwords.argon2, 1).map_err(failed)
}

async fn find(store: &dyn Store, username: &str) -> Result<User, CliError> {
    let u = normalize_username(username);
    store
        .find_user_by_username(&u)
        .await
        .map_err(store_err)?
        .ok_or_else(|| CliError::Input(format!("user {username:?} does not exist")))
}

async fn end_everything(store: &dyn Store, user: &User) -> Result<(u64, u64), CliError> {
    let sessions = store
        .end_user_sessions(user.id, None)
        .await
        .map_err(store_err)?
        .map_or(0, |e| e.ended);
    let grants = store
        .revoke_user_grants(user.id, now())
        .await
        .map_err(store_err)?;
    Ok((sessions, grants))
}

async fn record(
    store: &dyn Store,
    kind: &str,
    user: &User,
    detail: serde_json::Value,
) -> Result<(), CliError> {
    let event = lanyard_core::model::AuditEvent {
        id: uuid::Uuid::now_v7(),
        at: now(),
        kind: kind.into(),
        user_id: Some(user.id),
        client_id: None,
        ip: None,
        detail: serde_json::json!({ "by": "cli", "detail": detail }),
    };
    store.audit(&event).await.map_err(store_err)
}

pub async fn user(settings: &Settings, cmd: UserCommand) -> Result<(), CliError> {
    let store = store(settings).await?;
    let store = store.as_ref();
    match cmd {
        UserCommand::Add {
            username,
            email,
            name,
            email_verified,
            groups,
        } => {
            let username = validate_username(&username)?;
            let email = email.as_deref().map(validate_email).transpose()?;
            for g in &groups {
                validate_group(g)?;
            }
            let pw = read_password()?;
            let mut user = User::new(&username, now());
            user.email = email;
            user.email_verified = email_verified;
            user.name = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
            user.password_hash = Some(hasher(settings)?.hash(pw).await.map_err(failed)?);
            store.create_user(&user).await.map_err(|e| match e {
                StoreError::Conflict(_) => {
                    CliError::Input(format!("username {username:?} is already taken"))
                }
                other => failed(other),
            })?;
            for g in &groups {
                store.add_to_group(user.id, g).await.map_err(store_err)?;
            }
            record(
                store,
                "user_created",
                &user,
                serde_json::json!({ "groups": groups }),
            )
            .await?;
            println!("created user {username} (sub {})", user.id);
        }
        UserCommand::List { json } => {
            let users = store.list_users().await.map_err(store_err)?;
            if json {
                let rows: Vec<_> = users
                    .iter()
                    .map(|u| serde_json::json!({ "sub": u.id, "username": u.username, "email": u.email, "name": u.name, "disabled": u.disabled, "created_at": u.created_at }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows).map_err(failed)?);
            } else {
                println!("{:<24} {:<32} {:<9} SUB", "USERNAME", "EMAIL", "STATUS");
                for u in users {
                    let status = if u.disabled { "disabled" } else { "active" };
                    println!(
                        "{:<24} {:<32} {:<9} {}",
                        u.username,
                        u.email.as_deref().unwrap_or("-"),
                        status,
                        u.id
                    );
                }
            }
        }
        UserCommand::SetPassword { username } => {
            let user = find(store, &username).await?;
            let pw = read_password()?;
            let hash = hasher(settings)?.hash(pw).await.map_err(failed)?;
            store
                .set_password_hash(user.id, &hash, now())
                .await
                .map_err(store_err)?;
            let (s, g) = end_everything(store, &user).await?;
            record(
                store,
                "password_changed",
                &user,
                serde_json::json!({ "sessions_ended": s, "grants_revoked": g }),
            )
            .await?;
            println!(
                "password set for {}; ended {s} session(s), revoked {g} grant(s)",
                user.username
            );
        }
        UserCommand::Disable { username } => {
            let user = find(store, &username).await?;
            store
                .set_disabled(user.id, true, now())
                .await
                .map_err(store_err)?;
            let (s, g) = end_everything(store, &user).await?;
            record(store, "user_disabled", &user, serde_json::json!({})).await?;
            println!(
                "disabled {}; ended {s} session(s), revoked {g} grant(s)",
                user.username
            );
        }
        UserCommand::Enable { username } => {
            let user = find(store, &username).await?;
            store
                .set_disabled(user.id, false, now())
                .await
                .map_err(store_err)?;
            record(store, "user_enabled", &user, serde_json::json!({})).await?;
            println!("enabled {}", user.username);
        }
        UserCommand::Delete { username, yes } => {
            let user = find(store, &username).await?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::Input(
                        "refusing to delete without --yes when not on a terminal".into(),
                    ));
                }
                eprint!(
                    "Delete user {} and all their sessions, grants and consents? Type the username to confirm: ",
                    user.username
                );
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(failed)?;
                if line.trim() != user.username {
                    return Err(CliError::Input("not confirmed; nothing deleted".into()));
                }
            }
            record(
                store,
                "user_deleted",
                &user,
                serde_json::json!({ "username": user.username }),
            )
            .await?;
            store.delete_user(user.id).await.map_err(store_err)?;
            println!("deleted {}", user.username);
        }
        UserCommand::Import { file } => import(store, &file).await?,
        UserCommand::ResetMfa { username } => {
            let user = find(store, &username).await?;
            if !store.disable_totp(user.id).await.map_err(store_err)? {
                println!("{} has no second factor; nothing to reset", user.username);
                return Ok(());
            }
            let (s, g) = end_everything(store, &user).await?;
            record(
                store,
                "mfa_reset",
                &user,
                serde_json::json!({ "sessions_ended": s, "grants_revoked": g }),
            )
            .await?;
            println!(
                "two-step verification reset for {}; ended {s} session(s), revoked {g} grant(s)",
                user.username
            );
        }
        UserCommand::Unlock { username } => {
            let user = find(store, &username).await?;
            let n = store
                .clear_failures(&user_subject(
                    &cipher(settings).map_err(failed)?,
                    &user.username,
                ))
                .await
                .map_err(store_err)?;
            record(
                store,
                "account_unlocked",
                &user,
                serde_json::json!({ "failures_cleared": n }),
            )
            .await?;
            println!(
                "unlocked {} ({n} failed attempt(s) forgotten)",
                user.username
            );
        }
        UserCommand::Show { username } => {
            let user = find(store, &username).await?;
            let groups = store.user_groups(user.id).await.map_err(store_err)?;
            let totp = store.get_totp(user.id).await.map_err(store_err)?;
            let codes = store
                .backup_codes_remaining(user.id)
                .await
                .map_err(store_err)?;
            let window = Duration::from_std(settings.lockout.window).unwrap_or(Duration::MAX);
            let failures = store
                .count_failures(
                    &user_subject(&cipher(settings).map_err(failed)?, &user.username),
                    now() - window,
                    None,
                )
                .await
                .map_err(store_err)?;
            println!("username        {}", user.username);
            println!("sub             {}", user.id);
            println!("email           {}", user.email.as_deref().unwrap_or("-"));
            println!("name            {}", user.name.as_deref().unwrap_or("-"));
            println!(
                "status          {}",
                if user.disabled { "disabled" } else { "active" }
            );
            println!(
                "groups          {}",
                if groups.is_empty() {
                    "-".into()
                } else {
                    groups.join(", ")
                }
            );
            match totp {
                Some(t) => println!(
                    "two-step        on since {} ({codes} backup code(s) left)",
                    t.created_at.format("%Y-%m-%d %H:%M UTC")
                ),
                None => println!("two-step        off"),
            }
            for i in store.list_identities(user.id).await.map_err(store_err)? {
                println!(
                    "linked          {} (sub {}{}), last used {}",
                    i.upstream,
                    i.subject,
                    i.email.map(|e| format!(", {e}")).unwrap_or_default(),
                    i.last_login_at.format("%Y-%m-%d %H:%M UTC")
                );
            }
            println!(
                "failed logins   {} in the last {}",
                failures.count,
                lanyard_config::render_duration(settings.lockout.window)
            );
        }
    }
    Ok(())
}

fn validate_group(name: &str) -> Result<(), CliError> {
    if lanyard_config::valid_group_name(name) {
        Ok(())
    } else {
        Err(CliError::Input(format!(
            "group {name:?}: use 1-64 of a-z A-Z 0-9 - _ ."
        )))
    }
}

pub async fn group(settings: &Settings, cmd: GroupCommand) -> Result<(), CliError> {
    let store = store(settings).await?;
    let store = store.as_ref();
    match cmd {
        GroupCommand::List => {
            println!("{:<32} MEMBERS", "GROUP");
            for (name, count) in store.list_groups().await.map_err(store_err)? {
                println!("{name:<32} {count}");
            }
        }
        GroupCommand::Members { group } => {
            validate_group(&group)?;
            for u in store.group_members(&group).await.map_err(store_err)? {
                println!("{}", u.username);
            }
        }
        GroupCommand::Add { group, username } => {
            validate_group(&group)?;
            let user = find(store, &username).await?;
            if store
                .add_to_group(user.id, &group)
                .await
                .map_err(store_err)?
            {
                record(
                    store,
                    "group_member_added",
                    &user,
                    serde_json::json!({ "group": group }),
                )
                .await?;
                println!("added {} to {group}", user.username);
            } else {
                println!("{} is already in {group}", user.username);
            }
        }
        GroupCommand::Remove { group, username } => {
            validate_group(&group)?;
            let user = find(store, &username).await?;
            if store
                .remove_from_group(user.id, &group)
                .await
                .map_err(store_err)?
            {
                record(
                    store,
                    "group_member_removed",
                    &user,
                    serde_json::json!({ "group": group }),
                )
                .await?;
                println!("removed {} from {group}", user.username);
            } else {
                return Err(CliError::Input(format!(
                    "{} is not in group {group:?}",
                    user.username
                )));
            }
        }
    }
    Ok(())
}

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
async fn import(store: &dyn Store, path: &std::path::Path) -> Result<(), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    let mut users = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let n = i + 1;
        let parsed: ImportLine = match serde_json::from_str(line) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("line {n}: {e}"));
                continue;
            }
        };
        let username = match validate_username(&parsed.username) {
            Ok(u) => u,
            Err(CliError::Input(m) | CliError::Failed(m)) => {
                problems.push(format!("line {n}: {m}"));
                continue;
            }
        };
        if parsed
            .password_hash
            .as_deref()
            .is_some_and(|h| !password::is_supported_hash(h))
        {
            problems.push(format!(
                "line {n}: password_hash: not a bcrypt ($2a$/$2b$/$2y$) or argon2 PHC hash"
            ));
            continue;
        }
        let email = match parsed.email.as_deref().map(validate_email).transpose() {
            Ok(e) => e,
            Err(CliError::Input(m) | CliError::Failed(m)) => {
                problems.push(format!("line {n}: {}", m.replace("--email", "email")));
                continue;
            }
        };
        let mut u = User::new(&username, now());
        u.email = email;
        u.email_verified = parsed.email_verified;
        u.name = parsed.name;
        u.password_hash = parsed.password_hash;
        users.push((n, u));
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

/// "10m", "2h", "7d", "45s": at most ten years, like durations in the config file.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    let secs = n.checked_mul(unit_secs).filter(|s| *s <= 3650 * 86_400)?;
    Duration::try_seconds(secs)
}

pub async fn keys(settings: &Settings, cmd: KeysCommand) -> Result<(), CliError> {
    let store = store(settings).await?;
    match cmd {
        KeysCommand::List => {
            let now = now();
            println!(
                "{:<28} {:<6} {:<10} {:<22} RETIRED",
                "KID", "ALG", "STATE", "SIGNS FROM"
            );
            let mut ks = store.list_signing_keys().await.map_err(store_err)?;
            ks.sort_by_key(|k| k.activates_at);
            for k in ks {
                let state = match k.retired_at {
                    Some(r) if r <= now => "retired",
                    _ if k.activates_at > now => "next",
                    _ => "active",
                };
                let retired = k
                    .retired_at
                    .map(|r| r.to_rfc3339())
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<28} {:<6} {:<10} {:<22} {}",
                    k.kid,
                    k.alg.as_str(),
                    state,
                    k.activates_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    retired
                );
            }
        }
        KeysCommand::RotateEncryption => rotate_encryption(settings, store.as_ref()).await?,
        KeysCommand::Rotate { alg, publish_ahead } => {
            let alg = SigningAlg::parse(&alg).ok_or_else(|| {
                CliError::Input(format!("--alg {alg:?}: use RS256, ES256 or EdDSA"))
            })?;
            if !settings.signing.algorithms.contains(&alg) {
                return Err(CliError::Input(format!(
                    "--alg {}: not enabled in signing.algorithms",
                    alg.as_str()
                )));
            }
            let min =
                Duration::from_std(settings.signing.jwks_max_age).unwrap_or(Duration::minutes(5));
            let ahead = match publish_ahead {
                Some(p) => parse_duration(&p).ok_or_else(|| {
                    CliError::Input(format!("--publish-ahead {p:?}: use e.g. 10m, 1h"))
                })?,
                None => min * 2,
            };
            if ahead < min {
                eprintln!(
                    "warning: --publish-ahead is shorter than signing.jwks_max_age; relying parties with a cached JWKS may reject new tokens briefly"
                );
            }
            let key = keys::rotate(
                store.as_ref(),
                &cipher(settings).map_err(failed)?,
                alg,
                now(),
                ahead,
            )
            .await
            .map_err(failed)?;
            println!(
                "published {} ({}); it signs from {}",
                key.kid,
                alg.as_str(),
                key.activates_at.to_rfc3339()
            );
        }
    }
    Ok(())
}

async fn rotate_encryption(settings: &Settings, store: &dyn Store) -> Result<(), CliError> {
    let cipher = cipher(settings).map_err(failed)?;
    let (totp, keys) = lanyard_core::authn::mfa::reencrypt_all(store, &cipher)
        .await
        .map_err(|e| {
            CliError::Failed(format!(
                "{e}; is the key that encrypted it still listed in [[encryption.old_keys]]?"
            ))
        })?;
    println!(
        "re-encrypted {totp} TOTP secret(s) and {keys} signing key(s) under key id {:?}",
        cipher.primary_key_id()
    );
    Ok(())
}

pub async fn audit(
    settings: &Settings,
    user: Option<String>,
    kind: Option<String>,
    since: Option<String>,
    limit: i64,
    json: bool,
) -> Result<(), CliError> {
    let store = store(settings).await?;
    let user_id = match user {
        Some(u) => Some(find(store.as_ref(), &u).await?.id),
        None => None,
    };
    let since = match since {
        None => None,
        Some(s) => Some(match DateTime::parse_from_rfc3339(&s) {
            Ok(t) => t.with_timezone(&Utc),
            Err(_) => {
                let ago = parse_duration(&s).ok_or_else(|| {
                    CliError::Input(format!(
                        "--since {s:?}: use RFC 3339 or a duration up to 3650d, like 24h"
                    ))
                })?;
                now() - ago
            }
        }),
    };
    let events = store
        .list_audit(&AuditFilter {
            user_id,
            kind,
            since,
            limit,
        })
        .await
        .map_err(store_err)?;
    for e in events {
        if json {
            println!("{}", serde_json::to_string(&e).map_err(failed)?);
        } else {
            let user = e
                .user_id
                .map(|u| u.to_string())
                .unwrap_or_else(|| "-".into());
            println!(
                "{}  {:<22} user={} client={} ip={} {}",
                e.at.format("%Y-%m-%dT%H:%M:%SZ"),
                e.kind,
                user,
                e.client_id.as_deref().unwrap_or("-"),
                e.ip.as_deref().unwrap_or("-"),
                e.detail
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(validate_username(" Alice ").ok(), Some("alice".into()));
        assert!(validate_username("a b").is_err());
        assert!(validate_username("").is_err());
        assert!(validate_username(&"a".repeat(65)).is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10m"), Some(Duration::minutes(10)));
        assert_eq!(parse_duration("7d"), Some(Duration::days(7)));
        assert_eq!(parse_duration("10x"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("99999999999999999d"), None, "no overflow");
        assert_eq!(parse_duration("3651d"), None);
    }
}
