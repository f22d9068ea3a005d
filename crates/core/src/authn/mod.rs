//! Authentication of end users: the login state machine and one verifier per factor.
pub mod password;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// RFC 8176 / DESIGN §2: authentication context class references Lanyard asserts.
pub const ACR_PWD: &str = "urn:lanyard:acr:pwd";
pub const ACR_MFA: &str = "urn:lanyard:acr:mfa";

/// A completed authentication, held server-side in the browser session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticated {
    pub user_id: Uuid,
    /// Public session identifier (the `sid` claim, OIDC Front/Back-Channel Logout).
    pub sid: String,
    pub auth_time: DateTime<Utc>,
    /// RFC 8176 method references, e.g. ["pwd"].
    pub amr: Vec<String>,
    pub acr: String,
}

/// Where a login stands. Each step is consumed to produce the next, so a later factor cannot be
/// presented before an earlier one succeeded; the browser never carries a factor's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginStep {
    Password,
    Done(Authenticated),
}

/// Why a login attempt failed. The page shows the same words for every credential failure, so
/// it never reveals which half was wrong or whether the user exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    BadCredentials,
    Disabled,
}

impl LoginFailure {
    pub fn message(self) -> &'static str {
        match self {
            Self::BadCredentials => "Incorrect username or password.",
            Self::Disabled => "This account is disabled. Contact your administrator.",
        }
    }
}
