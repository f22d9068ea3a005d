//! Values parsed once, at the edge (a form, the CLI, an upstream's claims), so the rules about
//! them live in one place and the rest of the code never re-checks them.
use crate::secret::Secret;

/// A local username: case-insensitive (stored lower-case), 1-64 of `a-z 0-9 . _ - @`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// The characters a username may use (after lower-casing).
    pub fn allowed(c: char) -> bool {
        c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(c)
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        let u = normalize_username(raw);
        if !u.is_empty() && u.len() <= 64 && u.chars().all(Self::allowed) {
            Ok(Self(u))
        } else {
            Err(format!(
                "username {raw:?}: use 1-64 characters from a-z, 0-9, '.', '_', '-' and '@'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client identifier an administrator chooses (`[[clients]]`). RFC 6749 A.1 allows any
/// printable ASCII; Lanyard takes 1-128 characters of the URL-safe set, so it can stand in URLs, Basic credentials (RFC 6749 2.3.1) and log lines
/// unescaped. (Registered clients get random ids of that set.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let ok = (1..=128).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._~-".contains(c));
        match ok {
            true => Ok(Self(raw.to_string())),
            false => Err("must be 1-128 characters of A-Z a-z 0-9 . _ ~ -"),
        }
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Usernames are compared case-insensitively: stored and looked up in lower case. (For what a
/// user types at sign-in, which may not even be a valid username.)
pub fn normalize_username(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// The password policy: at least `MIN` characters (NIST SP 800-63B 5.1.1.2 asks for 8 when
/// chosen by the user), at most `MAX` bytes (argon2 takes any length; this bounds the work an
/// attacker can ask for).
#[derive(Debug)]
pub struct NewPassword(Secret<String>);

impl NewPassword {
    pub const MIN: usize = 8;
    pub const MAX: usize = 1024;

    pub fn parse(raw: String) -> Result<Self, PasswordProblem> {
        if raw.chars().count() < Self::MIN {
            return Err(PasswordProblem::TooShort);
        }
        if raw.len() > Self::MAX {
            return Err(PasswordProblem::TooLong);
        }
        Ok(Self(Secret::new(raw)))
    }

    pub fn into_secret(self) -> Secret<String> {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
}

impl std::fmt::Display for PasswordProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooShort => write!(f, "must be at least {} characters", NewPassword::MIN),
            Self::TooLong => write!(f, "must be at most {} bytes", NewPassword::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_case_and_from_a_small_alphabet() {
        assert_eq!(Username::parse(" Ada.L@X ").unwrap().as_str(), "ada.l@x");
        for bad in ["", "a b", "ädä", &"a".repeat(65), "semi;colon"] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn client_ids_are_url_safe() {
        assert!(ClientId::parse("web-app_1.x~").is_ok());
        for bad in ["", "a b", "a:b", "é", &"a".repeat(129)] {
            assert!(ClientId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_password_policy_bounds_both_ends() {
        assert_eq!(
            NewPassword::parse("short".into()).unwrap_err(),
            PasswordProblem::TooShort
        );
        assert_eq!(
            NewPassword::parse("x".repeat(1025)).unwrap_err(),
            PasswordProblem::TooLong
        );
        assert!(NewPassword::parse("eight ch".into()).is_ok());
        assert!(
            NewPassword::parse("ääääääää".into()).is_ok(),
            "characters, not bytes"
        );
    }
}
