//! `lanyard keys` (signing-key rotation and re-encryption at rest) and `lanyard audit`.
use chrono::{DateTime, Duration, Utc};
use lanyard_config::Settings;
use lanyard_core::model::{AuditFilter, SigningAlg};
use lanyard_core::oidc::keys;
use lanyard_core::store::Store;

use super::KeysCommand;
use super::admin::{CliError, accounts, failed, find, now, parse_duration, store};
use crate::app::cipher;

pub async fn keys(settings: &Settings, cmd: KeysCommand) -> Result<(), CliError> {
    let store = store(settings).await?;
    match cmd {
        KeysCommand::List => list(store.as_ref()).await,
        KeysCommand::RotateEncryption => rotate_encryption(settings, store.as_ref()).await,
        KeysCommand::Rotate { alg, publish_ahead } => {
            rotate(settings, store.as_ref(), &alg, publish_ahead).await
        }
    }
}

async fn list(store: &dyn Store) -> Result<(), CliError> {
    let now = now();
    println!(
        "{:<28} {:<6} {:<10} {:<22} RETIRED",
        "KID", "ALG", "STATE", "SIGNS FROM"
    );
    let mut ks = store.list_signing_keys().await?;
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
    Ok(())
}

/// Publish a new signing key now; it signs once relying parties' cached JWKS has expired.
async fn rotate(
    settings: &Settings,
    store: &dyn Store,
    alg: &str,
    publish_ahead: Option<String>,
) -> Result<(), CliError> {
    let alg = SigningAlg::parse(alg)
        .ok_or_else(|| CliError::Input(format!("--alg {alg:?}: use RS256, ES256 or EdDSA")))?;
    if !settings.signing.algorithms.contains(&alg) {
        return Err(CliError::Input(format!(
            "--alg {}: not enabled in signing.algorithms",
            alg.as_str()
        )));
    }
    let min = Duration::from_std(settings.signing.jwks_max_age).unwrap_or(Duration::minutes(5));
    let ahead = match publish_ahead {
        Some(p) => parse_duration(&p)
            .ok_or_else(|| CliError::Input(format!("--publish-ahead {p:?}: use e.g. 10m, 1h")))?,
        None => min * 2,
    };
    if ahead < min {
        eprintln!(
            "warning: --publish-ahead is shorter than signing.jwks_max_age; relying parties with a cached JWKS may reject new tokens briefly"
        );
    }
    let key = keys::rotate(store, &cipher(settings).map_err(failed)?, alg, now(), ahead)
        .await
        .map_err(failed)?;
    println!(
        "published {} ({}); it signs from {}",
        key.kid,
        alg.as_str(),
        key.activates_at.to_rfc3339()
    );
    Ok(())
}

async fn rotate_encryption(settings: &Settings, store: &dyn Store) -> Result<(), CliError> {
    let cipher = cipher(settings).map_err(failed)?;
    let (totp, keys) = lanyard_core::rotation::reencrypt_all(store, &cipher)
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
    let accounts = accounts(settings).await?;
    let user_id = match user {
        Some(u) => Some(find(&accounts, &u).await?.id),
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
    let events = accounts
        .store()
        .list_audit(&AuditFilter {
            user_id,
            kind,
            since,
            limit,
        })
        .await?;
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
