//! `lanyard user` and `lanyard group`: the account lifecycle through core's `Accounts` (the
//! same operations, rules and audit events as the account page), and bulk import.
use std::io::{BufRead, IsTerminal, Read, Write};

use chrono::Duration;
use lanyard_config::Settings;
use lanyard_core::accounts::{Accounts, Actor, NewUser};
use lanyard_core::model::User;
use lanyard_core::oidc::error::ProviderError;
use lanyard_core::store::{Store, StoreError};
use lanyard_core::types::{NewPassword, Username};

use super::admin::{CliError, accounts, failed, find, now};
use super::{GroupCommand, UserCommand};

fn username(raw: &str) -> Result<Username, CliError> {
    Username::parse(raw).map_err(CliError::Input)
}

pub(super) fn validate_email(e: &str) -> Result<String, CliError> {
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
fn read_password() -> Result<NewPassword, CliError> {
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
    NewPassword::parse(pw)
        .map_err(|problem| CliError::Input(format!("password (stdin): {problem}")))
}

pub async fn user(settings: &Settings, cmd: UserCommand) -> Result<(), CliError> {
    let accounts = accounts(settings).await?;
    let a = &accounts;
    match cmd {
        UserCommand::Add {
            username,
            email,
            name,
            email_verified,
            groups,
        } => add(a, &username, email, name, email_verified, groups).await,
        UserCommand::List { json } => list(a.store(), json).await,
        UserCommand::SetPassword { username } => set_password(a, &username).await,
        UserCommand::Disable { username } => disable(a, &username, true).await,
        UserCommand::Enable { username } => disable(a, &username, false).await,
        UserCommand::Delete { username, yes } => delete(a, &username, yes).await,
        UserCommand::Import { file } => super::import::import(a.store(), &file).await,
        UserCommand::ResetMfa { username } => reset_mfa(a, &username).await,
        UserCommand::Unlock { username } => unlock(a, &username).await,
        UserCommand::Show { username } => show(settings, a, &username).await,
    }
}

async fn add(
    accounts: &Accounts,
    raw_username: &str,
    email: Option<String>,
    name: Option<String>,
    email_verified: bool,
    groups: Vec<String>,
) -> Result<(), CliError> {
    let username = username(raw_username)?;
    let email = email.as_deref().map(validate_email).transpose()?;
    for g in &groups {
        validate_group(g)?;
    }
    let new = NewUser {
        password: Some(read_password()?),
        email,
        email_verified,
        name: name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
        groups,
        username: username.clone(),
    };
    let user = match accounts.create(new, Actor::Admin).await {
        Ok(u) => u,
        Err(ProviderError::Store(StoreError::Conflict(_))) => {
            let taken = format!("username {:?} is already taken", username.as_str());
            return Err(CliError::Input(taken));
        }
        Err(e) => return Err(e.into()),
    };
    println!("created user {username} (sub {})", user.id);
    Ok(())
}

async fn list(store: &dyn Store, json: bool) -> Result<(), CliError> {
    let users = store.list_users().await?;

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
    Ok(())
}

async fn set_password(accounts: &Accounts, username: &str) -> Result<(), CliError> {
    let user = find(accounts, username).await?;
    let password = read_password()?;
    let ended = accounts
        .set_password(&user, password, None, Actor::Admin, None)
        .await?;
    println!(
        "password set for {}; ended {} session(s), revoked {} grant(s)",
        user.username, ended.sessions, ended.grants
    );
    Ok(())
}

async fn disable(accounts: &Accounts, username: &str, disabled: bool) -> Result<(), CliError> {
    let user = find(accounts, username).await?;
    let ended = accounts.set_disabled(&user, disabled, Actor::Admin).await?;
    match disabled {
        true => println!(
            "disabled {}; ended {} session(s), revoked {} grant(s)",
            user.username, ended.sessions, ended.grants
        ),
        false => println!("enabled {}", user.username),
    }
    Ok(())
}

async fn delete(accounts: &Accounts, username: &str, yes: bool) -> Result<(), CliError> {
    let user = find(accounts, username).await?;
    if !yes {
        confirm_delete(&user)?;
    }
    accounts.delete(&user, Actor::Admin).await?;
    println!("deleted {}", user.username);
    Ok(())
}

/// On a terminal, the admin types the username to confirm; elsewhere `--yes` is required.
fn confirm_delete(user: &User) -> Result<(), CliError> {
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
    Ok(())
}

async fn reset_mfa(accounts: &Accounts, username: &str) -> Result<(), CliError> {
    let user = find(accounts, username).await?;
    match accounts.reset_mfa(&user, Actor::Admin).await? {
        None => println!("{} has no second factor; nothing to reset", user.username),
        Some(ended) => println!(
            "two-step verification reset for {} (authenticator app, backup codes and passkeys removed); ended {} session(s), revoked {} grant(s)",
            user.username, ended.sessions, ended.grants
        ),
    }
    Ok(())
}

async fn unlock(accounts: &Accounts, username: &str) -> Result<(), CliError> {
    let user = find(accounts, username).await?;
    let n = accounts.unlock(&user, Actor::Admin).await?;
    println!(
        "unlocked {} ({n} failed attempt(s) forgotten)",
        user.username
    );
    Ok(())
}

async fn show(settings: &Settings, accounts: &Accounts, username: &str) -> Result<(), CliError> {
    let store = accounts.store();
    let user = find(accounts, username).await?;
    let groups = store.user_groups(user.id).await?;
    let totp = store.get_totp(user.id).await?;
    let codes = store.backup_codes_remaining(user.id).await?;
    let window = Duration::from_std(settings.lockout.window).unwrap_or(Duration::MAX);
    let failures = store
        .count_failures(
            &accounts.failure_subject(&user.username),
            now() - window,
            None,
            now(),
        )
        .await?;
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
    for p in store.list_passkeys(user.id).await? {
        println!(
            "passkey         {} ({}), added {}, last used {}",
            p.name,
            if p.backup_eligible {
                "synced"
            } else {
                "this device only"
            },
            p.created_at.format("%Y-%m-%d %H:%M UTC"),
            p.last_used_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "never".into())
        );
    }
    for i in store.list_identities(user.id).await? {
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
    let accounts = accounts(settings).await?;
    let store = accounts.store();
    match cmd {
        GroupCommand::List => {
            println!("{:<32} MEMBERS", "GROUP");
            for (name, count) in store.list_groups().await? {
                println!("{name:<32} {count}");
            }
        }
        GroupCommand::Members { group } => {
            validate_group(&group)?;
            for u in store.group_members(&group).await? {
                println!("{}", u.username);
            }
        }
        GroupCommand::Add { group, username } => {
            validate_group(&group)?;
            let user = find(&accounts, &username).await?;
            match accounts.add_to_group(&user, &group, Actor::Admin).await? {
                true => println!("added {} to {group}", user.username),
                false => println!("{} is already in {group}", user.username),
            }
        }
        GroupCommand::Remove { group, username } => {
            validate_group(&group)?;
            let user = find(&accounts, &username).await?;
            if !accounts
                .remove_from_group(&user, &group, Actor::Admin)
                .await?
            {
                let not_in = format!("{} is not in group {group:?}", user.username);
                return Err(CliError::Input(not_in));
            }
            println!("removed {} from {group}", user.username);
        }
    }
    Ok(())
}
