//! Command-line interface. Every command loads and validates the same config file as `serve`.
pub mod admin;
mod import;
mod keys;
pub mod serve;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "lanyard",
    version,
    about = "Lanyard: a small, self-hosted OpenID Connect provider"
)]
pub struct Cli {
    /// Config file.
    #[arg(
        long,
        short,
        global = true,
        env = "LANYARD_CONFIG",
        default_value = "config/lanyard.toml"
    )]
    pub config: PathBuf,
    /// Log format (overrides [logging] format).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Check the config file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage users. Passwords are read from standard input, never from arguments.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage signing keys and the data-encryption key.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage groups (used by `[mfa] require_for_groups` and the `groups` claim).
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// List security events, newest first.
    Audit {
        #[arg(long)]
        user: Option<String>,
        /// Event type, e.g. login_failed.
        #[arg(long = "type")]
        kind: Option<String>,
        /// RFC 3339 time or a duration back from now (e.g. 24h, 7d).
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config file and list every problem with its key path.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Mark the email address as verified.
        #[arg(long)]
        email_verified: bool,
        /// Add the user to this group (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set a new password (read from standard input); ends the user's sessions and grants.
    SetPassword {
        username: String,
    },
    /// Block logins and revoke the user's sessions and grants.
    Disable {
        username: String,
    },
    Enable {
        username: String,
    },
    /// Turn off the user's second factors (lost phone): TOTP and backup codes are deleted and
    /// their sessions end. If a policy requires MFA, they enroll again at their next login.
    ResetMfa {
        username: String,
    },
    /// Forget the user's failed sign-in attempts, lifting a lockout now.
    Unlock {
        username: String,
    },
    /// Show one user: profile, groups, second factors, lockout state.
    Show {
        username: String,
    },
    /// Delete the user and everything that belongs to them.
    Delete {
        username: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Import users from a JSON Lines file: {"username", "email", "email_verified", "name",
    /// "password_hash"} per line; bcrypt ($2a$/$2b$/$2y$) or argon2 hashes are accepted and
    /// bcrypt is upgraded to argon2id at each user's next login.
    Import {
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show the signing keys and their state.
    List,
    /// Publish a new key now and switch signing to it after --publish-ahead.
    Rotate {
        /// RS256, ES256 or EdDSA.
        #[arg(long, default_value = "RS256")]
        alg: String,
        /// How long the new key is published before it signs (at least the JWKS cache
        /// lifetime, so relying parties already know it). Defaults to twice signing.jwks_max_age.
        #[arg(long)]
        publish_ahead: Option<String>,
    },
    /// Re-encrypt every TOTP secret and signing key under the current [encryption] key. Set
    /// the new key and key_id first and move the old key to [[encryption.old_keys]]; once
    /// this succeeds the old key can be removed.
    RotateEncryption,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Every group with its member count.
    List,
    /// The members of a group.
    Members { group: String },
    /// Add a user to a group (the group exists while it has members).
    Add { group: String, username: String },
    /// Remove a user from a group.
    Remove { group: String, username: String },
}

/// Exit codes: 0 ok, 1 runtime failure, 2 bad config or bad input.
pub async fn run(cli: Cli) -> ExitCode {
    let settings = match lanyard_config::load(&cli.config) {
        Ok(s) => s,
        Err(errors) => {
            eprintln!(
                "{}: the configuration has {} problem(s):",
                cli.config.display(),
                errors.0.len()
            );
            for p in &errors.0 {
                eprintln!("  {}: {}", p.path, p.message);
            }
            return ExitCode::from(2);
        }
    };
    let json_logs = match cli.log_format {
        Some(LogFormatArg::Json) => true,
        Some(LogFormatArg::Text) => false,
        None => matches!(settings.logging.format, lanyard_config::LogFormat::Json),
    };
    init_tracing(
        &settings.logging.level,
        json_logs,
        matches!(cli.command, Command::Serve),
    );
    let result = dispatch(&cli.config, cli.command, settings).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(admin::CliError::Input(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Err(admin::CliError::Failed(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

async fn dispatch(
    config: &std::path::Path,
    command: Command,
    settings: lanyard_config::Settings,
) -> Result<(), admin::CliError> {
    match command {
        Command::Serve => serve::serve(settings).await,
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            let clients = settings.clients.len();
            println!("{}: OK ({clients} client(s))", config.display());
            match &settings.webauthn {
                lanyard_config::WebauthnSettings::On { rp_id, origins, .. } => {
                    let origins: Vec<&str> = origins
                        .iter()
                        .map(|o| o.as_str().trim_end_matches('/'))
                        .collect();
                    println!("passkeys: on for {rp_id} ({})", origins.join(", "));
                }
                lanyard_config::WebauthnSettings::Off { reason } => println!("{reason}"),
            }
            Ok(())
        }
        Command::Migrate => admin::migrate(&settings).await,
        Command::User { command } => users::user(&settings, command).await,
        Command::Keys { command } => keys::keys(&settings, command).await,
        Command::Group { command } => users::group(&settings, command).await,
        Command::Audit {
            user,
            kind,
            since,
            limit,
            json,
        } => keys::audit(&settings, user, kind, since, limit, json).await,
    }
}

fn init_tracing(level: &str, json: bool, serving: bool) {
    use tracing_subscriber::EnvFilter;
    // CLI commands log warnings only, so their own output stays readable.
    let default = if serving {
        level.to_string()
    } else {
        "warn".to_string()
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
}
