//! Secret references. Wherever the file takes a secret it accepts a plain string (fine for demos,
//! not for production), `{ env = "NAME" }` or `{ file = "path" }` (relative to the config file's
//! directory, trailing newline trimmed). Messages name the key and the variable or file, never
//! the secret itself.
use std::path::PathBuf;

use toml::Value;

use crate::error::Problems;

const SHAPE: &str = "must be a string, { env = \"NAME\" } or { file = \"path\" }";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecretRef {
    Literal(String),
    Env(String),
    /// `create`: generate the secret when the file is missing (only `encryption.key` allows it).
    File {
        path: String,
        create: bool,
    },
}

/// Read the shape of a reference; problems go to `path` or `path.<key>`.
pub(crate) fn parse(
    value: Value,
    path: &str,
    allow_create: bool,
    problems: &mut Problems,
) -> Option<SecretRef> {
    let table = match value {
        Value::String(s) => return Some(SecretRef::Literal(s)),
        Value::Table(t) => t,
        _ => {
            problems.push(path, SHAPE);
            return None;
        }
    };
    let (mut env, mut file, mut create, mut ok) = (None, None, false, true);
    for (key, value) in table {
        match (key.as_str(), value) {
            ("env", Value::String(s)) if !s.is_empty() => env = Some(s),
            ("file", Value::String(s)) if !s.is_empty() => file = Some(s),
            ("create", Value::Boolean(b)) if allow_create => create = b,
            ("create", _) if !allow_create => {
                problems.push(
                    format!("{path}.create"),
                    "create = true is only supported for encryption.key",
                );
                ok = false;
            }
            ("env" | "file", _) => {
                problems.push(format!("{path}.{key}"), "must be a non-empty string");
                ok = false;
            }
            ("create", _) => {
                problems.push(format!("{path}.create"), "must be true or false");
                ok = false;
            }
            _ => {
                problems.push(format!("{path}.{key}"), "unknown key");
                ok = false;
            }
        }
    }
    match (env, file) {
        _ if !ok => None,
        (Some(_), Some(_)) => {
            problems.push(path, "use either env or file, not both");
            None
        }
        (Some(_), None) if create => {
            problems.push(
                format!("{path}.create"),
                "create = true needs file, not env",
            );
            None
        }
        (Some(name), None) => Some(SecretRef::Env(name)),
        (None, Some(file)) => Some(SecretRef::File { path: file, create }),
        (None, None) => {
            problems.push(path, SHAPE);
            None
        }
    }
}

/// The outcome of resolving a reference.
#[derive(Debug)]
pub(crate) enum Resolved {
    Value(String),
    /// `{ file, create = true }` and the file does not exist yet: the caller generates the secret.
    Missing(PathBuf),
}

pub(crate) struct Sources<'a> {
    pub env: &'a std::collections::HashMap<String, String>,
    pub base_dir: &'a std::path::Path,
}

impl Sources<'_> {
    pub(crate) fn resolve(
        &self,
        secret: &SecretRef,
        path: &str,
        problems: &mut Problems,
    ) -> Option<Resolved> {
        match secret {
            SecretRef::Literal(s) => Some(Resolved::Value(s.clone())),
            SecretRef::Env(name) => match self.env.get(name) {
                Some(v) => Some(Resolved::Value(v.clone())),
                None => {
                    problems.push(path, format!("environment variable {name} is not set"));
                    None
                }
            },
            SecretRef::File { path: file, create } => {
                let full = self.base_dir.join(file);
                match std::fs::read_to_string(&full) {
                    Ok(text) => Some(Resolved::Value(
                        text.trim_end_matches(['\n', '\r']).to_string(),
                    )),
                    Err(e) if *create && e.kind() == std::io::ErrorKind::NotFound => {
                        Some(Resolved::Missing(full))
                    }
                    Err(e) => {
                        problems.push(path, format!("cannot read {}: {e}", full.display()));
                        None
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn value(s: &str) -> Value {
        toml::from_str::<toml::Table>(&format!("v = {s}"))
            .unwrap()
            .remove("v")
            .unwrap()
    }

    fn shape(s: &str, allow_create: bool) -> (Option<SecretRef>, Vec<String>) {
        let mut p = Problems::default();
        let r = parse(value(s), "x", allow_create, &mut p);
        (
            r,
            p.into_errors()
                .0
                .into_iter()
                .map(|p| p.to_string())
                .collect(),
        )
    }

    #[test]
    fn shapes() {
        assert_eq!(
            shape(r#""lit""#, false).0,
            Some(SecretRef::Literal("lit".into()))
        );
        assert_eq!(
            shape(r#"{ env = "A" }"#, false).0,
            Some(SecretRef::Env("A".into()))
        );
        assert_eq!(
            shape(r#"{ file = "k" }"#, false).0,
            Some(SecretRef::File {
                path: "k".into(),
                create: false
            })
        );
        assert_eq!(
            shape(r#"{ file = "k", create = true }"#, true).0,
            Some(SecretRef::File {
                path: "k".into(),
                create: true
            })
        );
    }

    #[test]
    fn bad_shapes_name_the_key() {
        assert_eq!(shape("5", false).1, vec![format!("x: {SHAPE}")]);
        assert_eq!(shape("{}", false).1, vec![format!("x: {SHAPE}")]);
        assert_eq!(
            shape(r#"{ env = "A", file = "b" }"#, false).1,
            vec!["x: use either env or file, not both"]
        );
        assert_eq!(
            shape(r#"{ fil = "b" }"#, false).1,
            vec!["x.fil: unknown key"]
        );
        assert_eq!(
            shape(r#"{ env = "" }"#, false).1,
            vec!["x.env: must be a non-empty string"]
        );
        assert_eq!(
            shape(r#"{ file = "k", create = true }"#, false).1,
            vec!["x.create: create = true is only supported for encryption.key"]
        );
        assert_eq!(
            shape(r#"{ env = "A", create = true }"#, true).1,
            vec!["x.create: create = true needs file, not env"]
        );
    }
}
