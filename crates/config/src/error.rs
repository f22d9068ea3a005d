//! Config problems: every one found is collected with the key path it concerns, so a bad file is
//! fixed in one pass instead of one error per restart.
use std::fmt;

/// One thing wrong with the configuration, e.g. `clients[2].redirect_uris[0]: must be https, or
/// http on a loopback host`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigProblem {
    /// Dotted key path (`sessions.idle_timeout`, `clients[0].secret`), or a position in the file
    /// for syntax errors (`line 3, column 7`). Never contains a secret value.
    pub path: String,
    pub message: String,
}

/// Every problem found while loading; `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl ConfigErrors {
    pub(crate) fn one(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![ConfigProblem {
            path: path.into(),
            message: message.into(),
        }])
    }

    pub fn problems(&self) -> &[ConfigProblem] {
        &self.0
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The collector every stage of loading writes into.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<ConfigProblem>);

impl Problems {
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut ConfigProblem> {
        self.0.iter_mut()
    }

    pub(crate) fn into_errors(self) -> ConfigErrors {
        ConfigErrors(self.0)
    }
}
