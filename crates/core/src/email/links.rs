//! Single-use links sent by mail: what each is for and how long it lives.
use chrono::Duration;

use crate::secret::{Secret, random_token, sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Confirms an address (after `user add`, on request, or a change of address).
    Verify,
    /// Sets a new password after "Forgot password?".
    Reset,
    /// Sets the first password of an invited account.
    Invite,
    /// Creates a self-registered account once its address is confirmed.
    Signup,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
            Self::Invite => "invite",
            Self::Signup => "signup",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Verify, Self::Reset, Self::Invite, Self::Signup]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    /// How long a link stays valid: a reset is short (it grants the account), an invitation
    /// long enough to reach someone who is away.
    pub fn lifetime(self) -> Duration {
        match self {
            Self::Verify | Self::Signup => Duration::hours(24),
            Self::Reset => Duration::minutes(30),
            Self::Invite => Duration::days(7),
        }
    }

    /// The page the link opens.
    pub fn path(self) -> &'static str {
        match self {
            Self::Verify => "/email/verify",
            Self::Reset => "/password/reset",
            Self::Invite => "/invite",
            Self::Signup => "/signup/confirm",
        }
    }
}

/// A new link token and the hash that is stored.
pub fn new_link_token() -> (Secret<String>, Vec<u8>) {
    let token = random_token();
    let hash = sha256(token.as_bytes()).to_vec();
    (Secret::new(token), hash)
}
