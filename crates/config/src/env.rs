//! Environment overrides: `LANYARD_ISSUER`, `LANYARD_DATABASE__URL`,
//! `LANYARD_PASSWORDS__ARGON2__MEMORY_KIB`... (`__` separates levels, names are lower-cased) replace
//! file values before validation. A value that parses as a TOML value (number, boolean, array,
//! inline table, quoted string) is taken as that; anything else is a string.
//!
//! Only variables whose first part names a top-level key (`LANYARD_ISSUER`, `LANYARD_DATABASE__*`,
//! ...) are overrides; others with the prefix (`LANYARD_CONFIG`, the binary's config path;
//! `LANYARD_TEST_DATABASE_URL`; names read through `{ env = "..." }` such as
//! `LANYARD_ENCRYPTION_KEY`) are left alone. Under a known section an unknown key is an error like
//! any unknown key, with the variable named in the message. Entries of `[[clients]]` cannot be
//! overridden.
use toml::{Table, Value};

use crate::error::Problems;

pub(crate) const PREFIX: &str = "LANYARD_";
/// The top-level keys of the file; `raw::Document` has the same fields.
const TOP_LEVEL: [&str; 18] = [
    "issuer",
    "listen",
    "database",
    "encryption",
    "sessions",
    "tokens",
    "passwords",
    "signing",
    "oauth",
    "mfa",
    "lockout",
    "rate_limits",
    "registration",
    "audit",
    "metrics",
    "ui",
    "logging",
    "clients",
];

/// Which key paths came from which variable, to say so in problems about them.
#[derive(Debug, Default)]
pub(crate) struct Origins(Vec<(String, String)>);

impl Origins {
    /// Append "(from LANYARD_X)" to every problem at or under an overridden path.
    pub(crate) fn annotate(&self, problems: &mut Problems) {
        for problem in problems.iter_mut() {
            let from = self.0.iter().find(|(path, _)| {
                problem.path == *path
                    || problem
                        .path
                        .strip_prefix(path.as_str())
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            });
            if let Some((_, var)) = from {
                problem.message.push_str(&format!(" (from {var})"));
            }
        }
    }
}

pub(crate) fn apply(
    table: &mut Table,
    env: &[(String, String)],
    problems: &mut Problems,
) -> Origins {
    let mut referenced = Vec::new();
    collect_env_refs(table, &mut referenced);
    let mut vars: Vec<(&String, &String, Vec<String>)> = env
        .iter()
        .filter(|(name, _)| !referenced.contains(name))
        .filter_map(|(name, raw)| {
            let rest = name.strip_prefix(PREFIX)?;
            let keys: Vec<String> = rest
                .to_ascii_lowercase()
                .split("__")
                .map(str::to_string)
                .collect();
            TOP_LEVEL
                .contains(&keys[0].as_str())
                .then_some((name, raw, keys))
        })
        .collect();
    vars.sort();
    let mut origins = Origins::default();
    for (name, raw, keys) in vars {
        if keys.iter().any(String::is_empty) {
            problems.push(
                name.as_str(),
                "not a valid override name: use LANYARD_SECTION__KEY",
            );
            continue;
        }
        if keys[0] == "clients" {
            problems.push(
                "clients",
                format!(
                    "{name}: [[clients]] cannot be overridden from the environment; edit the file"
                ),
            );
            continue;
        }
        let path = keys.join(".");
        match set(table, &keys, parse_value(raw)) {
            Ok(()) => origins.0.push((path, name.to_string())),
            Err(at) => problems.push(
                at.clone(),
                format!("{name} cannot override inside `{at}`, which is not a table"),
            ),
        }
    }
    origins
}

/// The value of an override: a TOML value if it is one, else the text itself.
fn parse_value(raw: &str) -> Value {
    match toml::from_str::<Table>(&format!("v = {raw}")) {
        Ok(mut t) => match t.remove("v") {
            Some(v) if t.is_empty() => v,
            _ => Value::String(raw.to_string()),
        },
        Err(_) => Value::String(raw.to_string()),
    }
}

/// Set `keys` in `table`, creating tables on the way; `Err(path)` when the way is blocked by a
/// value that is not a table.
fn set(table: &mut Table, keys: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = keys.split_last() else {
        return Ok(());
    };
    let mut current = table;
    for (depth, key) in parents.iter().enumerate() {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        current = match entry {
            Value::Table(t) => t,
            _ => return Err(keys[..=depth].join(".")),
        };
    }
    current.insert(last.clone(), value);
    Ok(())
}

fn collect_env_refs(table: &Table, out: &mut Vec<String>) {
    for (key, value) in table {
        match value {
            Value::String(name) if key == "env" => out.push(name.clone()),
            Value::Table(t) => collect_env_refs(t, out),
            Value::Array(items) => {
                for item in items {
                    if let Value::Table(t) = item {
                        collect_env_refs(t, out);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_toml_when_they_can() {
        assert_eq!(parse_value("42"), Value::Integer(42));
        assert_eq!(parse_value("true"), Value::Boolean(true));
        assert_eq!(
            parse_value(r#"["RS256", "ES256"]"#)
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(parse_value(r#""42""#), Value::String("42".into()));
        assert_eq!(
            parse_value("http://localhost:8080"),
            Value::String("http://localhost:8080".into())
        );
        assert_eq!(
            parse_value("127.0.0.1:8080"),
            Value::String("127.0.0.1:8080".into())
        );
        assert_eq!(parse_value("10m"), Value::String("10m".into()));
        // Not a way to smuggle in extra keys.
        assert_eq!(parse_value("1\nx = 2"), Value::String("1\nx = 2".into()));
    }
}
