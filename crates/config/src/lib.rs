//! lanyard-config: the TOML configuration file, loaded, fully validated, then frozen into
//! `Settings`.
//!
//! Loading is one pipeline: parse the file, apply `LANYARD_SECTION__KEY` environment overrides
//! (`env`), read it into `RawConfig` reporting every unknown key (`raw`), then `validate()` every
//! value, resolving secret references (`secret_ref`) on the way. Every problem is collected with
//! its key path, so `lanyard serve` and `lanyard config check` print the whole list at once. No
//! global state: callers hold the `Settings` they were given.
//!
//! `config/example.toml` documents every key.
mod clients;
mod duration;
mod email;
mod encryption;
mod env;
mod error;
mod raw;
mod secret_ref;
mod settings;
mod upstreams;
mod uri;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

pub use clients::{ALLOWED_SCOPES, MIN_SECRET_LEN};
pub use duration::render as render_duration;
pub use email::{EmailSettings, SignupSettings, SmtpSecurity, mailbox_address};
pub use error::{ConfigErrors, ConfigProblem};
pub use settings::{
    AuditSettings, DatabaseSettings, EncryptionSettings, LockoutSettings, LogFormat,
    LoggingSettings, MetricsSettings, MfaSettings, OAuthSettings, PasswordSettings,
    RateLimitSettings, RegistrationSettings, SessionSettings, Settings, SigningSettings,
    TokenSettings, UiSettings, WebauthnSettings, chrono_duration,
};
pub use validate::valid_group_name;

use error::Problems;

/// Load `path`, apply overrides from the process environment, validate.
///
/// Relative `file = "..."` secret references are resolved against the file's directory.
pub fn load(path: &Path) -> Result<Settings, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::one(
            path.display().to_string(),
            format!("cannot read the config file: {e}"),
        )
    })?;
    let mut problems = Problems::default();
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        match (name.into_string(), value.into_string()) {
            (Ok(name), Ok(value)) => vars.push((name, value)),
            (Ok(name), Err(_)) if name.starts_with(env::PREFIX) => {
                problems.push(name, "value is not valid UTF-8")
            }
            _ => {}
        }
    }
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    load_with(&text, &vars, base_dir, problems)
}

/// Load from a string with an explicit environment (tests, `config check` of stdin).
///
/// `env` holds both the `LANYARD_*` overrides and any variables named by `{ env = "..." }`
/// secret references; `base_dir` is where relative `{ file = "..." }` references start.
pub fn load_from_str(
    toml: &str,
    env: &[(String, String)],
    base_dir: &Path,
) -> Result<Settings, ConfigErrors> {
    load_with(toml, env, base_dir, Problems::default())
}

fn load_with(
    text: &str,
    vars: &[(String, String)],
    base_dir: &Path,
    mut problems: Problems,
) -> Result<Settings, ConfigErrors> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
    let origins = env::apply(&mut table, vars, &mut problems);
    let raw = raw::parse(table, &mut problems);

    let env_map: HashMap<String, String> = vars.iter().cloned().collect();
    let mut v = validate::Validator::new(&env_map, base_dir, problems);
    let settings = v.settings(raw);
    let (mut problems, key_file) = (v.problems, v.key_file);

    let settings = match settings {
        Some(mut settings) if problems.is_empty() => {
            if let Some(file) = key_file {
                // Written only now that everything else is known to be good; if another process
                // created the file meanwhile, its key wins.
                match file.write() {
                    Ok(key) => settings.encryption.key = key.into(),
                    Err(message) => problems.push("encryption.key", message),
                }
            }
            Some(settings)
        }
        _ => None,
    };
    origins.annotate(&mut problems);
    match settings {
        Some(settings) if problems.is_empty() => Ok(settings),
        _ => Err(problems.into_errors()),
    }
}

/// A TOML syntax error, placed by line and column (its message has no key path to give).
fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigErrors {
    let place = match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}")
        }
        None => "config".to_string(),
    };
    ConfigErrors::one(place, e.message().trim_end())
}
